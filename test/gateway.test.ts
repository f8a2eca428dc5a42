/**
 * The gateway against a real nats-server and real sockets: routing, forwarding, errors, retries,
 * policies and keep-alive. Services are the shared test API (test/support/apps.ts).
 */
import http from "node:http";
import net from "node:net";
import { pino } from "pino";
import { Client, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGateway, type Gateway, type GatewayRetryEvent } from "../src/gateway/index.js";
import type { PolicyDecision, PolicyRequest } from "../src/gateway/policies/types.js";
import { connect, NoRespondersError, type ServiceHandle, serve } from "../src/index.js";
import { fetchApp, nodeApp } from "./support/apps.js";
import { type NatsServerFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import type { NatsServer } from "./support/nats-server.js";

/** The shared gateway's log lines, parsed. */
const logLines: Array<Record<string, unknown>> = [];
const capture = pino({ level: "info" }, { write: (line: string) => logLines.push(JSON.parse(line)) });

let nats: NatsServerFixture;
let server: NatsServer;
let echo: ServiceHandle;
let other: ServiceHandle;
let gateway: Gateway;
let base: string;
let port: number;
const late: ServiceHandle[] = [];
/** What the `auth: { hook: true }` routes decide; set by each policy test. */
let decide: (req: PolicyRequest) => PolicyDecision = () => ({ action: "continue" });
/** Called before each retry; set by the retry tests. */
let onRetry: (event: GatewayRetryEvent) => Promise<void> | void = () => {};

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

async function call(
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Answer> {
  const res = await request(`${base}${path}`, {
    method: (init.method ?? "GET") as "GET",
    headers: init.headers,
    body: init.body,
  });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

/** The request headers the echo endpoint saw, as [lower-case name, value] pairs. */
function echoed(answer: Answer): Array<[string, string]> {
  const raw = JSON.parse(decodeURIComponent(String(answer.headers["x-echo-headers"]))) as string[];
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < raw.length; i += 2) pairs.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
  return pairs;
}

function seen(answer: Answer, name: string): string[] {
  return echoed(answer)
    .filter(([n]) => n === name)
    .map(([, v]) => v);
}

/** Sends raw bytes on a new connection and returns everything the gateway wrote until it closed. */
function raw(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(text));
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")));
  });
}

function rawBody(response: string): Record<string, unknown> {
  return JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4)) as Record<string, unknown>;
}

beforeAll(async () => {
  nats = await natsFixture({}, { connect: false });
  ({ server } = nats);
  const connection = { servers: server.url };
  echo = await serve(fetchApp("echo"), { service: "echo", connection, logger: silent });
  other = await serve(nodeApp("other"), { service: "other", connection, logger: silent });
  gateway = createGateway({
    listen: "127.0.0.1:0",
    connection,
    logger: capture,
    auth: (req) => decide(req),
    onRetry: (event) => onRetry(event),
    config: {
      routes: [
        { name: "strip", prefix: "/api/echo", strip: true, service: "echo" },
        { name: "keep", prefix: "/echo", service: "echo" },
        { name: "host", host: "echo.example.test", service: "echo" },
        { name: "small", prefix: "/small", strip: true, service: "echo", maxBody: "1kb" },
        { name: "quick", prefix: "/quick", strip: true, service: "echo", timeout: 300 },
        {
          name: "guarded",
          prefix: "/guarded",
          strip: true,
          service: "echo",
          cors: { origins: ["https://app.example"] },
          auth: { hook: true },
        },
      ],
    },
  });
  const addresses = await gateway.listen();
  base = addresses.url;
  port = addresses.address.port;
});

afterAll(async () => {
  await gateway?.close();
  for (const s of [echo, other, ...late]) await s?.stop();
  await nats?.[Symbol.asyncDispose]();
});

describe("gateway - routes", () => {
  it("gateway - a prefix route with strip sends the rest of the path, query kept", async () => {
    const res = await call("/api/echo/echo?x=1");
    expect(res.status).toBe(200);
    expect(res.headers["x-echo-path"]).toBe("/echo?x=1");
    expect(res.headers["mesh-service"]).toBe("echo");
  });

  it("gateway - a prefix route without strip sends the path unchanged", async () => {
    const res = await call("/echo?x=2");
    expect(res.status).toBe(200);
    expect(res.headers["x-echo-path"]).toBe("/echo?x=2");
  });

  it("gateway - a host route matches the Host header, any case and port", async () => {
    const res = await call("/echo?via=host", { headers: { host: "Echo.Example.Test:8080" } });
    expect(res.status).toBe(200);
    expect(res.headers["x-echo-path"]).toBe("/echo?via=host");
    expect(seen(res, "x-forwarded-host")).toEqual(["Echo.Example.Test:8080"]);
  });

  it("gateway - the default rule sends /<service>/<rest> to <service> with path /<rest>", async () => {
    const res = await call("/other/echo?y=3");
    expect(res.status).toBe(200);
    expect(res.headers["mesh-service"]).toBe("other");
    expect(res.headers["x-echo-path"]).toBe("/echo?y=3");
    expect(res.headers["mesh-instance"]).toBe(other.instance);
  });

  it("gateway - no route is 404 with the JSON error body, and no default rule when disabled", async () => {
    const res = await call("/Not-A-Service/x");
    expect(res.status).toBe(404);
    expect(res.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(res.text)).toEqual({
      error: "no route for GET /Not-A-Service/x",
      code: "NM_ERR_NO_ROUTE",
      status: 404,
      requestId: res.headers["x-request-id"],
    });
    await using strict = createGateway({
      listen: "127.0.0.1:0",
      connection: { servers: server.url },
      logger: silent,
      config: { defaultRoute: false, routes: [{ prefix: "/echo", service: "echo" }] },
    });
    const { url } = await strict.listen();
    expect((await request(`${url}/other/echo`)).statusCode).toBe(404);
    expect((await request(`${url}/echo`)).statusCode).toBe(200);
  });
});

describe("gateway - forwarding", () => {
  function send(path: string, headers: Record<string, string>): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port, path, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString() }),
        );
      });
      req.on("error", reject);
      req.end();
    });
  }

  it("gateway - hop-by-hop headers and those named in Connection are removed", async () => {
    const res = await send("/echo", {
      Connection: "keep-alive, X-Hop-Secret",
      "Keep-Alive": "timeout=5",
      "X-Hop-Secret": "1",
      "Proxy-Connection": "keep-alive",
      TE: "trailers",
      "X-Kept": "yes",
    });
    expect(res.status).toBe(200);
    const names = echoed(res).map(([n]) => n);
    for (const hop of ["connection", "keep-alive", "x-hop-secret", "proxy-connection", "te"]) {
      expect(names).not.toContain(hop);
    }
    expect(seen(res, "x-kept")).toEqual(["yes"]);
  });

  it("gateway - X-Forwarded-For/-Proto/-Host are set, client-supplied ones ignored from an untrusted peer", async () => {
    const res = await send("/echo", {
      "X-Forwarded-For": "6.6.6.6",
      "X-Forwarded-Proto": "https",
      "X-Forwarded-Host": "evil.example",
      Forwarded: "for=6.6.6.6",
    });
    expect(seen(res, "x-forwarded-for")).toEqual(["127.0.0.1"]);
    expect(seen(res, "x-forwarded-proto")).toEqual(["http"]);
    expect(seen(res, "x-forwarded-host")).toEqual([`127.0.0.1:${port}`]);
    expect(seen(res, "forwarded")).toEqual([]);
  });

  it("gateway - from a trusted proxy the chain is kept and extended, and policies see the real client IP", async () => {
    const clientIps: string[] = [];
    await using trusting = createGateway({
      listen: "127.0.0.1:0",
      connection: { servers: server.url },
      logger: silent,
      auth: (req) => {
        clientIps.push(req.clientIp);
        return { action: "continue" };
      },
      config: { trustedProxies: ["127.0.0.0/8"], defaults: { auth: { hook: true } } },
    });
    const { url } = await trusting.listen();
    const res = await request(`${url}/echo/echo`, {
      headers: {
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "shop.example",
      },
    });
    const answer = { status: res.statusCode, headers: res.headers, text: await res.body.text() };
    expect(seen(answer, "x-forwarded-for")).toEqual(["203.0.113.7, 127.0.0.1"]);
    expect(seen(answer, "x-forwarded-proto")).toEqual(["https"]);
    expect(seen(answer, "x-forwarded-host")).toEqual(["shop.example"]);
    expect(clientIps).toEqual(["203.0.113.7"]);
  });

  it("gateway - reserved mesh-* request headers cannot be forged; provenance headers come back", async () => {
    const res = await send("/echo", {
      "Mesh-Instance": "forged",
      "mesh-service": "forged",
      "MESH-ERROR": "x",
    });
    expect(echoed(res).filter(([n]) => n.startsWith("mesh-"))).toEqual([]);
    expect(res.headers["mesh-instance"]).toBe(echo.instance);
    expect(res.headers["mesh-service"]).toBe("echo");
    expect(res.headers["mesh-server"]).toBeTruthy();
  });

  it("gateway - a request id is generated when absent, kept when valid, replaced when not, and returned", async () => {
    const generated = await call("/echo");
    const id = generated.headers["x-request-id"] as string;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen(generated, "x-request-id")).toEqual([id]);

    const kept = await call("/echo", { headers: { "x-request-id": "abc-123:x.y_z" } });
    expect(kept.headers["x-request-id"]).toBe("abc-123:x.y_z");
    expect(seen(kept, "x-request-id")).toEqual(["abc-123:x.y_z"]);

    for (const bad of ["has space", "x".repeat(129), "semi;colon"]) {
      const replaced = await call("/echo", { headers: { "x-request-id": bad } });
      expect(replaced.headers["x-request-id"]).not.toBe(bad);
      expect(seen(replaced, "x-request-id")).toEqual([replaced.headers["x-request-id"]]);
    }
  });

  it("gateway - a body is forwarded with its length, HTTP/1.1 response headers keep multiple values", async () => {
    const res = await call("/echo", {
      method: "POST",
      body: "hello",
      headers: { "content-type": "text/plain" },
    });
    expect(res.text).toBe("hello");
    expect(seen(res, "content-length")).toEqual(["5"]);
    const multi = await call("/api/echo/multi");
    expect(multi.headers["set-cookie"]).toEqual(["a=1; Path=/", "b=2; Path=/"]);
  });
});

describe("gateway - errors", () => {
  it("gateway - no responders is 503 with Retry-After at once, not after the timeout", async () => {
    const started = performance.now();
    const res = await call("/nobody/here");
    expect(performance.now() - started).toBeLessThan(1000); // the route's timeout is 30 s
    expect(res.status).toBe(503);
    expect(res.headers["retry-after"]).toBe("1");
    expect(res.headers["mesh-error"]).toBe("NM_ERR_NO_RESPONDERS");
    const body = JSON.parse(res.text) as Record<string, unknown>;
    expect(body).toMatchObject({ code: "NM_ERR_NO_RESPONDERS", status: 503 });
    expect(JSON.stringify(body)).not.toMatch(/mesh\.nobody/); // no internal subject
  });

  it("gateway - a service slower than the route's timeout is 504", async () => {
    const started = performance.now();
    const res = await call("/quick/slow?ms=3000");
    expect(res.status).toBe(504);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(JSON.parse(res.text)).toMatchObject({ code: "NM_ERR_TIMEOUT", status: 504 });
  });

  it("gateway - a handler's failure is passed on without its detail", async () => {
    const res = await call("/api/echo/throw");
    expect(res.status).toBe(500);
    expect(res.text).not.toContain("secret-internal-detail");
  });

  it("gateway - a Content-Length over maxBody is 413 before any body is sent", async () => {
    const before = echo.stats().requests;
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/small/echo",
        headers: { "content-length": "5000" },
        agent: false,
      });
      req.on("response", (res) => {
        resolve(res.statusCode!);
        req.destroy();
      });
      req.on("error", reject);
      req.flushHeaders(); // headers only: the body never comes
    });
    expect(status).toBe(413);
    expect(echo.stats().requests).toBe(before);
  });

  it("gateway - a streamed (chunked) body is cut off with 413 as soon as it passes maxBody", async () => {
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/small/echo",
        headers: { "transfer-encoding": "chunked" },
        agent: false,
      });
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      });
      req.on("error", () => {}); // the gateway closes the connection after its answer
      req.write(Buffer.alloc(600, 1));
      req.write(Buffer.alloc(600, 2)); // 1200 > 1024; the request is never ended
    });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toMatchObject({ code: "NM_ERR_BODY_TOO_LARGE", status: 413 });
  });

  it("gateway - malformed requests are 400 with the JSON body: bad escape, dot segments, bad header", async () => {
    const badEscape = await raw(`GET /echo%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(badEscape).toMatch(/^HTTP\/1\.1 400 /);
    expect(rawBody(badEscape)).toMatchObject({ code: "NM_ERR_BAD_REQUEST", status: 400 });

    const dots = await raw(`GET /api/echo/../../other/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(dots).toMatch(/^HTTP\/1\.1 400 /);
    expect(rawBody(dots).error).toMatch(/segments/);

    const header = await raw(`GET /echo HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n`);
    expect(header).toMatch(/^HTTP\/1\.1 400 /);
    const body = rawBody(header);
    expect(body).toMatchObject({ code: "NM_ERR_BAD_REQUEST", status: 400 });
    expect(header).toContain(`x-request-id: ${body.requestId}`);

    const nonAscii = await call("/echo", { headers: { "x-name": "caf\u00e9" } });
    expect(nonAscii.status).toBe(400);
  });
});

describe("gateway - retries", () => {
  it("gateway - an idempotent GET is sent again and succeeds once the service subscribed", async () => {
    const events: GatewayRetryEvent[] = [];
    onRetry = async (event) => {
      events.push(event);
      if (events.length === 1) {
        late.push(
          await serve(fetchApp("late"), {
            service: "late",
            connection: { servers: server.url },
            logger: silent,
          }),
        );
      }
    };
    try {
      const res = await call("/late/whoami");
      expect(res.status).toBe(200);
      expect(res.text).toBe("late");
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ attempt: 1, route: "default", service: "late", method: "GET" });
      expect(events[0]!.error).toBeInstanceOf(NoRespondersError);
    } finally {
      onRetry = () => {};
    }
  });

  it("gateway - a POST is not retried, unless it carries an Idempotency-Key", async () => {
    const events: GatewayRetryEvent[] = [];
    onRetry = async (event) => {
      events.push(event);
      late.push(
        await serve(fetchApp("keyed"), {
          service: "keyed",
          connection: { servers: server.url },
          logger: silent,
        }),
      );
    };
    try {
      const plain = await call("/unkeyed/echo", { method: "POST", body: "x" });
      expect(plain.status).toBe(503);
      expect(events).toHaveLength(0);

      const keyed = await call("/keyed/echo", {
        method: "POST",
        body: "x",
        headers: { "idempotency-key": "k-1" },
      });
      expect(keyed.status).toBe(200);
      expect(keyed.text).toBe("x");
      expect(events.map((e) => e.service)).toEqual(["keyed"]);
    } finally {
      onRetry = () => {};
    }
  });
});

describe("gateway - policies", () => {
  it("gateway - a policy that answers 401 stops the request before any NATS traffic; earlier headers are kept", async () => {
    decide = () => ({
      action: "respond",
      status: 401,
      message: "missing token",
      code: "NM_ERR_UNAUTHORIZED",
    });
    const before = echo.stats().requests;
    const res = await call("/guarded/echo", { headers: { origin: "https://app.example" } });
    expect(res.status).toBe(401);
    expect(JSON.parse(res.text)).toEqual({
      error: "missing token",
      code: "NM_ERR_UNAUTHORIZED",
      status: 401,
      requestId: res.headers["x-request-id"],
    });
    expect(res.headers["access-control-allow-origin"]).toBe("https://app.example"); // from cors, which ran first
    expect(echo.stats().requests).toBe(before);
  });

  it("gateway - a continuing policy adds response headers and forwarded headers (replacing the client's)", async () => {
    decide = () => ({
      action: "continue",
      responseHeaders: [["x-policy", "yes"]],
      forwardHeaders: [["x-user", "alice"]],
    });
    const res = await call("/guarded/echo", { headers: { "x-user": "mallory" } });
    expect(res.status).toBe(200);
    expect(res.headers["x-policy"]).toBe("yes");
    expect(seen(res, "x-user")).toEqual(["alice"]);
    const failed = await call("/guarded/status/503");
    expect(failed.headers["x-policy"]).toBe("yes");
  });

  it("gateway - a CORS preflight is answered 204 with an empty body, without calling the service", async () => {
    decide = () => ({ action: "respond", status: 401, message: "no" });
    const before = echo.stats().requests;
    const res = await call("/guarded/echo", {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "PUT" },
    });
    expect(res.status).toBe(204);
    expect(res.text).toBe("");
    expect(res.headers["access-control-allow-origin"]).toBe("https://app.example");
    expect(echo.stats().requests).toBe(before);
  });
});

describe("gateway - logs", () => {
  it("gateway - one access line per request: method, path, status, duration, route, service, instance, request id", async () => {
    const res = await call("/api/echo/whoami?secret=1", { headers: { "x-request-id": "log-line-1" } });
    expect(res.status).toBe(200);
    const lines = logLines.filter((l) => l.requestId === "log-line-1");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      msg: "request",
      method: "GET",
      path: "/api/echo/whoami", // no query: it may carry secrets
      status: 200,
      route: "strip",
      service: "echo",
      instance: echo.instance,
    });
    expect(typeof lines[0]!.durationMs).toBe("number");
  });
});

describe("gateway - connections", () => {
  it("gateway - a closed NATS connection is 503 with Retry-After", async () => {
    const mesh = await connect({ servers: server.url });
    await using own = createGateway({ listen: "127.0.0.1:0", nc: mesh.nc, logger: silent });
    const { url } = await own.listen();
    await mesh.close();
    const res = await request(`${url}/echo/echo`);
    expect(res.statusCode).toBe(503);
    expect(res.headers["retry-after"]).toBe("1");
    expect(JSON.parse(await res.body.text())).toMatchObject({
      code: "NM_ERR_CONNECTION_CLOSED",
      status: 503,
    });
  });

  it("gateway - keep-alive: two requests on one undici Client use one connection", async () => {
    const client = new Client(base);
    let connects = 0;
    client.on("connect", () => connects++);
    try {
      for (const path of ["/echo?n=1", "/echo?n=2"]) {
        const res = await client.request({ path, method: "GET" });
        expect(res.statusCode).toBe(200);
        await res.body.text();
      }
      expect(connects).toBe(1);
    } finally {
      await client.close();
    }
  });
});
