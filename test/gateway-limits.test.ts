/**
 * The gateway's protection limits against real sockets (node:net, node:tls, node:http2), a real
 * nats-server and a served test service: slow heads and bodies, head size, connection count,
 * keep-alive, and malformed heads — over plain HTTP/1.1, HTTP/1.1 over TLS and HTTP/2.
 *
 * "Never reached the service" is checked with a sentinel: a good request sent afterwards through the
 * same gateway (one NATS connection, so delivered in order) must be the only one the service counted.
 */
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import http2 from "node:http2";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGateway, type Gateway, type LimitsConfig } from "../src/gateway/index.js";
import { type ServiceHandle, serve } from "../src/index.js";
import { fetchApp } from "./support/apps.js";
import { type NatsServerFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check, generateCerts, type NatsServer } from "./support/nats-server.js";

const LIMITS = {
  headersTimeout: 300,
  requestTimeout: 400,
  keepAliveTimeout: 200,
  maxHeaderSize: 2048,
  maxConnections: 100,
  shutdownTimeout: 500,
} satisfies LimitsConfig;
/** How often Node's plain HTTP/1.1 server checks head and request deadlines (public-server.ts). */
const CHECK_MS = Math.min(1000, LIMITS.headersTimeout);
/** Margin Node adds to the keep-alive idle timer of HTTP/1.1 connections beyond `keepAliveTimeout`. */
const KEEP_ALIVE_BUFFER_MS = 1000;
/** Scheduling slack allowed on top of a deadline. */
const SLACK_MS = 400;

type Kind = "plain" | "tls";
const KINDS: Kind[] = ["plain", "tls"];

let nats: NatsServerFixture;
let server: NatsServer;
let svc: ServiceHandle;
/** The `x-request-id` of every request the service's handler ran, in order. */
const handledIds: string[] = [];
/**
 * Public requests the service has run so far: distinct request ids, since a loaded machine may make
 * the gateway send an unacknowledged GET again (PROTOCOL.md §8.4) and the instance run both copies.
 */
const handled = (): number => {
  if (handledIds.includes("")) throw new Error("the gateway sent a request without x-request-id");
  return new Set(handledIds).size;
};
let tmp: string;
let ca: Buffer;
let certFiles: { cert: string; key: string };
const gateways: Record<Kind, Gateway> = {} as Record<Kind, Gateway>;

async function startGateway(kind: Kind, limits: LimitsConfig): Promise<Gateway> {
  const gateway = createGateway({
    listen: "127.0.0.1:0",
    config: { limits },
    ...(kind === "tls" && { tls: certFiles }),
    connection: { servers: server.url },
    logger: silent,
  });
  await gateway.listen();
  return gateway;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "natsmesh-test-limits-"));
  const [started, certs] = await Promise.all([
    natsFixture({}, { connect: false }),
    generateCerts(join(tmp, "certs")),
  ]);
  nats = started;
  ({ server } = nats);
  ca = await readFile(certs.ca);
  certFiles = { cert: certs.serverCert, key: certs.serverKey };
  const echo = fetchApp("echo");
  svc = await serve(
    (req: Request) => {
      handledIds.push(req.headers.get("x-request-id") ?? "");
      return echo(req);
    },
    {
      service: "echo",
      connection: { servers: server.url },
      logger: silent,
    },
  );
  gateways.plain = await startGateway("plain", LIMITS);
  gateways.tls = await startGateway("tls", LIMITS);
}, 60_000);

afterAll(async () => {
  await Promise.all(Object.values(gateways).map((g) => g.close()));
  await svc?.stop();
  await nats?.[Symbol.asyncDispose]();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** Resolves with the arguments of the next `name` event (unlike `events.once`, an 'error' does not reject). */
function next<T extends unknown[] = unknown[]>(emitter: NodeJS.EventEmitter, name: string): Promise<T> {
  return new Promise((resolve) => emitter.once(name, (...args: unknown[]) => resolve(args as T)));
}

/** Rejects when `promise` has not settled within `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A client connection on a raw socket (TCP, or TLS with ALPN `http/1.1`) that records what it gets. */
class Conn {
  received = "";
  /** Resolves when the server ended its side (FIN). */
  readonly ended: Promise<void>;
  /** Resolves, with the ms since the connection was ready, once the socket is closed. */
  readonly closed: Promise<number>;
  readonly opened = performance.now();

  private constructor(readonly socket: net.Socket) {
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      this.received += chunk;
    });
    socket.on("error", () => {});
    this.ended = next(socket, "end").then(() => undefined);
    this.closed = next(socket, "close").then(() => performance.now() - this.opened);
  }

  static async open(kind: Kind, port: number, options: { halfOpen?: boolean } = {}): Promise<Conn> {
    const allowHalfOpen = options.halfOpen ?? false;
    const tcp = net.connect({ host: "127.0.0.1", port, allowHalfOpen });
    const socket =
      kind === "tls"
        ? tls.connect({ socket: tcp, ca, servername: "localhost", ALPNProtocols: ["http/1.1"] })
        : tcp;
    const ready = once(socket, kind === "tls" ? "secureConnect" : "connect");
    const gone = once(socket, "close").then(() => {
      throw new Error("closed before it was ready");
    });
    await Promise.race([ready, gone]);
    gone.catch(() => {});
    return new Conn(socket);
  }

  write(text: string): void {
    this.socket.write(text);
  }

  /** Writes `text` a byte every `everyMs` ms, starting over at its end, until the socket closes. */
  trickle(text: string, everyMs = 50): void {
    let i = 0;
    const timer = setInterval(() => {
      if (this.socket.writable) this.socket.write(text[i++ % text.length]!);
    }, everyMs);
    this.socket.once("close", () => clearInterval(timer));
  }

  /** Waits until what was received matches. */
  until(pattern: RegExp, ms = 3000): Promise<unknown> {
    return check(() => pattern.test(this.received), ms, { name: `received ${pattern}` });
  }

  /** The connection's close, which must come within `ms`; the socket is destroyed otherwise. */
  async closeWithin(ms: number, what: string): Promise<number> {
    try {
      return await within(this.closed, ms, what);
    } catch (err) {
      this.socket.destroy();
      throw err;
    }
  }
}

/** Status codes of the HTTP/1.1 responses in `text`, in order. */
function statuses(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
}

/** The JSON body of the last response in `text`. */
function errorBody(text: string): { code: string; status: number } {
  return JSON.parse(text.slice(text.lastIndexOf("\r\n\r\n") + 4)) as { code: string; status: number };
}

const WHOAMI = "GET /echo/whoami HTTP/1.1\r\nHost: gw\r\n\r\n";
const WHOAMI_CLOSE = "GET /echo/whoami HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n";

/** One request on a fresh connection, closed by the server after the answer. */
async function exchange(kind: Kind, port: number, text: string): Promise<string> {
  const conn = await Conn.open(kind, port);
  conn.write(text);
  await conn.closeWithin(3000, "the answer");
  return conn.received;
}

/** Asserts the service counted nothing since `before` but a sentinel request sent now, through `kind`'s gateway. */
async function expectOnlySentinel(kind: Kind, before: number, gateway = gateways[kind]): Promise<void> {
  const text = await exchange(kind, gateway.port!, WHOAMI_CLOSE);
  expect(statuses(text)).toEqual([200]);
  expect(handled() - before).toBe(1);
}

interface H2Answer {
  status: number | undefined;
  rstCode: number;
  text: string;
}

/** One HTTP/2 request; a reset stream is reported by its code, not thrown. */
async function h2Request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: string,
): Promise<H2Answer> {
  const stream = session.request(headers, { endStream: body === undefined });
  let status: number | undefined;
  let text = "";
  stream.on("response", (h) => {
    status = Number(h[":status"]);
  });
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    text += chunk;
  });
  stream.on("error", () => {});
  if (body !== undefined) stream.end(body);
  await within(next(stream, "close"), 3000, "the HTTP/2 stream's close");
  return { status, rstCode: stream.rstCode ?? 0, text };
}

function h2Connect(gateway: Gateway): http2.ClientHttp2Session {
  const session = http2.connect(gateway.addresses!.url, { ca });
  session.on("error", () => {});
  return session;
}

describe("gateway - limits", () => {
  const slowHead = `GET /echo/whoami HTTP/1.1\r\nHost: gw\r\nX-Slow: ${"a".repeat(200)}`;

  it.each(KINDS)(
    "gateway - limits: a head trickled a byte every 50 ms is answered 408 and closed after headersTimeout (%s HTTP/1.1)",
    async (kind) => {
      const before = handled();
      const conn = await Conn.open(kind, gateways[kind].port!);
      conn.trickle(slowHead);
      const ms = await conn.closeWithin(LIMITS.headersTimeout + CHECK_MS + SLACK_MS, "slowloris cut off");
      expect(ms).toBeGreaterThanOrEqual(LIMITS.headersTimeout - 20);
      expect(statuses(conn.received)).toEqual([408]);
      expect(errorBody(conn.received)).toMatchObject({ code: "NM_ERR_REQUEST_TIMEOUT", status: 408 });
      await expectOnlySentinel(kind, before);
    },
  );

  it.each(KINDS)(
    "gateway - limits: the head of a second request on a keep-alive connection is held to headersTimeout too (%s HTTP/1.1)",
    async (kind) => {
      const conn = await Conn.open(kind, gateways[kind].port!);
      conn.write(WHOAMI);
      await conn.until(/\r\n\r\necho$/);
      const started = performance.now();
      conn.trickle(slowHead);
      await conn.closeWithin(LIMITS.headersTimeout + CHECK_MS + SLACK_MS + 50, "second head cut off");
      expect(performance.now() - started).toBeGreaterThanOrEqual(LIMITS.headersTimeout - 20);
      expect(statuses(conn.received)).toEqual([200, 408]);
    },
  );

  it.each(KINDS)(
    "gateway - limits: a connection that sends nothing is answered 408 and closed after headersTimeout (%s HTTP/1.1)",
    async (kind) => {
      const conn = await Conn.open(kind, gateways[kind].port!);
      const ms = await conn.closeWithin(
        LIMITS.headersTimeout + CHECK_MS + SLACK_MS,
        "silent connection closed",
      );
      expect(ms).toBeGreaterThanOrEqual(LIMITS.headersTimeout - 20);
      expect(statuses(conn.received)).toEqual([408]);
    },
  );

  it.each(KINDS)(
    "gateway - limits: a head completed after the 408 never reaches the service; the connection is destroyed (%s HTTP/1.1)",
    async (kind) => {
      const before = handled();
      const conn = await Conn.open(kind, gateways[kind].port!, { halfOpen: true });
      conn.write("GET /echo/whoami HTTP/1.1\r\nHost: gw\r\nX-Late: a");
      await within(conn.ended, LIMITS.headersTimeout + CHECK_MS + SLACK_MS, "the 408");
      expect(statuses(conn.received)).toEqual([408]);
      conn.write("\r\n\r\n");
      await expectOnlySentinel(kind, before);
      // The server destroyed its socket: a byte sent now is answered with a reset, the next one fails.
      conn.trickle("x");
      await conn.closeWithin(SLACK_MS, "connection closed");
    },
  );

  it("gateway - limits: a TCP connection that never starts the TLS handshake is closed after headersTimeout", async () => {
    const socket = net.connect({ host: "127.0.0.1", port: gateways.tls.port! });
    await once(socket, "connect");
    const started = performance.now();
    await within(next(socket, "close"), LIMITS.headersTimeout + SLACK_MS, "handshake timeout").finally(() =>
      socket.destroy(),
    );
    expect(performance.now() - started).toBeGreaterThanOrEqual(LIMITS.headersTimeout - 20);
  });

  it.each(KINDS)(
    "gateway - limits: a body sent too slowly is answered 408 NM_ERR_REQUEST_TIMEOUT (or closed) after requestTimeout; nothing reaches the service (%s HTTP/1.1)",
    async (kind) => {
      const before = handled();
      const conn = await Conn.open(kind, gateways[kind].port!);
      conn.write(
        "POST /echo/echo HTTP/1.1\r\nHost: gw\r\nContent-Type: text/plain\r\nContent-Length: 64\r\n\r\n",
      );
      conn.trickle("b");
      // Once anything comes back, the client sends the rest of the body at once.
      conn.socket.once("data", () => {
        if (conn.socket.writable) conn.write("b".repeat(64));
      });
      const ms = await conn.closeWithin(LIMITS.requestTimeout + CHECK_MS + SLACK_MS, "slow body cut off");
      expect(ms).toBeGreaterThanOrEqual(LIMITS.requestTimeout - 20);
      if (conn.received !== "") {
        // Plain HTTP/1.1: Node's own check may close the connection first, without an answer.
        expect(statuses(conn.received)).toEqual([408]);
        expect(errorBody(conn.received)).toMatchObject({ code: "NM_ERR_REQUEST_TIMEOUT", status: 408 });
      } else {
        expect(kind).toBe("plain");
      }
      await expectOnlySentinel(kind, before);
    },
  );

  it("gateway - limits: an HTTP/2 body sent too slowly is answered 408 NM_ERR_REQUEST_TIMEOUT; nothing reaches the service; the session keeps serving", async () => {
    const before = handled();
    const session = h2Connect(gateways.tls);
    try {
      const stream = session.request({ ":method": "POST", ":path": "/echo/echo", "content-length": "64" });
      stream.on("error", () => {});
      const timer = setInterval(() => stream.writable && stream.write("b"), 50);
      const started = performance.now();
      const [headers] = (await within(once(stream, "response"), LIMITS.requestTimeout + SLACK_MS, "408")) as [
        http2.IncomingHttpHeaders,
      ];
      clearInterval(timer);
      expect(performance.now() - started).toBeGreaterThanOrEqual(LIMITS.requestTimeout - 20);
      if (stream.writable) stream.end("b".repeat(64));
      let text = "";
      stream.setEncoding("utf8");
      for await (const chunk of stream) text += chunk;
      expect(headers[":status"]).toBe(408);
      expect(JSON.parse(text)).toMatchObject({ code: "NM_ERR_REQUEST_TIMEOUT", status: 408 });
      const next = await h2Request(session, { ":path": "/echo/whoami" });
      expect(next).toMatchObject({ status: 200, text: "echo" });
      expect(handled() - before).toBe(1);
    } finally {
      session.close();
    }
  });

  it.each(KINDS)(
    "gateway - limits: a head over maxHeaderSize is answered 431 and the gateway serves the next request (%s HTTP/1.1)",
    async (kind) => {
      const before = handled();
      const text = await exchange(
        kind,
        gateways[kind].port!,
        `GET /echo/whoami HTTP/1.1\r\nHost: gw\r\nX-Big: ${"a".repeat(4096)}\r\n\r\n`,
      );
      expect(statuses(text)).toEqual([431]);
      expect(errorBody(text)).toMatchObject({ code: "NM_ERR_BAD_REQUEST", status: 431 });
      await expectOnlySentinel(kind, before);
    },
  );

  it("gateway - limits: an HTTP/2 header list over maxHeaderSize is refused with RST_STREAM ENHANCE_YOUR_CALM, before and after SETTINGS are acknowledged; the session keeps serving", async () => {
    const before = handled();
    const session = h2Connect(gateways.tls);
    const big = { ":path": "/echo/whoami", "x-big": "a".repeat(4096) };
    try {
      // Sent in the client's first flight, before it acknowledged the server's SETTINGS.
      const first = await h2Request(session, big);
      expect(session.remoteSettings.maxHeaderListSize).toBe(LIMITS.maxHeaderSize);
      await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
      const second = await h2Request(session, big);
      for (const refused of [first, second])
        expect(refused).toEqual({
          status: undefined,
          rstCode: http2.constants.NGHTTP2_ENHANCE_YOUR_CALM,
          text: "",
        });
      expect(await h2Request(session, { ":path": "/echo/whoami" })).toMatchObject({
        status: 200,
        text: "echo",
      });
      expect(handled() - before).toBe(1);
    } finally {
      session.close();
    }
  });

  it.each(KINDS)(
    "gateway - limits: with maxConnections 3 a 4th connection is closed at once, and accepted after one closes (%s)",
    async (kind) => {
      await using gateway = await startGateway(kind, {
        ...LIMITS,
        maxConnections: 3,
        keepAliveTimeout: 10_000,
      });
      const port = gateway.port!;
      const held: Conn[] = [];
      for (let i = 0; i < 3; i++) {
        const conn = await Conn.open(kind, port);
        conn.write(WHOAMI);
        await conn.until(/\r\n\r\necho$/);
        held.push(conn);
      }
      try {
        const fourth =
          kind === "tls" ? tls.connect({ port, host: "127.0.0.1", ca }) : net.connect(port, "127.0.0.1");
        let got = "";
        let handshaken = false;
        fourth.on("data", (chunk: Buffer) => {
          got += chunk.toString();
        });
        fourth.on("secureConnect", () => {
          handshaken = true;
        });
        fourth.on("error", () => {});
        await within(next(fourth, "close"), 2000, "4th connection closed");
        expect({ got, handshaken }).toEqual({ got: "", handshaken: false });

        held[1]!.write(WHOAMI);
        await held[1]!.until(/echo[\s\S]*\r\n\r\necho$/);
        held[0]!.socket.destroy();
        const answer = await check(
          async () => {
            const text = await exchange(kind, port, WHOAMI_CLOSE).catch(() => "");
            return statuses(text)[0] === 200 && text;
          },
          3000,
          { name: "a new connection served" },
        );
        expect(answer).toMatch(/\r\n\r\necho$/);
      } finally {
        for (const conn of held) conn.socket.destroy();
      }
    },
  );

  it.each(KINDS)(
    "gateway - limits: an idle keep-alive connection is closed after keepAliveTimeout (Node adds 1 s) (%s HTTP/1.1)",
    async (kind) => {
      const conn = await Conn.open(kind, gateways[kind].port!);
      // The gateway's idle timer starts after it answered, so after the request was sent: measured
      // from here, the bound holds however late this process sees the answer.
      const idleFrom = performance.now();
      conn.write(WHOAMI);
      await conn.until(/\r\n\r\necho$/);
      expect(conn.received).not.toMatch(/connection: close/i);
      await conn.closeWithin(
        LIMITS.keepAliveTimeout + KEEP_ALIVE_BUFFER_MS + SLACK_MS,
        "idle connection closed",
      );
      const idle = performance.now() - idleFrom;
      expect(idle).toBeGreaterThanOrEqual(LIMITS.keepAliveTimeout - 20);
      expect(statuses(conn.received)).toEqual([200]);
    },
  );

  it("gateway - limits: an idle HTTP/2 session gets a GOAWAY and is closed after keepAliveTimeout", async () => {
    const session = h2Connect(gateways.tls);
    const goaway = next<[number]>(session, "goaway");
    // The session's idle timer starts after the stream closed, so after the request was sent: measured
    // from here, the bound holds however late this process sees the answer.
    const idleFrom = performance.now();
    expect(await h2Request(session, { ":path": "/echo/whoami" })).toMatchObject({
      status: 200,
      text: "echo",
    });
    await within(next(session, "close"), LIMITS.keepAliveTimeout + SLACK_MS, "idle session closed").finally(
      () => session.destroy(),
    );
    expect(performance.now() - idleFrom).toBeGreaterThanOrEqual(LIMITS.keepAliveTimeout - 20);
    const [code] = await goaway;
    expect(code).toBe(http2.constants.NGHTTP2_NO_ERROR);
  });

  it.each(KINDS)(
    "gateway - limits: CR, LF or NUL inside a header value is answered 400 by Node's parser and never reaches the service (%s HTTP/1.1)",
    async (kind) => {
      const before = handled();
      for (const bad of ["a\rb", "a\nb", "a\nX-Injected: b", "a\0b"]) {
        const text = await exchange(
          kind,
          gateways[kind].port!,
          `GET /echo/echo HTTP/1.1\r\nHost: gw\r\nX-Bad: ${bad}\r\n\r\n`,
        );
        expect(statuses(text), JSON.stringify(bad)).toEqual([400]);
        expect(errorBody(text)).toMatchObject({ code: "NM_ERR_BAD_REQUEST", status: 400 });
        expect(text).toMatch(/connection: close/i);
      }
      await expectOnlySentinel(kind, before);
    },
  );

  it("gateway - limits: HTTP/1.1 header count is bounded by maxHeaderSize (100 small fields are forwarded); HTTP/2 refuses more than 128 fields", async () => {
    const fields = Array.from({ length: 100 }, (_, i) => `x-h${i}: 1\r\n`).join("");
    const text = await exchange(
      "plain",
      gateways.plain.port!,
      `GET /echo/echo HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n${fields}\r\n`,
    );
    expect(statuses(text)).toEqual([200]);
    const seen = JSON.parse(decodeURIComponent(/x-echo-headers: (\S+)/i.exec(text)![1]!)) as string[];
    expect(seen.filter((name, i) => i % 2 === 0 && /^x-h\d+$/i.test(name))).toHaveLength(100);

    await using gateway = await startGateway("tls", { ...LIMITS, maxHeaderSize: 16_384 });
    const session = h2Connect(gateway);
    try {
      const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-h${i}`, "1"]));
      const ok = await h2Request(session, { ":path": "/echo/whoami", ...many(100) });
      expect(ok).toMatchObject({ status: 200, text: "echo" });
      const refused = await h2Request(session, { ":path": "/echo/whoami", ...many(200) });
      expect(refused).toEqual({
        status: undefined,
        rstCode: http2.constants.NGHTTP2_ENHANCE_YOUR_CALM,
        text: "",
      });
      expect(await h2Request(session, { ":path": "/echo/whoami" })).toMatchObject({ status: 200 });
    } finally {
      session.close();
    }
  });
});
