/**
 * Liveness (PROTOCOL.md §8.4, §9): a peer that implements only §1–§7 keeps working with the default
 * client, however slow its answer; natsmesh instances that die or freeze are still found and their
 * idempotent requests sent elsewhere; a request that waited in a frozen instance runs only if its
 * caller is still there. (The server's pings and the lagging loop: liveness-lag.test.ts.)
 */
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createFetch, InstanceLostError, type MeshFetch } from "../src/index.js";
import { readRequest } from "../src/internal.js";
import { type ChildInstance, startChildInstance } from "./support/child-instance.js";
import { type NatsFixture, natsFixture } from "./support/helpers.js";
import { steadyLoad } from "./support/load.js";
import { check } from "./support/nats-server.js";

const enc = new TextEncoder();

/** A kind-2 answer laid out by hand, as a peer written from PROTOCOL.md §2–§3 would. */
function plainAnswer(status: string, headers: string, body: string): Uint8Array {
  const head = enc.encode(`${status}\n${headers}`);
  const bytes = enc.encode(body);
  const out = Buffer.alloc(8 + head.byteLength + bytes.byteLength);
  out.write("NM", 0);
  out[2] = 1;
  out[3] = 2;
  out.writeUInt32BE(head.byteLength, 4);
  out.set(head, 8);
  out.set(bytes, 8 + head.byteLength);
  return out;
}

/** What a plain peer received: the message kind and, for kind 1, the request. */
interface Received {
  kind: number;
  path: string;
  body: string;
}

describe("liveness - a plain peer (§1–§7 only, PROTOCOL.md §9)", () => {
  let nats: NatsFixture;
  let peer: NatsConnection;
  const received: Received[] = [];
  beforeAll(async () => {
    nats = await natsFixture();
    peer = await nats.connect();
    // One message in, one message out: no heartbeat, no acknowledgement, no streamed body.
    peer.subscribe("mesh.plain.*", {
      queue: "plain",
      callback: (_err: Error | null, m: Msg) => {
        const kind = m.data[3] ?? 0;
        const req = readRequest(m.data);
        if (kind !== 1 || typeof req === "string") {
          received.push({ kind, path: "", body: "" });
          m.respond(plainAnswer("400 Bad Request", "", "plain peers read kind 1 only"));
          return;
        }
        received.push({ kind, path: req.path, body: Buffer.from(req.body).toString() });
        const ms = Number(new URL(req.path, "http://x").searchParams.get("ms") ?? 0);
        setTimeout(
          () => m.respond(plainAnswer("200 OK", "content-type: text/plain\n", `done ${req.path}`)),
          ms,
        );
      },
    });
    await peer.flush();
  });
  afterEach(() => {
    received.length = 0;
  });
  afterAll(async () => {
    await nats?.[Symbol.asyncDispose]();
  });

  it("liveness - a plain peer answering a GET after 3.5 s: the default client gets the answer, and the peer ran it once", async () => {
    const fetch = createFetch({ nc: nats.nc });
    // A first fast call: nothing in it teaches the client that the service speaks §8.
    expect((await fetch("http://plain/fast")).status).toBe(200);
    const res = await fetch("http://plain/slow?ms=3500");
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("done /slow?ms=3500");
    expect(received.filter((r) => r.path === "/slow?ms=3500")).toHaveLength(1);
  });

  it("liveness - a small ReadableStream body reaches a plain peer as one message (kind 1), byte-exact", async () => {
    const fetch = createFetch({ nc: nats.nc });
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(enc.encode("8 bytes!"));
        c.enqueue(enc.encode(" and more"));
        c.close();
      },
    });
    const res = await fetch("http://plain/upload", { method: "POST", body, duplex: "half" } as RequestInit);
    expect(res.status).toBe(200);
    expect(received).toEqual([{ kind: 1, path: "/upload", body: "8 bytes! and more" }]);
  });

  it("liveness - a stream body larger than one message still streams (kind 7)", async () => {
    const fetch = createFetch({ nc: nats.nc, timeout: 5000, retry: false });
    const big = new Uint8Array((nats.nc.info?.max_payload ?? 1 << 20) + 1);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(big);
        c.close();
      },
    });
    const res = await fetch("http://plain/upload", { method: "POST", body, duplex: "half" } as RequestInit);
    // The plain peer cannot read it and says so; what matters is the kind it was sent as.
    expect(res.status).toBe(400);
    expect(received.map((r) => r.kind)).toEqual([7]);
  });
});

describe("liveness - natsmesh instances that die or freeze", () => {
  let nats: NatsFixture;
  let fetch: MeshFetch;
  const children: ChildInstance[] = [];
  beforeAll(async () => {
    nats = await natsFixture();
    fetch = createFetch({ nc: nats.nc, timeout: 20_000 });
  });
  afterEach(async () => {
    for (const c of children.splice(0)) {
      c.process.kill("SIGCONT");
      await c.kill();
    }
  });
  afterAll(async () => {
    await nats?.[Symbol.asyncDispose]();
  });

  async function pair(service: string): Promise<[ChildInstance, ChildInstance]> {
    const a = await startChildInstance(service, "a", nats.server.url);
    const b = await startChildInstance(service, "b", nats.server.url);
    children.push(a, b);
    // Both answer (and the client has learnt the service speaks §8 from their answers).
    const seen = new Set<string>();
    await check(
      async () => {
        seen.add(await (await fetch(`http://${service}/whoami`)).text());
        return seen.size === 2;
      },
      10_000,
      { name: "both instances answer" },
    );
    return [a, b];
  }

  for (const signal of ["SIGSTOP", "SIGKILL"] as const) {
    it(`liveness - ${signal} of one of two instances under a steady load of GETs: every call succeeds, the other instance answers`, async () => {
      const [a] = await pair(`pair-${signal.toLowerCase()}`);
      const load = steadyLoad(fetch, `http://pair-${signal.toLowerCase()}/whoami`, {
        header: "mesh-instance",
      });
      await load.successes(20);
      a.process.kill(signal);
      await load.successes(100, 40_000);
      const byB = load.result.by.get(children[1]!.instance) ?? 0;
      const result = await load.stop();
      expect(result.failures).toEqual([]);
      expect(byB).toBeGreaterThan(100);
    }, 90_000);
  }

  it("liveness - a POST sent to a frozen instance: 503 NM_ERR_INSTANCE_LOST, and the instance does not run it when it resumes", async () => {
    const only = await startChildInstance("frozen-post", "only", nats.server.url, { TRACE: "1" });
    children.push(only);
    const ran: string[] = [];
    only.process.stdout!.on("data", (c: Buffer) => {
      for (const line of c.toString().split("\n")) if (line.startsWith("ran ")) ran.push(line);
    });
    // The freeze lasts at least the caller's 2 × 400 ms of silence: past the instance's default lag
    // threshold (500 ms), so that on resuming it knows it was stalled.
    const post = createFetch({ nc: nats.nc, timeout: 20_000, heartbeat: 400 });
    expect((await post("http://frozen-post/whoami")).status).toBe(200);
    only.process.kill("SIGSTOP");
    const err = await post("http://frozen-post/echo", { method: "POST", body: "once" }).catch((e) => e);
    expect(err).toBeInstanceOf(InstanceLostError);
    expect(err).toMatchObject({ code: "NM_ERR_INSTANCE_LOST", status: 503 });
    only.process.kill("SIGCONT");
    // The request waited in the stopped process; on resuming, the instance holds it for its
    // caller's confirmation, and the caller (gone) answers with an abort: counted cancelled, not run.
    const stats = await check(
      async () => {
        const s = (await (await post("http://frozen-post/stats")).json()) as { cancelled: number };
        return s.cancelled >= 1 ? s : undefined;
      },
      10_000,
      { name: "the resumed instance cancelled the POST" },
    );
    expect(stats?.cancelled).toBe(1);
    expect(ran.filter((l) => l.startsWith("ran POST"))).toEqual([]);
  }, 60_000);
});
