/**
 * Gateway hardening against real sockets and a real nats-server: the TLS versions and cipher suites
 * the public HTTPS server accepts, the header-count limit over HTTP/1.1 and HTTP/2, and what the
 * gateway's own 5xx bodies reveal. (Head size, body size, time limits, CR/LF/NUL in heads:
 * test/gateway-limits.test.ts; reserved `mesh-*` headers and spoofed X-Forwarded-*: test/gateway.test.ts.)
 */
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import http2 from "node:http2";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGateway, type Gateway, GatewayConfigError } from "../src/gateway/index.js";
import { type ServiceHandle, serve } from "../src/index.js";
import { fetchApp } from "./support/apps.js";
import { type NatsServerFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { generateCerts } from "./support/nats-server.js";

const MAX_FIELDS = 10;

let nats: NatsServerFixture;
let svc: ServiceHandle;
let tmp: string;
let ca: Buffer;
let certFiles: { cert: string; key: string };
let https: Gateway;
let plain: Gateway;
let httpsUrl: string;
let plainUrl: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "natsmesh-test-hardening-"));
  const [started, certs] = await Promise.all([
    natsFixture({}, { connect: false }),
    generateCerts(join(tmp, "certs")),
  ]);
  nats = started;
  const { server } = nats;
  ca = await readFile(certs.ca);
  certFiles = { cert: certs.serverCert, key: certs.serverKey };
  svc = await serve(fetchApp("echo"), {
    service: "echo",
    connection: { servers: server.url },
    logger: silent,
  });
  const config = {
    limits: { maxHeaderCount: MAX_FIELDS },
    routes: [
      { name: "quick", prefix: "/quick", strip: true, service: "echo", timeout: 200, retry: false as const },
    ],
  };
  https = createGateway({
    listen: "127.0.0.1:0",
    tls: certFiles,
    config,
    connection: { servers: server.url },
    logger: silent,
  });
  plain = createGateway({
    listen: "127.0.0.1:0",
    config,
    connection: { servers: server.url },
    logger: silent,
  });
  [httpsUrl, plainUrl] = (await Promise.all([https.listen(), plain.listen()])).map((a) => a.url) as [
    string,
    string,
  ];
}, 60_000);

afterAll(async () => {
  await Promise.all([https?.close(), plain?.close()]);
  await svc?.stop();
  await nats?.[Symbol.asyncDispose]();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** A TLS handshake with `options`: the negotiated protocol and cipher, or the error code. */
async function handshake(
  port: number,
  options: tls.ConnectionOptions,
): Promise<{ protocol?: string; cipher?: string; error?: string }> {
  const socket = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ca, ...options });
  try {
    await Promise.race([
      once(socket, "secureConnect"),
      once(socket, "error").then(([e]) => Promise.reject(e)),
    ]);
    return { protocol: socket.getProtocol() ?? undefined, cipher: socket.getCipher().standardName };
  } catch (err) {
    return { error: (err as NodeJS.ErrnoException).code ?? String(err) };
  } finally {
    socket.destroy();
  }
}

/** A TLS server that accepts everything OpenSSL can do, to show that a client setting is usable at all. */
async function permissiveServer(): Promise<tls.Server> {
  const [cert, key] = await Promise.all([readFile(certFiles.cert), readFile(certFiles.key)]);
  const srv = tls.createServer({ cert, key, minVersion: "TLSv1", ciphers: "ALL:@SECLEVEL=0" }, (s) =>
    s.end(),
  );
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  return srv;
}

const OLD_TLS = { minVersion: "TLSv1", maxVersion: "TLSv1.1", ciphers: "ALL:@SECLEVEL=0" } as const;
const CBC_TLS12 = {
  maxVersion: "TLSv1.2",
  ciphers: "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA256",
} as const;

describe("gateway hardening - TLS", () => {
  it("gateway hardening - TLS 1.0/1.1 and TLS 1.2 CBC suites are refused; TLS 1.2 AEAD and TLS 1.3 are served", async () => {
    const port = https.port!;
    const control = await permissiveServer();
    try {
      const controlPort = (control.address() as net.AddressInfo).port;
      // the weak settings work against a permissive server: the gateway is what refuses them
      expect((await handshake(controlPort, OLD_TLS)).protocol).toMatch(/^TLSv1(\.1)?$/);
      expect((await handshake(controlPort, CBC_TLS12)).cipher).toMatch(/_CBC_/);

      expect((await handshake(port, OLD_TLS)).error).toMatch(/PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL/);
      expect((await handshake(port, CBC_TLS12)).error).toMatch(/HANDSHAKE_FAILURE/);
    } finally {
      control.close();
    }
    const aead12 = await handshake(port, { maxVersion: "TLSv1.2" });
    expect(aead12.protocol).toBe("TLSv1.2");
    expect(aead12.cipher).toMatch(/^TLS_ECDHE_ECDSA_WITH_(AES_\d+_GCM|CHACHA20_POLY1305)/);
    const v13 = await handshake(port, {});
    expect(v13.protocol).toBe("TLSv1.3");
  });
});

function fields(n: number): string {
  return Array.from({ length: n }, (_, i) => `x-f${i}: 1\r\n`).join("");
}

/** Sends `text` on a new plain connection and returns all the gateway wrote until it closed. */
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(text));
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")));
  });
}

describe("gateway hardening - header count", () => {
  it("gateway hardening - HTTP/1.1: more than maxHeaderCount fields is 431 and never reaches the service", async () => {
    const before = svc.stats().requests;
    // Host + Connection + 8 = 10 fields: served
    const ok = await raw(
      plain.port!,
      `GET /echo/echo HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n${fields(8)}\r\n`,
    );
    expect(ok).toMatch(/^HTTP\/1\.1 200 /);
    const refused = await raw(
      plain.port!,
      `GET /echo/echo HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n${fields(9)}\r\n`,
    );
    expect(refused).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(refused.slice(refused.indexOf("\r\n\r\n") + 4))).toMatchObject({
      error: "too many header fields",
      code: "NM_ERR_BAD_REQUEST",
      status: 431,
    });
    // a request with 3000 fields (more than Node's own 2000) is refused, not cut down to 2000
    const flood = await raw(plain.port!, `GET /echo/echo HTTP/1.1\r\nHost: gw\r\n${fields(3000)}\r\n`);
    expect(flood).toMatch(/^HTTP\/1\.1 431 /);
    expect(svc.stats().requests - before).toBe(1);
  });

  it("gateway hardening - HTTP/2: more than maxHeaderCount fields resets the stream; the session keeps serving", async () => {
    const session = http2.connect(httpsUrl, { ca, servername: "localhost" });
    session.on("error", () => {});
    const get = (n: number) =>
      new Promise<{ status?: number; rst?: number }>((resolve) => {
        const headers = Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-f${i}`, "1"]));
        const stream = session.request({ ":path": "/echo/whoami", ...headers });
        stream.on("response", (h) => {
          stream.resume();
          stream.on("end", () => resolve({ status: Number(h[":status"]) }));
        });
        stream.on("error", () => {});
        stream.on("close", () => resolve({ rst: stream.rstCode }));
      });
    try {
      expect(await get(MAX_FIELDS)).toEqual({ status: 200 });
      expect(await get(MAX_FIELDS + 1)).toEqual({ rst: http2.constants.NGHTTP2_ENHANCE_YOUR_CALM });
      expect(await get(1)).toEqual({ status: 200 });
    } finally {
      session.close();
    }
  });

  it("gateway hardening - HTTP/2: obs-text header values are 400; CR/LF and leading-space fields never reach the service", async () => {
    const session = http2.connect(httpsUrl, { ca, servername: "localhost" });
    session.on("error", () => {});
    try {
      const before = svc.stats().requests;
      const status = await new Promise<number>((resolve, reject) => {
        // Node's client refuses CR, LF, NUL and DEL itself; obs-text (0x80-0xFF) it sends
        const stream = session.request({
          ":path": "/echo/echo",
          "x-name": "caf\u00e9",
          "x-bin": "\u00ff\u0080",
        });
        stream.on("response", (h) => {
          stream.resume();
          resolve(Number(h[":status"]));
        });
        stream.on("error", reject);
      });
      expect(status).toBe(400);
      // CR, LF or leading whitespace inside a value: nghttp2 drops the field, so neither it nor an
      // injected line reaches the service (the request itself goes on)
      for (const evil of ["a\r\nx-injected: 1", "a\nx-injected: 1", "a\rb", " lead"]) {
        const seen = await new Promise<string[]>((resolve, reject) => {
          const stream = session.request({ ":path": "/echo/echo", "x-evil": evil });
          stream.on("response", (h) => {
            stream.resume();
            resolve(JSON.parse(decodeURIComponent(String(h["x-echo-headers"]))) as string[]);
          });
          stream.on("error", reject);
        });
        expect(seen, JSON.stringify(evil)).not.toContain("x-evil");
        expect(seen, JSON.stringify(evil)).not.toContain("x-injected");
        expect(seen.join(" "), JSON.stringify(evil)).not.toMatch(/[\r\n]|injected/);
      }
      const ok = await new Promise<number>((resolve) => {
        const stream = session.request({ ":path": "/echo/whoami" });
        stream.on("response", (h) => {
          stream.resume();
          resolve(Number(h[":status"]));
        });
      });
      expect(ok).toBe(200);
      expect(svc.stats().requests - before).toBe(5);
    } finally {
      session.close();
    }
  });

  it("gateway hardening - limits.maxHeaderCount must be a positive integer", () => {
    expect(() => createGateway({ config: { limits: { maxHeaderCount: 0 } }, logger: silent })).toThrow(
      GatewayConfigError,
    );
    expect(() => createGateway({ config: { limits: { maxHeaderCount: 0 } }, logger: silent })).toThrow(
      /limits\.maxHeaderCount/,
    );
  });
});

describe("gateway hardening - what 5xx bodies reveal", () => {
  it("gateway hardening - 503 and 504 bodies name no subject, instance or stack", async () => {
    const nobody = await request(`${plainUrl}/nobody/x`);
    const slow = await request(`${plainUrl}/quick/slow?ms=2000`);
    for (const [res, status] of [
      [nobody, 503],
      [slow, 504],
    ] as const) {
      expect(res.statusCode).toBe(status);
      const text = await res.body.text();
      expect(text).not.toMatch(/mesh\.|_INBOX|\$SRV|nats:\/\/|127\.0\.0\.1|\n\s+at |Error:/);
      expect(JSON.parse(text)).toMatchObject({ status });
    }
  });
});
