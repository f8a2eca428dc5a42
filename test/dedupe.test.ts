/**
 * Deduplication of keyed requests (issue #23 item 3, docs/TRAFFIC.md §8): with `serve({ dedupe })`
 * a request with an `Idempotency-Key` runs once per key and service over every instance; repeats get
 * the kept answer (`idempotent-replayed: true`), a key reused for another request 422, a store that
 * cannot be reached 503. Real nats-servers with JetStream; executions are counted in the handlers.
 */
import { Kvm } from "@nats-io/kv";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeRecord, fingerprint, RecordState, recordKey } from "../src/dedupe/index.js";
import { createGateway } from "../src/gateway/index.js";
import { createFetch, type MeshFetch, type ServiceHandle, serve } from "../src/index.js";
import { createMetrics } from "../src/metrics/index.js";
import { startChildInstance } from "./support/child-instance.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

/** A Fetch handler that counts its executions and answers with the count and the body it got. */
function counting(): { handler: (req: Request) => Promise<Response>; runs: () => number } {
  let runs = 0;
  return {
    runs: () => runs,
    handler: async (req: Request) => {
      runs++;
      const body = await req.text();
      return new Response(JSON.stringify({ run: runs, body }), {
        status: 201,
        headers: { "content-type": "application/json", "x-run": String(runs) },
      });
    },
  };
}

function post(key: string | undefined, body = "order", path = "/orders"): [string, RequestInit] {
  const headers: Record<string, string> = { "content-type": "text/plain" };
  if (key !== undefined) headers["idempotency-key"] = key;
  return [path, { method: "POST", headers, body }];
}

/** The `natsmesh_service_dedupe_total` series of `service` in `text`, by outcome. */
function outcomes(text: string, service: string): Record<string, number> {
  const found: Record<string, number> = {};
  const re = new RegExp(
    `^natsmesh_service_dedupe_total\\{service="${service}",outcome="([a-z_]+)"\\} (\\d+)$`,
    "gm",
  );
  for (const m of text.matchAll(re)) found[m[1]!] = Number(m[2]);
  return found;
}

describe("dedupe - with JetStream", () => {
  let nats: NatsFixture;
  let fetch: MeshFetch;
  const services: ServiceHandle[] = [];
  const call = (service: string, [path, init]: [string, RequestInit]) =>
    fetch(`http://${service}${path}`, init);

  beforeAll(async () => {
    nats = await natsFixture({ jetstream: true });
    fetch = createFetch({ nc: nats.nc, timeout: 10_000 });
  });
  afterAll(async () => {
    for (const s of services) await s.stop({ timeout: 1000 });
    await nats?.[Symbol.asyncDispose]();
  });

  async function start(
    service: string,
    handler: (req: Request) => Promise<Response>,
    dedupe: Parameters<typeof serve>[1]["dedupe"] = true,
    extra: Partial<Parameters<typeof serve>[1]> = {},
  ): Promise<ServiceHandle> {
    const svc = await serve(handler, {
      service,
      nc: nats.nc,
      logger: silent,
      dedupe,
      metrics: false,
      ...extra,
    });
    services.push(svc);
    return svc;
  }

  it("dedupe - a repeat gets the kept answer, marked idempotent-replayed, without running the handler", async () => {
    const registry = new Registry();
    const c = counting();
    await start("dd-replay", c.handler, true, { metrics: createMetrics({ registry }) });
    const first = await call("dd-replay", post("k-1"));
    expect(first.status).toBe(201);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    const firstBody = await first.text();
    const again = await call("dd-replay", post("k-1"));
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.headers.get("x-run")).toBe("1");
    expect(again.headers.get("content-type")).toBe("application/json");
    expect(await again.text()).toBe(firstBody);
    expect(c.runs()).toBe(1);
    // Without a key, or with another key, the handler runs each time.
    await (await call("dd-replay", post(undefined))).text();
    await (await call("dd-replay", post(undefined))).text();
    await (await call("dd-replay", post("k-2"))).text();
    expect(c.runs()).toBe(4);
    // Idempotent methods are not deduplicated: a PUT with a key runs each time.
    const put: RequestInit = { ...post("k-3")[1], method: "PUT" };
    for (const run of ["5", "6"])
      expect((await call("dd-replay", ["/orders", put])).headers.get("x-run")).toBe(run);
    const counted = outcomes(await registry.metrics(), "dd-replay");
    expect(counted).toEqual({ executed: 2, replayed: 1 });
  });

  it("dedupe - concurrent repeats run the handler once; each waits for the first and gets its answer", async () => {
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const svc = await start("dd-concurrent", async () => {
      runs++;
      await gate;
      return new Response(`done ${runs}`);
    });
    const answers = Array.from({ length: 5 }, () => call("dd-concurrent", post("same")));
    // Five in the instance and the handler started once (a claim takes a JetStream round trip).
    await check(() => runs === 1 && svc.stats().inFlight === 5, 5000, {
      name: "five in flight, one running",
    });
    release();
    const done = await Promise.all(answers);
    expect(await Promise.all(done.map((r) => r.text()))).toEqual(Array(5).fill("done 1"));
    expect(done.filter((r) => r.headers.get("idempotent-replayed") === "true")).toHaveLength(4);
    expect(runs).toBe(1);
  });

  it("dedupe - a key reused with another body, path or method is refused 422 NM_ERR_DEDUPE_MISMATCH", async () => {
    const c = counting();
    await start("dd-mismatch", c.handler);
    expect((await call("dd-mismatch", post("m", "a"))).status).toBe(201);
    for (const other of [
      post("m", "b"),
      post("m", "a", "/other"),
      ["/orders", { ...post("m", "a")[1], method: "PATCH" }],
    ] as [string, RequestInit][]) {
      const res = await call("dd-mismatch", other);
      expect(res.status).toBe(422);
      expect(res.headers.get("mesh-error")).toBe("NM_ERR_DEDUPE_MISMATCH");
      expect(await res.json()).toMatchObject({ code: "NM_ERR_DEDUPE_MISMATCH" });
    }
    // The original request still replays.
    const same = await call("dd-mismatch", post("m", "a"));
    expect(same.headers.get("idempotent-replayed")).toBe("true");
    expect(c.runs()).toBe(1);
  });

  it("dedupe - two instances share the store: a repeat on the other instance is replayed", async () => {
    const a = counting();
    const b = counting();
    const ncA = await nats.connect();
    const ncB = await nats.connect();
    const svcA = await serve(a.handler, {
      service: "dd-two",
      nc: ncA,
      logger: silent,
      dedupe: true,
      metrics: false,
    });
    const first = await call("dd-two", post("shared"));
    expect(first.headers.get("mesh-instance")).toBe(svcA.instance);
    await first.text();
    await svcA.stop();
    const svcB = await start("dd-two", b.handler, true, { nc: ncB });
    const again = await call("dd-two", post("shared"));
    expect(again.headers.get("mesh-instance")).toBe(svcB.instance);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await again.json()).toMatchObject({ run: 1, body: "order" });
    expect(a.runs()).toBe(1);
    expect(b.runs()).toBe(0);
  });

  it("dedupe - the same key on two services does not collide: each runs once and replays its own answer", async () => {
    const one = counting();
    const two = counting();
    await start("dd-svc-one", async (req) => {
      await one.handler(req);
      return new Response("one");
    });
    await start("dd-svc-two", async (req) => {
      await two.handler(req);
      return new Response("two");
    });
    for (let i = 0; i < 2; i++) {
      expect(await (await call("dd-svc-one", post("k"))).text()).toBe("one");
      expect(await (await call("dd-svc-two", post("k"))).text()).toBe("two");
    }
    expect([one.runs(), two.runs()]).toEqual([1, 1]);
    expect(recordKey("dd-svc-one", "k")).not.toBe(recordKey("dd-svc-two", "k"));
    // Any string is a valid key: it is hashed.
    expect(recordKey("s", "ü *>. \n")).toMatch(/^s\.[0-9a-f]{64}$/);
  });

  it("dedupe - a handler that throws keeps no answer: a repeat runs it again", async () => {
    let runs = 0;
    await start("dd-throw", async () => {
      runs++;
      if (runs === 1) throw new Error("boom");
      return new Response("ok");
    });
    expect((await call("dd-throw", post("t"))).status).toBe(500);
    const again = await call("dd-throw", post("t"));
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBeNull();
    expect(runs).toBe(2);
    // The answer of the run that did not throw is kept.
    const third = await call("dd-throw", post("t"));
    expect(third.headers.get("idempotent-replayed")).toBe("true");
    expect(runs).toBe(2);
  });

  it("dedupe - an answer larger than maxAnswer reaches its caller; a repeat gets 409 NM_ERR_DEDUPE_NOT_KEPT, not a second run", async () => {
    let runs = 0;
    const big = "x".repeat(2000);
    await start(
      "dd-big",
      async () => {
        runs++;
        return new Response(big);
      },
      { maxAnswer: 1000 },
    );
    expect(await (await call("dd-big", post("b"))).text()).toBe(big);
    const again = await call("dd-big", post("b"));
    expect(again.status).toBe(409);
    expect(again.headers.get("mesh-error")).toBe("NM_ERR_DEDUPE_NOT_KEPT");
    expect(await again.text()).toMatch(/larger than the service keeps \(1000 bytes\)/);
    expect(runs).toBe(1);
  });

  it("dedupe - a streamed answer within maxAnswer is kept and replayed", async () => {
    let runs = 0;
    await start("dd-stream", async () => {
      runs++;
      const parts = ["a", "b", "c"];
      return new Response(
        new ReadableStream<Uint8Array>({
          pull(c) {
            const p = parts.shift();
            if (p === undefined) c.close();
            else c.enqueue(new TextEncoder().encode(p));
          },
        }),
      );
    });
    expect(await (await call("dd-stream", post("s"))).text()).toBe("abc");
    const again = await call("dd-stream", post("s"));
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await again.text()).toBe("abc");
    expect(runs).toBe(1);
  });

  it("dedupe - a handler running longer than the lease keeps its key: the renewals hold off a waiting repeat", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let runs = 0;
    const svc = await start(
      "dd-renew",
      async () => {
        runs++;
        await gate;
        return new Response(`run ${runs}`);
      },
      { lease: 150 },
    );
    const first = call("dd-renew", post("r"));
    await check(() => runs === 1, 5000, { name: "the first runs" });
    const repeat = call("dd-renew", post("r"));
    await check(() => svc.stats().inFlight === 2, 5000, { name: "the repeat waits" });
    // Five leases pass while the first runs: without renewals the repeat would take the key over.
    const kv = await new Kvm(nats.nc).open("natsmesh-dedupe");
    const key = recordKey("dd-renew", "r");
    const before = (await kv.get(key))!.revision;
    await check(async () => (await kv.get(key))!.revision >= before + 5, 10_000, { name: "five renewals" });
    expect(runs).toBe(1);
    release();
    expect(await (await first).text()).toBe("run 1");
    const replayed = await repeat;
    expect(replayed.headers.get("idempotent-replayed")).toBe("true");
    expect(await replayed.text()).toBe("run 1");
    expect(runs).toBe(1);
  });

  it("dedupe - wait: 0 answers a repeat 409 NM_ERR_DEDUPE_IN_PROGRESS while the first still runs", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let runs = 0;
    const svc = await start(
      "dd-busy",
      async () => {
        runs++;
        await gate;
        return new Response("first");
      },
      { wait: 0 },
    );
    const first = call("dd-busy", post("w"));
    await check(() => svc.stats().inFlight === 1 && runs === 1, 5000, { name: "the first runs" });
    const repeat = await call("dd-busy", post("w"));
    expect(repeat.status).toBe(409);
    expect(repeat.headers.get("mesh-error")).toBe("NM_ERR_DEDUPE_IN_PROGRESS");
    release();
    expect(await (await first).text()).toBe("first");
    expect((await call("dd-busy", post("w"))).headers.get("idempotent-replayed")).toBe("true");
    expect(runs).toBe(1);
  });

  it("dedupe - wait: 0 still frees a dead instance's key: a running record unrenewed for twice the lease is taken over", async () => {
    const kv = await new Kvm(nats.nc).create("natsmesh-dedupe");
    const key = recordKey("dd-stale", "s");
    const [path, init] = post("s");
    // The claim a dead instance left behind, for the same request.
    const fp = fingerprint({ method: "POST", path, headers: [], body: new TextEncoder().encode("order") });
    await kv.put(key, encodeRecord({ state: RecordState.Running, fingerprint: fp, instance: "dead" }));
    const written = (await kv.get(key))!.created.getTime();
    const c = counting();
    await start("dd-stale", c.handler, { wait: 0, lease: 200 });
    await check(() => Date.now() - written >= 400, 5000, { name: "two leases passed" });
    const res = await call("dd-stale", [path, init]);
    expect(res.status).toBe(201);
    expect(c.runs()).toBe(1);
  });

  it("dedupe - a record past the bucket's TTL is gone: the next request with its key runs again", async () => {
    const c = counting();
    await start("dd-ttl", c.handler, { bucket: "dd-ttl", ttl: 500 });
    await (await call("dd-ttl", post("e"))).text();
    const kv = await new Kvm(nats.nc).open("dd-ttl");
    const key = recordKey("dd-ttl", "e");
    expect((await kv.get(key))?.operation).toBe("PUT");
    await check(async () => (await kv.get(key)) === null, 10_000, { name: "the record expired" });
    const again = await call("dd-ttl", post("e"));
    expect(again.headers.get("idempotent-replayed")).toBeNull();
    await again.text();
    expect(c.runs()).toBe(2);
  });

  it("dedupe - a deleted bucket is made again by the next keyed request, which runs once and is replayed after", async () => {
    const c = counting();
    await start("dd-gone", c.handler, { bucket: "dd-gone" });
    await (await call("dd-gone", post("g1"))).text();
    await new Kvm(nats.nc).open("dd-gone").then((kv) => kv.destroy());
    // The write meets no stream (no responder): the store opens the bucket again and tries again.
    const next = await call("dd-gone", post("g2"));
    expect(next.status).toBe(201);
    await next.text();
    expect(c.runs()).toBe(2);
    expect(
      (await new Kvm(nats.nc).open("dd-gone").then((kv) => kv.get(recordKey("dd-gone", "g2"))))?.operation,
    ).toBe("PUT");
    const again = await call("dd-gone", post("g2"));
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    await again.text();
    expect(c.runs()).toBe(2);
  });

  it("dedupe - a full bucket: new keys get 503 NM_ERR_DEDUPE_UNAVAILABLE at once (not retried), unrun", async () => {
    const c = counting();
    // A retry window past the caller's 10 s timeout: a retried write would answer 504, not 503.
    await start("dd-full", c.handler, { bucket: "dd-full", maxBytes: 1024, storeRetry: 60_000 });
    const statuses: number[] = [];
    for (let i = 0; i < 20 && !statuses.includes(503); i++) {
      const res = await call("dd-full", post(`full-${i}`));
      statuses.push(res.status);
      if (res.status === 503) expect(res.headers.get("mesh-error")).toBe("NM_ERR_DEDUPE_UNAVAILABLE");
      await res.text();
    }
    expect(statuses).toContain(503);
    expect(statuses.filter((s) => s !== 201 && s !== 503)).toEqual([]);
    expect(c.runs()).toBe(statuses.filter((s) => s === 201).length);
  });

  it("dedupe - through the gateway: the key and the replay header pass unchanged", async () => {
    const c = counting();
    await start("dd-gw", c.handler);
    await using gateway = createGateway({ listen: "127.0.0.1:0", nc: nats.nc, logger: silent });
    const { url } = await gateway.listen();
    const send = () =>
      globalThis.fetch(`${url}/dd-gw/orders`, {
        method: "POST",
        headers: { "idempotency-key": "via-gateway" },
        body: "order",
      });
    const first = await send();
    expect(first.status).toBe(201);
    const body = await first.text();
    const again = await send();
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await again.text()).toBe(body);
    expect(c.runs()).toBe(1);
  });

  it("dedupe - an instance killed mid-execution: a repeat waits out the lease, then runs the request once", async () => {
    const registry = new Registry();
    const child = await startChildInstance("dd-killed", "child", nats.server.url, { NATSMESH_DEDUPE: "1" });
    const kv = await new Kvm(nats.nc).create("natsmesh-dedupe");
    const key = recordKey("dd-killed", "kill");
    const once = createFetch({ nc: nats.nc, timeout: 10_000, retry: false });
    const lost = once("http://dd-killed/slow?ms=60000", post("kill", "order")[1]).catch((e: unknown) => e);
    await check(async () => (await kv.get(key))?.operation === "PUT", 5000, {
      name: "the child claimed the key",
    });
    await child.kill("SIGKILL");
    expect(await lost).toBeInstanceOf(Error);
    let runs = 0;
    await start(
      "dd-killed",
      async () => {
        runs++;
        return new Response("ran here");
      },
      { lease: 300 },
      { metrics: createMetrics({ registry }) },
    );
    const repeat = await call("dd-killed", ["/slow?ms=60000", post("kill", "order")[1]]);
    expect(await repeat.text()).toBe("ran here");
    expect(runs).toBe(1);
    expect(outcomes(await registry.metrics(), "dd-killed")).toEqual({ executed: 1, takeover: 1 });
    const again = await call("dd-killed", ["/slow?ms=60000", post("kill", "order")[1]]);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(runs).toBe(1);
  });
});

describe("dedupe - without JetStream", () => {
  let nats: NatsFixture;
  let fetch: MeshFetch;
  const services: ServiceHandle[] = [];

  beforeAll(async () => {
    nats = await natsFixture();
    fetch = createFetch({ nc: nats.nc, timeout: 10_000 });
  });
  afterAll(async () => {
    for (const s of services) await s.stop({ timeout: 1000 });
    await nats?.[Symbol.asyncDispose]();
  });

  it("dedupe - keyed requests get 503 NM_ERR_DEDUPE_UNAVAILABLE without running; others are served; counted", async () => {
    const registry = new Registry();
    const c = counting();
    services.push(
      await serve(c.handler, {
        service: "dd-nojs",
        nc: nats.nc,
        logger: silent,
        dedupe: true,
        metrics: createMetrics({ registry }),
      }),
    );
    const [path, init] = post("k");
    const refused = await fetch(`http://dd-nojs${path}`, init);
    expect(refused.status).toBe(503);
    expect(refused.headers.get("mesh-error")).toBe("NM_ERR_DEDUPE_UNAVAILABLE");
    expect(c.runs()).toBe(0);
    const plain = await fetch(`http://dd-nojs${path}`, post(undefined)[1]);
    expect(plain.status).toBe(201);
    expect(c.runs()).toBe(1);
    expect(outcomes(await registry.metrics(), "dd-nojs")).toEqual({ store_error: 1 });
  });

  it("dedupe - unavailable: 'run' falls back to at-least-once: the request runs, logged and counted as fallback", async () => {
    const registry = new Registry();
    const c = counting();
    services.push(
      await serve(c.handler, {
        service: "dd-fallback",
        nc: nats.nc,
        logger: silent,
        dedupe: { unavailable: "run" },
        metrics: createMetrics({ registry }),
      }),
    );
    const [path, init] = post("k");
    expect((await fetch(`http://dd-fallback${path}`, init)).status).toBe(201);
    expect((await fetch(`http://dd-fallback${path}`, init)).status).toBe(201);
    expect(c.runs()).toBe(2);
    expect(outcomes(await registry.metrics(), "dd-fallback")).toEqual({ store_error: 2, fallback: 2 });
  });

  it("dedupe - settings: NATSMESH_DEDUPE and bad options are checked when serve() starts", async () => {
    const saved = process.env.NATSMESH_DEDUPE;
    try {
      process.env.NATSMESH_DEDUPE = "maybe";
      await expect(
        serve(counting().handler, { service: "dd-env", nc: nats.nc, logger: silent }),
      ).rejects.toThrow(/NATSMESH_DEDUPE/);
      process.env.NATSMESH_DEDUPE = "on";
      const svc = await serve(counting().handler, {
        service: "dd-env",
        nc: nats.nc,
        logger: silent,
        metrics: false,
      });
      services.push(svc);
      // On from the environment: without JetStream a keyed request is refused.
      expect((await fetch("http://dd-env/orders", post("k")[1])).status).toBe(503);
    } finally {
      if (saved === undefined) delete process.env.NATSMESH_DEDUPE;
      else process.env.NATSMESH_DEDUPE = saved;
    }
    for (const bad of [
      { lease: 0 },
      { wait: -1 },
      { replicas: 0 },
      { bucket: "a.b" },
      { unavailable: "maybe" as "run" },
    ]) {
      await expect(
        serve(counting().handler, { service: "dd-bad", nc: nats.nc, logger: silent, dedupe: bad }),
      ).rejects.toThrow(RangeError);
    }
  });
});
