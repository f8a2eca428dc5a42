/**
 * Streamed bodies (PROTOCOL.md §8) on a real nats-server with max_payload 64 KiB, so that large-body
 * cases stay cheap: sizes around max_payload and 50 MB both ways (hashed), bodies of unknown length,
 * events delivered as produced, aborts both ways, a broken stream, a slow reader, an instance killed
 * mid-stream, and an exchange across an account import.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { request as undiciRequest } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createFetch,
  InstanceLostError,
  MeshDispatcher,
  type MeshFetch,
  type ServiceHandle,
  StreamError,
  serve,
} from "../src/index.js";
import { encodeFrame, FrameKind } from "../src/internal.js";
import { awaitAbortHandler } from "./support/abort-waiter.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check, type NatsServer, REPO_ROOT } from "./support/nats-server.js";

const MAX_PAYLOAD = 64 * 1024;
const MB50 = 50 * 1024 * 1024;

/** `n` deterministic bytes, produced in pieces of at most 256 KiB as the reader pulls. */
function generated(n: number, piece = 256 * 1024): ReadableStream<Uint8Array> {
  const block = Buffer.alloc(piece);
  for (let i = 0; i < piece; i++) block[i] = (i * 7) % 251;
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      const take = Math.min(piece, n - sent);
      if (take <= 0) return c.close();
      c.enqueue(take === piece ? Buffer.from(block) : Buffer.from(block.subarray(0, take)));
      sent += take;
    },
  });
}

async function hashOf(
  body: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
): Promise<{ hex: string; size: number }> {
  const h = createHash("sha256");
  let size = 0;
  for await (const c of body as AsyncIterable<Uint8Array>) {
    h.update(c);
    size += c.byteLength;
  }
  return { hex: h.digest("hex"), size };
}

const expectedHash = async (n: number) => hashOf(generated(n));

/** A message laid out by hand (PROTOCOL.md §2): the 8-byte prefix of `kind` and a head, no body. */
function rawHead(kind: number, head: string): Buffer {
  const text = Buffer.from(head);
  const out = Buffer.alloc(8 + text.length);
  out.write("NM", 0);
  out[2] = 1;
  out[3] = kind;
  out.writeUInt32BE(text.length, 4);
  text.copy(out, 8);
  return out;
}

/** The same API as a Fetch handler and as a Node listener. */
const apps = {
  fetch: async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    if (url.pathname === "/hash") {
      // An empty body may come as no body at all (a stream that ended small is sent as one message).
      const { hex, size } = await hashOf(req.body ?? new ReadableStream({ start: (c) => c.close() }));
      return Response.json({ hex, size });
    }
    if (url.pathname === "/gen") return new Response(generated(Number(url.searchParams.get("n"))));
    return new Response("not found", { status: 404 });
  },
  node: async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/hash") {
      const { hex, size } = await hashOf(req);
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ hex, size }));
      return;
    }
    if (url.pathname === "/gen") {
      const reader = generated(Number(url.searchParams.get("n"))).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (!res.write(value)) await new Promise((r) => res.once("drain", r));
      }
      res.end();
      return;
    }
    res.statusCode = 404;
    res.end("not found");
  },
};

for (const kind of ["fetch", "node"] as const) {
  describe(`streaming - ${kind} adapter`, () => {
    let nats: NatsFixture;
    let svc: ServiceHandle;
    let fetch: MeshFetch;
    beforeAll(async () => {
      nats = await natsFixture({ max_payload: MAX_PAYLOAD });
      svc = await serve(apps[kind], { service: `big-${kind}`, nc: nats.nc, logger: silent, kind });
      fetch = createFetch({ nc: nats.nc });
    });
    afterAll(async () => {
      await svc?.stop();
      await nats?.[Symbol.asyncDispose]();
    });

    const sizes = [0, 1, MAX_PAYLOAD - 1, MAX_PAYLOAD, MAX_PAYLOAD + 1, MB50];

    it("streaming - the undici MeshDispatcher streams a Readable upload and a response body read with backpressure", async () => {
      const dispatcher = new MeshDispatcher({ nc: nats.nc });
      const n = 5 * 1024 * 1024;
      const up = await undiciRequest(`http://big-${kind}/hash`, {
        method: "POST",
        body: Readable.fromWeb(generated(n) as import("node:stream/web").ReadableStream),
        dispatcher,
      });
      expect(await up.body.json()).toEqual(await expectedHash(n));
      const down = await undiciRequest(`http://big-${kind}/gen?n=${n}`, { dispatcher });
      expect(down.statusCode).toBe(200);
      const got = await hashOf(down.body);
      expect(got).toEqual(await expectedHash(n));
    });

    it("streaming - request bodies of 0, 1, max_payload-1, max_payload, max_payload+1 and 50 MB arrive byte-exact", async () => {
      for (const n of sizes) {
        const res = await fetch(`http://big-${kind}/hash`, {
          method: "POST",
          body: generated(n),
          duplex: "half",
        } as RequestInit);
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual(await expectedHash(n));
      }
    }, 60_000);

    it("streaming - response bodies of the same sizes arrive byte-exact", async () => {
      for (const n of sizes) {
        const res = await fetch(`http://big-${kind}/gen?n=${n}`);
        expect(res.status).toBe(200);
        expect(await hashOf(res.body!)).toEqual(await expectedHash(n));
      }
    }, 60_000);
  });
}

describe("streaming - behaviour", () => {
  let nats: NatsFixture;
  let fetch: MeshFetch;
  const services: ServiceHandle[] = [];
  beforeAll(async () => {
    nats = await natsFixture({ max_payload: MAX_PAYLOAD });
    fetch = createFetch({ nc: nats.nc, heartbeat: 200 });
  });
  afterAll(async () => {
    for (const s of services) await s.stop();
    await nats?.[Symbol.asyncDispose]();
  });

  it("streaming - each event of a Node handler's res.write() reaches the caller before the next is written", async () => {
    let release: (() => void) | undefined;
    services.push(
      await serve(
        async (_req: IncomingMessage, res: ServerResponse) => {
          res.setHeader("content-type", "text/event-stream");
          for (let i = 1; i <= 3; i++) {
            res.write(`data: ${i}\n\n`);
            // The next event is written only once the caller has seen this one: a buffered body
            // would never get here.
            await new Promise<void>((r) => (release = r));
          }
          res.end();
        },
        { service: "sse-node", nc: nats.nc, logger: silent },
      ),
    );
    const res = await fetch("http://sse-node/events");
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    for (let i = 1; i <= 3; i++) {
      const { value } = await reader.read();
      expect(value).toBe(`data: ${i}\n\n`);
      await check(() => release, 2000, { name: `handler waiting after event ${i}` });
      const r = release!;
      release = undefined;
      r();
    }
    expect((await reader.read()).done).toBe(true);
  });

  it("streaming - headers given only to writeHead() reach the caller, for one-message and streamed answers", async () => {
    services.push(
      await serve(
        (req: IncomingMessage, res: ServerResponse) => {
          res.writeHead(201, { "x-only-writehead": "yes", "content-type": "text/plain" });
          if (req.url === "/one") res.end("one");
          else {
            res.write("first");
            setTimeout(() => res.end("last"), 5);
          }
        },
        { service: "writehead", nc: nats.nc, logger: silent },
      ),
    );
    for (const path of ["/one", "/streamed"]) {
      const res = await fetch(`http://writehead${path}`);
      expect(res.status).toBe(201);
      expect(res.headers.get("x-only-writehead")).toBe("yes");
      expect(res.headers.get("content-type")).toBe("text/plain");
      expect(await res.text()).toBe(path === "/one" ? "one" : "firstlast");
    }
  });

  it("streaming - a streamed Response that ends at once is one message, its provenance headers once", async () => {
    services.push(
      await serve(
        () =>
          new Response(
            new ReadableStream<Uint8Array>({
              start: (c) => {
                c.enqueue(new TextEncoder().encode("short"));
                c.close();
              },
            }),
          ),
        { service: "short-stream", nc: nats.nc, logger: silent, instance: "short1" },
      ),
    );
    const res = await fetch("http://short-stream/");
    expect(await res.text()).toBe("short");
    expect(res.headers.get("mesh-instance")).toBe("short1");
    expect(res.headers.get("mesh-service")).toBe("short-stream");
  });

  it("streaming - a Fetch handler's streamed Response delivers each chunk as it is enqueued", async () => {
    let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
    services.push(
      await serve(
        () =>
          new Response(
            new ReadableStream<Uint8Array>({
              start: (c) => {
                controller = c;
              },
            }),
          ),
        { service: "sse-fetch", nc: nats.nc, logger: silent },
      ),
    );
    const resP = fetch("http://sse-fetch/");
    await check(() => controller, 2000, { name: "handler's stream started" });
    controller!.enqueue(new TextEncoder().encode("one"));
    const res = await resP;
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("one");
    controller!.enqueue(new TextEncoder().encode("two"));
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("two");
    controller!.close();
    expect((await reader.read()).done).toBe(true);
  });

  it("streaming - a caller's abort mid-response reaches a Node handler ('close') and a Fetch handler (signal)", async () => {
    let nodeClosed = false;
    let fetchAborted = false;
    services.push(
      await serve(
        (_req: IncomingMessage, res: ServerResponse) => {
          const timer = setInterval(() => res.write("tick\n"), 10);
          res.on("close", () => {
            clearInterval(timer);
            nodeClosed = true;
          });
        },
        { service: "abort-node", nc: nats.nc, logger: silent },
      ),
      await serve(
        (req: Request) => {
          req.signal.addEventListener("abort", () => (fetchAborted = true));
          let timer: NodeJS.Timeout;
          return new Response(
            new ReadableStream<Uint8Array>({
              start: (c) => {
                timer = setInterval(() => c.enqueue(new TextEncoder().encode("tick\n")), 10);
              },
              cancel: () => clearInterval(timer),
            }),
          );
        },
        { service: "abort-fetch", nc: nats.nc, logger: silent },
      ),
    );
    for (const service of ["abort-node", "abort-fetch"]) {
      const ac = new AbortController();
      const res = await fetch(`http://${service}/`, { signal: ac.signal });
      const reader = res.body!.getReader();
      await reader.read();
      ac.abort(new Error("caller gave up"));
      await expect(reader.read()).rejects.toThrow("caller gave up");
    }
    await check(() => nodeClosed && fetchAborted, 3000, { name: "both handlers saw the abort" });
  });

  it("streaming - aborting a slow one-message request reaches the handler once the instance has heartbeated", async () => {
    const waiter = awaitAbortHandler();
    services.push(await serve(waiter.handler, { service: "slow-abort", nc: nats.nc, logger: silent }));
    const tap = await connect({ servers: nats.server.url });
    let heartbeats = 0;
    tap.subscribe("_INBOX.>", {
      callback: (_e, m) => {
        if (m.data[3] === 5) heartbeats++;
      },
    });
    await tap.flush();
    try {
      const ac = new AbortController();
      const pending = fetch("http://slow-abort/", { signal: ac.signal }).catch((e) => e);
      await check(() => waiter.started === 1 && heartbeats > 0, 3000, {
        name: "handler running, instance heartbeating",
      });
      ac.abort(new Error("user left"));
      expect(String(await pending)).toMatch(/user left/);
      await check(() => waiter.aborted === 1, 3000, { name: "the handler's signal aborted" });
      expect(String(waiter.reason)).toMatch(/caller aborted/);
    } finally {
      await tap.close();
    }
  });

  it("streaming - a caller that cancels the body stops the handler's stream", async () => {
    let cancelled = false;
    services.push(
      await serve(
        () =>
          new Response(
            new ReadableStream<Uint8Array>({
              pull: (c) => c.enqueue(new Uint8Array(1024)),
              cancel: () => {
                cancelled = true;
              },
            }),
          ),
        { service: "cancel-fetch", nc: nats.nc, logger: silent },
      ),
    );
    const res = await fetch("http://cancel-fetch/");
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    await check(() => cancelled, 3000, { name: "handler's stream cancelled" });
  });

  it("streaming - a handler that breaks off mid-stream fails the caller's body with a StreamError", async () => {
    services.push(
      await serve(
        (_req: IncomingMessage, res: ServerResponse) => {
          res.write("partial");
          setTimeout(() => res.destroy(), 20);
        },
        { service: "broken-node", nc: nats.nc, logger: silent },
      ),
    );
    const res = await fetch("http://broken-node/");
    expect(res.status).toBe(200);
    const err = await res.text().catch((e) => e);
    expect(err).toBeInstanceOf(StreamError);
    expect((err as StreamError).message).toMatch(/aborted/);
  });

  it("streaming - an upload whose source fails is not taken as a whole body", async () => {
    let handlerError: unknown;
    services.push(
      await serve(
        async (req: Request) => {
          try {
            await req.arrayBuffer();
            return new Response("whole");
          } catch (err) {
            handlerError = err;
            return new Response("broken", { status: 400 });
          }
        },
        { service: "upload-fail", nc: nats.nc, logger: silent },
      ),
    );
    let n = 0;
    const body = new ReadableStream<Uint8Array>({
      pull: (c) => (++n < 3 ? c.enqueue(new Uint8Array(40_000)) : c.error(new Error("disk on fire"))),
    });
    const err = await fetch("http://upload-fail/", {
      method: "POST",
      body,
      duplex: "half",
    } as RequestInit).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    await check(() => handlerError, 3000, { name: "the handler's read failed" });
    expect(String(handlerError)).toMatch(/aborted/);
  });

  it("streaming - a lost or reordered chunk fails the body with a clear StreamError", async () => {
    // A peer that breaks the protocol: a streamed head, chunk 1, then chunk 3.
    const sub = nats.nc.subscribe("mesh.rogue.*", {
      callback: (_e, m) => {
        nats.nc.publish(m.reply!, rawHead(8, "200 OK\n"), { reply: "rogue.exchange" });
        nats.nc.publish(m.reply!, encodeFrame(FrameKind.Chunk, 1, new Uint8Array([1])));
        nats.nc.publish(m.reply!, encodeFrame(FrameKind.Chunk, 3, new Uint8Array([3])));
      },
    });
    try {
      const res = await fetch("http://rogue/");
      const err = await res.arrayBuffer().catch((e) => e);
      expect(err).toBeInstanceOf(StreamError);
      expect((err as StreamError).message).toMatch(/chunk 3 arrived where 2 was expected/);
    } finally {
      sub.unsubscribe();
    }
  });

  it("streaming - a caller that goes silent mid-stream is given up after twice its heartbeat: the slot frees", async () => {
    let cancelled = false;
    const svc = await serve(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            pull: (c) => c.enqueue(new Uint8Array(8 * 1024)),
            cancel: () => {
              cancelled = true;
            },
          }),
        ),
      { service: "silent-caller", nc: nats.nc, logger: silent },
    );
    services.push(svc);
    // A raw caller: asks for a streamed answer with one chunk of credit and a 200 ms heartbeat, reads
    // the head, then neither grants credit nor heartbeats (a process that died).
    const inbox = `_INBOX.silent.${Date.now()}`;
    let head = 0;
    const sub = nats.nc.subscribe(inbox, {
      callback: (_e, m) => {
        if (m.data[3] === 8) head++;
      },
    });
    const frame = rawHead(1, "GET /\nmesh-window: 1\nmesh-heartbeat: 200\n");
    nats.nc.publish("mesh.silent-caller.get", frame, { reply: inbox });
    try {
      await check(() => head === 1 && svc.stats().inFlight === 1, 2000, { name: "streaming to the caller" });
      await check(() => cancelled && svc.stats().inFlight === 0, 3000, { name: "the instance gave up" });
    } finally {
      sub.unsubscribe();
    }
  });

  it("streaming - an upload without heartbeats whose body stops coming is given up after streamIdleTimeout", async () => {
    let readError: unknown;
    const svc = await serve(
      async (req: Request) => {
        try {
          await req.arrayBuffer();
        } catch (err) {
          readError = err;
        }
        return new Response("done");
      },
      { service: "idle-upload", nc: nats.nc, logger: silent, streamIdleTimeout: 300 },
    );
    services.push(svc);
    // A raw caller: a streamed request head without mesh-heartbeat, and then no body at all.
    const frame = rawHead(7, "POST /\n");
    // The caller is alive (it listens on its reply subject) but sends nothing.
    const inbox = `_INBOX.idle.${Date.now()}`;
    const sub = nats.nc.subscribe(inbox, { callback: () => undefined });
    try {
      nats.nc.publish("mesh.idle-upload.post", frame, { reply: inbox });
      await check(() => svc.stats().inFlight === 1, 2000, { name: "the handler is reading" });
      await check(() => readError !== undefined && svc.stats().inFlight === 0, 3000, { name: "given up" });
      expect(String(readError)).toMatch(/went silent/);
    } finally {
      sub.unsubscribe();
    }
    // A caller that is gone: nats-server answers the instance's credit with no responders at once.
    readError = undefined;
    nats.nc.publish("mesh.idle-upload.post", frame, { reply: `_INBOX.gone.${Date.now()}` });
    await check(() => readError, 2000, { name: "given up at once" });
    expect(String(readError)).toMatch(/caller is gone/);
  });

  it("streaming - a slow reader holds the handler back: what it produced stays within the credit window", async () => {
    let produced = 0;
    services.push(
      await serve(
        () =>
          new Response(
            new ReadableStream<Uint8Array>({
              pull: (c) => {
                produced += 16 * 1024;
                c.enqueue(new Uint8Array(16 * 1024));
              },
            }),
          ),
        { service: "slow-reader", nc: nats.nc, logger: silent },
      ),
    );
    const res = await fetch("http://slow-reader/");
    const reader = res.body!.getReader();
    await reader.read();
    // Credit is 16 chunks of at most max_payload; the sender stops there and waits for the reader.
    const bound = (16 + 2) * MAX_PAYLOAD + 256 * 1024;
    await check(() => produced >= 8 * MAX_PAYLOAD, 3000, { name: "the sender used its credit" });
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setImmediate(r));
      expect(produced).toBeLessThanOrEqual(bound);
    }
    let read = 0;
    for (let i = 0; i < 40; i++) read += (await reader.read()).value!.byteLength;
    expect(read).toBeGreaterThan(16 * MAX_PAYLOAD);
    await reader.cancel();
  });
});

describe("streaming - an instance killed mid-stream", () => {
  let nats: NatsFixture;
  let server: NatsServer;
  let nc: NatsConnection;
  let child: ChildProcess | undefined;
  beforeAll(async () => {
    nats = await natsFixture({ max_payload: MAX_PAYLOAD });
    ({ server, nc } = nats);
  });
  afterAll(async () => {
    child?.kill("SIGKILL");
    await nats?.[Symbol.asyncDispose]();
  });

  async function startChild(service: string): Promise<ChildProcess> {
    const proc = spawn(
      process.execPath,
      ["--import", "tsx", "test/support/stream-service.ts", server.url, service],
      {
        cwd: REPO_ROOT,
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    await new Promise<void>((resolve, reject) => {
      proc.once("exit", (code) => reject(new Error(`stream service exited with ${code}`)));
      proc.stdout!.on("data", (c: Buffer) => c.toString().includes("ready") && resolve());
    });
    return proc;
  }

  it("streaming - the caller's body fails with InstanceLostError within twice the heartbeat, not a hang", async () => {
    child = await startChild("drip");
    const fetch = createFetch({ nc, heartbeat: 250 });
    const res = await fetch("http://drip/drip");
    const reader = res.body!.getReader();
    await reader.read();
    child.kill("SIGKILL");
    const killed = performance.now();
    const err = await (async () => {
      for (;;) await reader.read();
    })().catch((e) => e);
    const ms = performance.now() - killed;
    expect(err).toBeInstanceOf(InstanceLostError);
    expect(ms).toBeLessThan(5 * 250 + 1000);
  });

  it("streaming - a request the killed instance was working on fails with InstanceLostError, not at its timeout", async () => {
    child = await startChild("hang");
    // No retry: the request is idempotent, and a retry would meet no responders here.
    const fetch = createFetch({ nc, heartbeat: 250, timeout: 60_000, retry: false });
    // Silence counts once the client has heard the service speak §8 (PROTOCOL.md §8.4): a first
    // answer teaches it (here a streamed one, cancelled), as any earlier call would have.
    await (await fetch("http://hang/drip")).body!.cancel();
    const took = new Promise<void>((resolve) => {
      child!.stdout!.on("data", (c: Buffer) => c.toString().includes("took") && resolve());
    });
    const pending = fetch("http://hang/hang").catch((e) => e);
    await took;
    child.kill("SIGKILL");
    const err = await pending;
    expect(err).toBeInstanceOf(InstanceLostError);
    expect(err).toMatchObject({ code: "NM_ERR_INSTANCE_LOST", status: 503 });
  });
});

describe("failover - an instance killed mid-request", () => {
  let nats: NatsFixture;
  let server: NatsServer;
  let nc: NatsConnection;
  let child: ChildProcess | undefined;
  beforeAll(async () => {
    nats = await natsFixture();
    ({ server, nc } = nats);
  });
  afterAll(async () => {
    child?.kill("SIGKILL");
    await nats?.[Symbol.asyncDispose]();
  });

  it("failover - an idempotent request whose instance is SIGKILLed mid-request is answered by another instance, the loss detected by heartbeats", async () => {
    // Instance A (its own process) takes the request and never answers; then instance B joins.
    child = spawn(
      process.execPath,
      ["--import", "tsx", "test/support/stream-service.ts", server.url, "pair"],
      {
        cwd: REPO_ROOT,
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    const lines: string[] = [];
    child.stdout!.on("data", (c: Buffer) => lines.push(c.toString()));
    await check(() => lines.join("").includes("ready"), 20_000, { name: "instance A ready" });
    const fetch = createFetch({ nc, heartbeat: 250, timeout: 20_000 });
    const pending = fetch("http://pair/hang");
    await check(() => lines.join("").includes("took"), 5000, { name: "instance A took the request" });
    const b = await serve(() => new Response("from B"), {
      service: "pair",
      nc,
      logger: silent,
      instance: "B",
    });
    try {
      child.kill("SIGKILL");
      const killed = performance.now();
      const res = await pending;
      const ms = performance.now() - killed;
      expect(res.status).toBe(200);
      expect(res.headers.get("mesh-instance")).toBe("B");
      expect(await res.text()).toBe("from B");
      // Silence is detected after twice the heartbeat (500 ms), not at the 20 s timeout.
      expect(ms).toBeLessThan(5000);
    } finally {
      await b.stop();
    }
  });
});

describe("streaming - across an account import", () => {
  let nats: NatsFixture;
  let a: NatsConnection;
  let b: NatsConnection;
  let svc: ServiceHandle;
  beforeAll(async () => {
    nats = await natsFixture(
      {
        max_payload: MAX_PAYLOAD,
        accounts: {
          A: {
            users: [{ user: "a", password: "a" }],
            exports: [{ service: "mesh.files.*", response_type: "stream" }, { service: "mesh.once.*" }],
          },
          B: {
            users: [{ user: "b", password: "b" }],
            imports: [
              { service: { account: "A", subject: "mesh.files.*" } },
              { service: { account: "A", subject: "mesh.once.*" } },
            ],
          },
        },
      },
      { user: "a", pass: "a" },
    );
    a = nats.nc;
    b = await nats.connect({ user: "b", pass: "b" });
    svc = await serve(apps.fetch, {
      service: "files",
      nc: a,
      logger: silent,
      discovery: false,
      metrics: false,
    });
    await serve(apps.fetch, { service: "once", nc: a, logger: silent, discovery: false, metrics: false });
  });
  afterAll(async () => {
    await svc?.stop();
    await nats?.[Symbol.asyncDispose]();
  });

  it("streaming - with response_type stream, a 5 MB upload and download cross from account B to A", async () => {
    const fetch = createFetch({ nc: b });
    const n = 5 * 1024 * 1024;
    const up = await fetch("http://files/hash", {
      method: "POST",
      body: generated(n),
      duplex: "half",
    } as RequestInit);
    expect(await up.json()).toEqual(await expectedHash(n));
    const down = await fetch(`http://files/gen?n=${n}`);
    expect(await hashOf(down.body!)).toEqual(await expectedHash(n));
  });

  it("streaming - with a singleton export, a streamed response fails with a clear error, never a hang", async () => {
    const fetch = createFetch({ nc: b, heartbeat: 200 });
    const small = await fetch("http://once/gen?n=100");
    expect((await small.arrayBuffer()).byteLength).toBe(100);
    const res = await fetch(`http://once/gen?n=${4 * MAX_PAYLOAD}`);
    const err = await res.arrayBuffer().catch((e) => e);
    expect(err).toBeInstanceOf(InstanceLostError);
  });
});
