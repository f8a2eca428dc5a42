/**
 * Durable requests (issue #22, PROTOCOL.md §13): stored in the service's JetStream stream, worked by
 * `serve({ durable })` under its concurrency limit, answers and dead letters kept in KV. Real
 * nats-servers with JetStream (and one without); executions are counted in the handlers.
 */
import { Buffer } from "node:buffer";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable, Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RequestsAction, type RequestsOptions, runRequests } from "../src/cli/requests.js";
import {
  DEFAULT_BUCKET,
  DurableState,
  type DurableStatus,
  DurableStore,
  streamName,
} from "../src/durable/index.js";
import { createGateway } from "../src/gateway/index.js";
import { createFetch, MeshError, type ServiceHandle, serve } from "../src/index.js";
import type { WireRequest } from "../src/protocol/index.js";
import { startChildInstance } from "./support/child-instance.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

const PREFIX = "mesh";

function post(path: string, body = "order", headers: string[] = []): WireRequest {
  return {
    method: "POST",
    path,
    headers: ["content-type", "text/plain", ...headers],
    body: Buffer.from(body),
  };
}

/** A Fetch handler counting its runs: `/throw` throws, anything else answers 201 with run and body. */
function counting(): { handler: (req: Request) => Promise<Response>; runs: () => number } {
  let runs = 0;
  return {
    runs: () => runs,
    handler: async (req: Request) => {
      runs++;
      if (new URL(req.url).pathname === "/throw") throw new Error("always fails");
      const body = await req.text();
      return new Response(JSON.stringify({ run: runs, body }), {
        status: 201,
        headers: { "content-type": "application/json" },
      });
    },
  };
}

describe("durable - with JetStream", () => {
  let nats: NatsFixture;
  let store: DurableStore;
  const services: ServiceHandle[] = [];

  beforeAll(async () => {
    // Reconnects at once after the nats-server restart.
    nats = await natsFixture({ jetstream: true }, { reconnectTimeWait: 50 });
    store = new DurableStore(nats.nc, PREFIX);
  });
  afterAll(async () => {
    for (const s of services) await s.stop({ timeout: 1000 });
    await nats?.[Symbol.asyncDispose]();
  });

  /** Waits until request `id` of `service` is in `state`, and returns what is known of it. */
  async function until(service: string, id: string, state: DurableState, ms = 5000): Promise<DurableStatus> {
    const found = await check(
      async () => {
        const s = await store.lookup(service, id);
        return s?.state === state ? s : undefined;
      },
      ms,
      { name: `request ${id} of ${service} ${state}` },
    );
    return found!;
  }

  /** Runs `natsmesh requests <action>` in this process; its exit code and stdout. */
  async function cli(
    action: RequestsAction,
    service: string,
    ids: string[],
    options: Partial<RequestsOptions> = {},
  ): Promise<{ code: number; out: string }> {
    let out = "";
    const sink = (text: (s: string) => void) =>
      new Writable({
        write(chunk, _enc, done) {
          text(chunk.toString());
          done();
        },
      });
    const io = {
      stdout: sink((s) => {
        out += s;
      }),
      stderr: sink(() => undefined),
      stdin: Readable.from([]),
      env: { NATS_URL: nats.server.url },
    };
    const code = await runRequests(action, service, ids, { bucket: DEFAULT_BUCKET, ...options }, io);
    return { code, out };
  }

  async function start(
    service: string,
    handler: (req: Request) => Promise<Response>,
    durable: Parameters<typeof serve>[1]["durable"] = true,
  ): Promise<ServiceHandle> {
    const svc = await serve(handler, { service, nc: nats.nc, logger: silent, metrics: false, durable });
    services.push(svc);
    return svc;
  }

  it("durable - a request is worked once and its answer kept; the same Idempotency-Key names the same request", async () => {
    const c = counting();
    await start("orders", c.handler);
    const first = await store.submit("orders", post("/orders", "one", ["idempotency-key", "k-1"]), "k-1");
    expect(first).toMatchObject({ state: DurableState.Queued, duplicate: false });
    const done = await until("orders", first.id, DurableState.Done);
    expect(done.attempts).toBe(1);
    expect(done.record?.answer?.status).toBe(201);
    expect(JSON.parse(Buffer.from(done.record!.answer!.body).toString())).toEqual({ run: 1, body: "one" });
    const again = await store.submit("orders", post("/orders", "one", ["idempotency-key", "k-1"]), "k-1");
    expect(again).toEqual({ id: first.id, state: DurableState.Done, duplicate: true });
    const reused = await store.submit("orders", post("/orders", "not one"), "k-1").catch((e: unknown) => e);
    expect(reused).toMatchObject({ code: "NM_ERR_DURABLE_MISMATCH", status: 422 });
    const other = await store.submit("orders", post("/orders", "two"));
    expect(other.id).not.toBe(first.id);
    await check(async () => (await store.lookup("orders", other.id))?.state === DurableState.Done, 5000, {
      name: "the second request is answered",
    });
    expect(c.runs()).toBe(2);
  });

  it("durable - a request waits in the stream (queued) until an instance works it, also across a nats-server killed and restarted", async () => {
    const c = counting();
    // The stream and consumer exist once an instance started; then no instance runs.
    await (await start("parcels", c.handler)).stop({ timeout: 1000 });
    const { id } = await store.submit("parcels", post("/parcels", "p"), "p-1");
    expect(await store.lookup("parcels", id)).toMatchObject({ state: DurableState.Queued, attempts: 0 });
    // A repeat of the key while the request waits: the same id, or 422 for another body.
    expect(await store.submit("parcels", post("/parcels", "p"), "p-1")).toEqual({
      id,
      state: DurableState.Queued,
      duplicate: true,
    });
    const reused = await store.submit("parcels", post("/parcels", "q"), "p-1").catch((e: unknown) => e);
    expect(reused).toMatchObject({ code: "NM_ERR_DURABLE_MISMATCH", status: 422 });
    // Killed (no clean shutdown), then started again on the same store.
    const reconnected = (async () => {
      for await (const s of nats.nc.status()) if (s.type === "reconnect") return;
    })();
    await nats.server.kill("SIGKILL");
    await nats.server.restart();
    await reconnected;
    expect(await store.lookup("parcels", id)).toMatchObject({ state: DurableState.Queued, attempts: 0 });
    await start("parcels", c.handler);
    await check(async () => (await store.lookup("parcels", id))?.state === DurableState.Done, 10_000, {
      name: "worked after the restart",
    });
    expect(c.runs()).toBe(1);
  });

  it("durable - a handler that always throws ends in a dead letter after maxDeliveries, with the last error", async () => {
    const c = counting();
    await start("poison", c.handler, { maxDeliveries: 3, backoff: [20] });
    const { id } = await store.submit("poison", post("/throw"));
    const dead = await until("poison", id, DurableState.Dead);
    expect(dead.attempts).toBe(3);
    expect(dead.record?.error).toMatch(/^500 NM_ERR_HANDLER/);
    expect(c.runs()).toBe(3);
    const records = await store.records("poison");
    expect(records.map((r) => [r.id, r.state])).toEqual([[id, DurableState.Dead]]);

    // Operators: natsmesh requests ls | get | retry | purge. The dead letter left the stream (term).
    await check(async () => (await store.waiting("poison")) === 0, 2000, { name: "the stream is empty" });
    const ls = await cli("ls", "poison", [], { json: true });
    expect(ls.code).toBe(0);
    expect(JSON.parse(ls.out)).toMatchObject({
      service: "poison",
      waiting: 0,
      records: [{ id, state: "dead" }],
    });
    const get = await cli("get", "poison", [id]);
    expect(JSON.parse(get.out)).toMatchObject({
      id,
      state: "dead",
      attempts: 3,
      method: "POST",
      path: "/throw",
    });
    expect((await cli("get", "poison", ["unknown"])).code).toBe(1);
    const retried = await cli("retry", "poison", [id]);
    expect(retried).toMatchObject({ code: 0, out: `${id} queued again\n` });
    await check(() => c.runs() === 6, 5000, { name: "three more attempts" });
    const again = await until("poison", id, DurableState.Dead);
    expect(again.attempts).toBe(3);
    const purged = await cli("purge", "poison", []);
    expect(purged).toMatchObject({ code: 0, out: "1 records purged\n" });
    expect(await store.records("poison")).toEqual([]);
  });

  it("durable - an instance SIGKILLed mid-request loses nothing: another works it after the ack wait, unless its outcome was stored", async () => {
    const child = await startChildInstance("parcels-kill", "a", nats.server.url, {
      DURABLE: JSON.stringify({ ackWait: 1000 }),
      TRACE: "1",
    });
    let ran = 0;
    child.process.stdout!.on("data", (chunk: Buffer) => {
      ran += chunk.toString().split("ran POST /slow").length - 1;
    });
    const { id } = await store.submit("parcels-kill", post("/slow?ms=60000"));
    const stored = await store.submit("parcels-kill", post("/slow?ms=60001"));
    await check(() => ran === 2, 10_000, { name: "the child runs both requests" });
    expect((await store.lookup("parcels-kill", id))?.state).toBe(DurableState.Running);
    await child.kill("SIGKILL");
    // As if the child had stored the second one's answer and died before its acknowledgement.
    const answer = { status: 200, statusText: "", headers: [], body: Buffer.from("kept") };
    const record = { state: DurableState.Done, attempts: 1, instance: "a", method: "POST", path: "/slow" };
    await store.write("parcels-kill", stored.id, { ...record, updated: new Date().toISOString(), answer });
    const c = counting();
    await start("parcels-kill", c.handler, { ackWait: 1000 });
    const done = await until("parcels-kill", id, DurableState.Done, 10_000);
    expect(done.attempts).toBe(2);
    await check(async () => (await store.waiting("parcels-kill")) === 0, 5000, { name: "both acknowledged" });
    expect(c.runs()).toBe(1);
    const kept = await store.lookup("parcels-kill", stored.id);
    expect(Buffer.from(kept!.record!.answer!.body).toString()).toBe("kept");
  });

  it("durable - createFetch({ durable: true }): Prefer: respond-async gives 202 and a Location the same client reads; init.durable per call", async () => {
    const c = counting();
    await start("kitchen", c.handler);
    const fetch = createFetch({ nc: nats.nc, durable: true });
    const accepted = await fetch("http://kitchen.nats/soup", {
      method: "POST",
      headers: { prefer: "respond-async", "idempotency-key": "soup-1" },
      body: "soup",
    });
    expect(accepted.status).toBe(202);
    expect(accepted.headers.get("preference-applied")).toBe("respond-async");
    const location = accepted.headers.get("location")!;
    expect(location).toMatch(/^http:\/\/kitchen\.nats\/\$requests\/[A-Za-z0-9_-]{43}$/);
    const answer = await check(
      async () => {
        const res = await fetch(location);
        return res.status === 202 ? undefined : res;
      },
      5000,
      { name: "the answer" },
    );
    expect(answer!.status).toBe(201);
    expect(await answer!.json()).toEqual({ run: 1, body: "soup" });
    // Without the client option the header is an ordinary one; init.durable stores anyway.
    const plain = createFetch({ nc: nats.nc });
    const live = await plain("http://kitchen/soup", {
      method: "POST",
      headers: { prefer: "respond-async" },
      body: "now",
    });
    expect(live.status).toBe(201);
    const forced = await plain("http://kitchen/soup", { method: "POST", body: "later", durable: true });
    expect(forced.status).toBe(202);
    expect((await fetch("http://kitchen/$requests/unknown")).status).toBe(404);
  });

  it("durable - the outcome is POSTed to an allowed x-callback-url with the request id, tried again after a failure; other URLs get nothing", async () => {
    const got: Array<{ path: string; headers: IncomingHttpHeaders; body: string }> = [];
    const hooks = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => {
        body += c.toString();
      });
      req.on("end", () => {
        got.push({ path: req.url ?? "", headers: req.headers, body });
        // The first callback fails: it must be tried again.
        res.writeHead(got.length === 1 ? 500 : 204).end();
      });
    });
    await new Promise<void>((resolve) => hooks.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}`;
    try {
      await start("hooked", counting().handler, { callbacks: [`${base}/hooks/`] });
      const other = await store.submit("hooked", post("/a", "a", ["x-callback-url", `${base}/other`]));
      await until("hooked", other.id, DurableState.Done);
      const { id } = await store.submit("hooked", post("/b", "b", ["x-callback-url", `${base}/hooks/b?t=1`]));
      await check(() => got.length === 2, 5000, { name: "the callback, tried twice" });
      expect(got.map((g) => g.path)).toEqual(["/hooks/b?t=1", "/hooks/b?t=1"]);
      expect(got[1]!.headers).toMatchObject({
        "mesh-durable-id": id,
        "mesh-durable-state": "done",
        "mesh-durable-status": "201",
        "content-type": "application/json",
      });
      expect(JSON.parse(got[1]!.body)).toEqual({ run: 2, body: "b" });
    } finally {
      hooks.close();
    }
  });

  it("durable - a body over max_payload is refused (413) before anything is stored", async () => {
    const big = Buffer.alloc((nats.nc.info?.max_payload ?? 1 << 20) + 1);
    const err = await store.submit("orders", { ...post("/orders"), body: big }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "NM_ERR_PAYLOAD_TOO_LARGE", status: 413 });
  });

  it("durable - a full stream refuses new requests with NM_ERR_DURABLE_FULL (503), keeping the old ones", async () => {
    await (await start("full", counting().handler, { maxMessages: 2 })).stop({ timeout: 1000 });
    const kept = [await store.submit("full", post("/a")), await store.submit("full", post("/b"))];
    const err = await store.submit("full", post("/c")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MeshError);
    expect(err).toMatchObject({ code: "NM_ERR_DURABLE_FULL", status: 503 });
    for (const k of kept) expect((await store.lookup("full", k.id))?.state).toBe(DurableState.Queued);
  });

  it("durable - a service no instance works durably: NM_ERR_DURABLE_UNAVAILABLE naming its stream; unknown ids are undefined", async () => {
    const err = await store.submit("nobody", post("/x")).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "NM_ERR_DURABLE_UNAVAILABLE", status: 503 });
    expect((err as Error).message).toContain(streamName(PREFIX, "nobody"));
    expect(await store.lookup("nobody", "no-such-id")).toBeUndefined();
    expect(await store.lookup("orders", "no-such-id")).toBeUndefined();
  });
});

describe("durable - through the gateway", () => {
  let nats: NatsFixture;
  let svc: ServiceHandle;
  let gateway: ReturnType<typeof createGateway>;
  let url: string;
  let runs = 0;

  beforeAll(async () => {
    nats = await natsFixture({ jetstream: true });
    svc = await serve(
      async (req: Request) => {
        runs++;
        return new Response(`made ${await req.text()}`, { status: 201, headers: { "x-made": "yes" } });
      },
      { service: "orders", nc: nats.nc, logger: silent, metrics: false, durable: { maxAnswer: 1024 } },
    );
    gateway = createGateway({
      listen: "127.0.0.1:0",
      nc: nats.nc,
      logger: silent,
      config: {
        defaults: { durable: true, maxBody: 2048 },
        routes: [
          { name: "api", prefix: "/api/orders", strip: true, service: "orders" },
          { name: "live", prefix: "/live", strip: true, service: "orders", durable: false },
        ],
      },
    });
    ({ url } = await gateway.listen());
  });
  afterAll(async () => {
    await gateway?.close();
    await svc?.stop({ timeout: 1000 });
    await nats?.[Symbol.asyncDispose]();
  });

  const submit = (path: string, body: string, headers: Record<string, string> = {}) =>
    globalThis.fetch(`${url}${path}`, {
      method: "POST",
      headers: { prefer: "respond-async, wait=10", ...headers },
      body,
    });

  it("durable - Prefer: respond-async gives 202, Location and Preference-Applied; GET Location gives the answer; the same key the same resource", async () => {
    const accepted = await submit("/api/orders/new", "tea", { "idempotency-key": "gw-1" });
    expect(accepted.status).toBe(202);
    expect(accepted.headers.get("preference-applied")).toBe("respond-async");
    const location = accepted.headers.get("location")!;
    expect(location).toMatch(/^\/api\/orders\/\$requests\/[A-Za-z0-9_-]{43}$/);
    const answer = await check(
      async () => {
        const res = await globalThis.fetch(`${url}${location}`);
        if (res.status === 202) {
          expect(["queued", "running"]).toContain(((await res.json()) as { state: string }).state);
          return undefined;
        }
        return res;
      },
      5000,
      { name: "the answer" },
    );
    expect(answer!.status).toBe(201);
    expect(answer!.headers.get("x-made")).toBe("yes");
    expect(await answer!.text()).toBe("made tea");
    const again = await submit("/api/orders/new", "tea", { "idempotency-key": "gw-1" });
    expect(again.status).toBe(202);
    expect(again.headers.get("location")).toBe(location);
    expect(((await again.json()) as { duplicate: boolean }).duplicate).toBe(true);
    expect(runs).toBe(1);
    // On the default rule the path names the service.
    const viaDefault = await submit("/orders/new", "cake");
    expect(viaDefault.headers.get("location")).toMatch(/^\/orders\/\$requests\//);
  });

  it("durable - without the preference, or on a route without durable, the request is served live", async () => {
    const live = await globalThis.fetch(`${url}/api/orders/new`, { method: "POST", body: "now" });
    expect(live.status).toBe(201);
    expect(await live.text()).toBe("made now");
    const ignored = await submit("/live/new", "now");
    expect(ignored.status).toBe(201);
    expect(ignored.headers.get("preference-applied")).toBeNull();
  });

  it("durable - unknown ids are 404, a body over maxBody 413 before storing, a service without a stream 503", async () => {
    const unknown = await globalThis.fetch(`${url}/api/orders/$requests/nope`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get("mesh-error")).toBe("NM_ERR_DURABLE_NOT_FOUND");
    const before = (await new DurableStore(nats.nc, PREFIX).records("orders")).length;
    const big = await submit("/api/orders/new", "x".repeat(4096));
    expect(big.status).toBe(413);
    const nobody = await submit("/nobody/new", "x");
    expect(nobody.status).toBe(503);
    expect(nobody.headers.get("mesh-error")).toBe("NM_ERR_DURABLE_UNAVAILABLE");
    expect((await new DurableStore(nats.nc, PREFIX).records("orders")).length).toBe(before);
  });

  it("durable - a full stream is 503 with Retry-After, nothing stored; a dead letter's Location is 500 with the last error", async () => {
    const full = await serve(async () => new Response("x"), {
      service: "tight",
      nc: nats.nc,
      logger: silent,
      metrics: false,
      durable: { maxMessages: 1 },
    });
    await full.stop({ timeout: 1000 });
    expect((await submit("/tight/a", "a")).status).toBe(202);
    const refused = await submit("/tight/b", "b");
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("5");
    expect(refused.headers.get("mesh-error")).toBe("NM_ERR_DURABLE_FULL");
    const poison = await serve(
      async () => {
        throw new Error("never works");
      },
      {
        service: "sour",
        nc: nats.nc,
        logger: silent,
        metrics: false,
        durable: { maxDeliveries: 2, backoff: [10] },
      },
    );
    try {
      const location = (await submit("/sour/x", "x")).headers.get("location")!;
      const dead = await check(
        async () => {
          const res = await globalThis.fetch(`${url}${location}`);
          return res.status === 500 ? res : undefined;
        },
        5000,
        { name: "a dead letter" },
      );
      expect(dead!.headers.get("mesh-error")).toBe("NM_ERR_DURABLE_DEAD_LETTER");
      expect(await dead!.json()).toMatchObject({
        attempts: 2,
        lastError: "500 NM_ERR_HANDLER: internal server error",
      });
    } finally {
      await poison.stop({ timeout: 1000 });
    }
  });
});

describe("durable - across accounts", () => {
  let nats: NatsFixture;
  let svc: ServiceHandle | undefined;
  beforeAll(async () => {
    nats = await natsFixture(
      {
        jetstream: true,
        accounts: {
          A: {
            jetstream: "enabled",
            users: [{ user: "a", password: "a" }],
            exports: [{ service: "mesh.orders.>" }],
          },
          B: {
            users: [{ user: "b", password: "b" }],
            imports: [{ service: { account: "A", subject: "mesh.orders.>" } }],
          },
        },
      },
      { user: "a", pass: "a" },
    );
  });
  afterAll(async () => {
    await svc?.stop({ timeout: 1000 });
    await nats?.[Symbol.asyncDispose]();
  });

  it("durable - a caller in another account submits through the import of <prefix>.<service>.> (one reply: a singleton export)", async () => {
    const c = counting();
    svc = await serve(c.handler, {
      service: "orders",
      nc: nats.nc,
      logger: silent,
      metrics: false,
      durable: true,
    });
    const b = await nats.connect({ user: "b", pass: "b" });
    const fromB = new DurableStore(b, PREFIX);
    const first = await fromB.submit("orders", post("/orders", "from b"), "b-1");
    expect(first).toMatchObject({ state: DurableState.Queued, duplicate: false });
    // B cannot read A's JetStream: the repeat is caught by the publish's Nats-Msg-Id.
    expect(await fromB.submit("orders", post("/orders", "from b"), "b-1")).toMatchObject({
      id: first.id,
      duplicate: true,
    });
    const inA = new DurableStore(nats.nc, PREFIX);
    const done = await check(
      async () => {
        const s = await inA.lookup("orders", first.id);
        return s?.state === DurableState.Done ? s : undefined;
      },
      5000,
      { name: "worked in A" },
    );
    expect(JSON.parse(Buffer.from(done!.record!.answer!.body).toString())).toEqual({
      run: 1,
      body: "from b",
    });
    expect(c.runs()).toBe(1);
  });
});

describe("durable - without JetStream", () => {
  let nats: NatsFixture;
  beforeAll(async () => {
    nats = await natsFixture();
  });
  afterAll(async () => {
    await nats?.[Symbol.asyncDispose]();
  });

  it("durable - serve() logs an error naming JetStream and serves live requests; submitting fails naming it", async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: "error" },
      new Writable({
        write(chunk, _enc, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
    const svc = await serve(counting().handler, {
      service: "orders",
      nc: nats.nc,
      logger,
      metrics: false,
      durable: true,
    });
    try {
      expect(lines.join("")).toMatch(/durable requests are off: durable requests need JetStream/);
      const res = await createFetch({ nc: nats.nc })("http://orders/orders", {
        method: "POST",
        body: "live",
      });
      expect(res.status).toBe(201);
      const err = await new DurableStore(nats.nc, PREFIX).submit("orders", post("/orders")).catch((e) => e);
      expect(err).toMatchObject({ code: "NM_ERR_DURABLE_UNAVAILABLE", status: 503 });
      expect((err as Error).message).toMatch(/JetStream/);
    } finally {
      await svc.stop({ timeout: 1000 });
    }
  });
});
