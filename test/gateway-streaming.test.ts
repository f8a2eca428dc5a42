/**
 * Streamed bodies through the gateway (PROTOCOL.md §8) on a real nats-server with max_payload 64 KiB:
 * server-sent events timed as they arrive, a 50 MB upload and download hashed end to end, the
 * route's maxBody enforced on a chunked upload, and a client leaving mid-stream.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGateway, type Gateway } from "../src/gateway/index.js";
import { type ServiceHandle, serve } from "../src/index.js";
import { type NatsServerFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

const MB50 = 50 * 1024 * 1024;

let nats: NatsServerFixture;
let gateway: Gateway;
let base: string;
const services: ServiceHandle[] = [];
/** The SSE handler writes event i only once the test lets it. */
let nextEvent: (() => void) | undefined;
let sseClosed = false;

function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13) % 241;
  return b;
}
const PIECE = pattern(256 * 1024);

function sha(chunks: Iterable<Uint8Array>): string {
  const h = createHash("sha256");
  for (const c of chunks) h.update(c);
  return h.digest("hex");
}
function* pieces(n: number): Generator<Buffer> {
  for (let sent = 0; sent < n; sent += PIECE.length)
    yield PIECE.subarray(0, Math.min(PIECE.length, n - sent));
}

async function app(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://x");
  if (url.pathname === "/events") {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.on("close", () => {
      sseClosed = true;
    });
    for (let i = 1; i <= 3; i++) {
      res.write(`data: ${i}\n\n`);
      await new Promise<void>((r) => {
        nextEvent = r;
      });
    }
    res.end();
    return;
  }
  if (url.pathname === "/forever") {
    res.writeHead(200, { "content-type": "text/event-stream" });
    const timer = setInterval(() => res.write("data: tick\n\n"), 10);
    res.on("close", () => {
      clearInterval(timer);
      sseClosed = true;
    });
    return;
  }
  if (url.pathname === "/hash") {
    const h = createHash("sha256");
    let size = 0;
    for await (const c of req) {
      h.update(c as Buffer);
      size += (c as Buffer).byteLength;
    }
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ hex: h.digest("hex"), size }));
    return;
  }
  if (url.pathname === "/gen") {
    for (const p of pieces(Number(url.searchParams.get("n")))) {
      if (!res.write(p)) await new Promise((r) => res.once("drain", r));
    }
    res.end();
    return;
  }
  res.statusCode = 404;
  res.end();
}

/** One HTTP/1.1 request with node:http, the body given as pieces (chunked when no length is set). */
function send(
  path: string,
  init: { method?: string; body?: Iterable<Buffer>; headers?: Record<string, string> } = {},
): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${base}${path}`,
      { method: init.method ?? "GET", headers: init.headers },
      resolve,
    );
    req.on("error", reject);
    (async () => {
      for (const p of init.body ?? []) if (!req.write(p)) await new Promise((r) => req.once("drain", r));
      req.end();
    })().catch(reject);
  });
}

beforeAll(async () => {
  nats = await natsFixture({ max_payload: 64 * 1024 }, { connect: false });
  const connection = { servers: nats.server.url };
  services.push(await serve(app, { service: "files", connection, logger: silent }));
  gateway = createGateway({
    listen: "127.0.0.1:0",
    connection,
    logger: silent,
    config: {
      routes: [
        { name: "files", prefix: "/files", strip: true, service: "files", maxBody: "64mb" },
        { name: "small", prefix: "/small", strip: true, service: "files", maxBody: "100kb" },
      ],
    },
  });
  base = (await gateway.listen()).url;
});

afterAll(async () => {
  await gateway?.close();
  for (const s of services) await s.stop();
  await nats?.[Symbol.asyncDispose]();
});

describe("gateway - streamed bodies", () => {
  it("gateway - server-sent events reach an HTTP client one by one, as the handler writes them", async () => {
    const res = await send("/files/events");
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("text/event-stream");
    expect(res.headers["content-length"]).toBeUndefined();
    res.setEncoding("utf8");
    const events = res[Symbol.asyncIterator]();
    for (let i = 1; i <= 3; i++) {
      // Event i arrives while the handler is still waiting to write event i+1: nothing is buffered.
      expect((await events.next()).value).toBe(`data: ${i}\n\n`);
      await check(() => nextEvent, 2000, { name: `handler waiting after event ${i}` });
      const go = nextEvent!;
      nextEvent = undefined;
      go();
    }
    expect((await events.next()).done).toBe(true);
  });

  it("gateway - a 50 MB chunked upload streams to the service byte-exact", async () => {
    const res = await send("/files/hash", { method: "POST", body: pieces(MB50) });
    expect(res.statusCode).toBe(200);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    expect(JSON.parse(Buffer.concat(chunks).toString())).toEqual({ hex: sha(pieces(MB50)), size: MB50 });
  }, 60_000);

  it("gateway - a 50 MB upload with a content-length streams too, and the length is checked end to end", async () => {
    const res = await send("/files/hash", {
      method: "PUT",
      body: pieces(MB50),
      headers: { "content-length": String(MB50) },
    });
    expect(res.statusCode).toBe(200);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    expect(JSON.parse(Buffer.concat(chunks).toString())).toEqual({ hex: sha(pieces(MB50)), size: MB50 });
  }, 60_000);

  it("gateway - a 50 MB download streams to the client byte-exact", async () => {
    const res = await send(`/files/gen?n=${MB50}`);
    expect(res.statusCode).toBe(200);
    const h = createHash("sha256");
    let size = 0;
    for await (const c of res) {
      h.update(c as Buffer);
      size += (c as Buffer).byteLength;
    }
    expect(size).toBe(MB50);
    expect(h.digest("hex")).toBe(sha(pieces(MB50)));
  }, 60_000);

  it("gateway - a chunked upload over the route's maxBody is answered 413", async () => {
    const res = await send("/small/hash", { method: "POST", body: pieces(1024 * 1024) }).catch((e) => e);
    // The gateway may close the connection while the client still writes; when it answered, it is 413.
    if (res instanceof Error) expect(String(res)).toMatch(/EPIPE|ECONNRESET|socket hang up/);
    else expect(res.statusCode).toBe(413);
  });

  it("gateway - a client that leaves mid-stream aborts the exchange: the handler sees 'close'", async () => {
    sseClosed = false;
    const res = await send("/files/forever");
    const events = res[Symbol.asyncIterator]();
    await events.next();
    res.destroy();
    await check(() => sseClosed, 3000, { name: "the handler saw the caller leave" });
  });
});
