import http from "node:http";
import net from "node:net";
import type { NatsConnection } from "@nats-io/transport-node";
import { errors, request, fetch as undiciFetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createFetch,
  MeshDispatcher,
  type MeshFetch,
  RedirectError,
  RedirectOutsideError,
  type ServiceHandle,
  serve,
  TimeoutError,
} from "../src/index.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";

/** What a service saw of one request. */
interface Seen {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * `/r/<status>?to=<location>` answers a redirect; `/loop/<n>` redirects to `/loop/<n+1>` for ever,
 * `/slow-loop/<n>` too after 40 ms;
 * every other path echoes the request as JSON.
 */
async function redirector(req: Request): Promise<Response> {
  const url = new URL(req.url);
  const body = await req.text();
  const m = /^\/r\/(\d+)$/.exec(url.pathname);
  if (m)
    return new Response("moved", {
      status: Number(m[1]),
      headers: { location: url.searchParams.get("to")! },
    });
  const loop = /^\/loop\/(\d+)$/.exec(url.pathname);
  if (loop) return new Response(null, { status: 302, headers: { location: `/loop/${Number(loop[1]) + 1}` } });
  const slow = /^\/slow-loop\/(\d+)$/.exec(url.pathname);
  if (slow) {
    // A slow service: each hop of the chain takes a while, so the chain outlasts the call's timeout.
    await new Promise((r) => setTimeout(r, 40));
    return new Response(null, { status: 307, headers: { location: `/slow-loop/${Number(slow[1]) + 1}` } });
  }
  if (url.pathname === "/no-location") return new Response("x", { status: 302 });
  const seen: Seen = { method: req.method, url: req.url, headers: Object.fromEntries(req.headers), body };
  return Response.json(seen);
}

describe("client - fetch standard - redirects (https://fetch.spec.whatwg.org/#http-redirect-fetch)", () => {
  let nats: NatsFixture;
  let nc: NatsConnection;
  const services: ServiceHandle[] = [];
  let fetch: MeshFetch;

  beforeAll(async () => {
    nats = await natsFixture();
    nc = nats.nc;
    for (const service of ["alpha", "beta"])
      services.push(await serve(redirector, { service, nc, logger: silent }));
    fetch = createFetch({ nc, timeout: 5000 });
  });
  afterAll(async () => {
    await fetch?.close();
    for (const s of services) await s.stop();
    await nats?.[Symbol.asyncDispose]();
  });

  const post = (to: string, status: number, init: RequestInit = {}) =>
    fetch(`http://alpha.nats/r/${status}?to=${encodeURIComponent(to)}`, {
      method: "POST",
      body: "payload",
      headers: { "content-type": "text/plain", "content-language": "en", "x-keep": "1" },
      ...init,
    });

  it("client - fetch standard - follow (default): 301 and 302 turn POST into GET without a body (step 11)", async () => {
    for (const status of [301, 302]) {
      const res = await post("/echo", status);
      expect(res.status).toBe(200);
      expect(res.redirected).toBe(true);
      expect(res.clone().redirected).toBe(true);
      expect(res.url).toBe("http://alpha.nats/echo");
      const seen = (await res.json()) as Seen;
      expect(seen.method).toBe("GET");
      expect(seen.body).toBe("");
      expect(seen.headers["content-type"]).toBeUndefined();
      expect(seen.headers["content-language"]).toBeUndefined();
      expect(seen.headers["x-keep"]).toBe("1");
    }
  });

  it("client - fetch standard - 303 turns PUT into GET without body headers, HEAD stays HEAD (step 11)", async () => {
    const res = await fetch("http://alpha.nats/r/303?to=/echo", {
      method: "PUT",
      body: "payload",
      headers: { "content-type": "text/plain", "content-encoding": "identity", "content-location": "/x" },
    });
    const seen = (await res.json()) as Seen;
    expect(seen.method).toBe("GET");
    expect(seen.body).toBe("");
    expect(Object.keys(seen.headers).filter((h) => h.startsWith("content-"))).toEqual([]);
    const head = await fetch("http://alpha.nats/r/303?to=/echo", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.redirected).toBe(true);
  });

  it("client - fetch standard - 307 and 308 keep the method, the body and its headers, across services", async () => {
    for (const status of [307, 308]) {
      const res = await post("http://beta.nats/echo?q=1", status);
      expect(res.url).toBe("http://beta.nats/echo?q=1");
      const seen = (await res.json()) as Seen;
      expect(seen.url).toMatch(/^http:\/\/beta[^/]*\/echo\?q=1$/);
      expect(seen.method).toBe("POST");
      expect(seen.body).toBe("payload");
      expect(seen.headers["content-type"]).toBe("text/plain");
    }
  });

  it("client - fetch standard - a relative Location resolves against the current URL (step 2)", async () => {
    const res = await fetch("http://beta.nats/r/307?to=echo%3Fx%3D1");
    expect(res.url).toBe("http://beta.nats/r/echo?x=1");
    expect(((await res.json()) as Seen).url).toMatch(/\/r\/echo\?x=1$/);
    const none = await fetch("http://alpha.nats/no-location");
    expect(none.status).toBe(302);
    expect(none.redirected).toBe(false);
    expect(await none.text()).toBe("x");
  });

  it("client - fetch standard - authorization is dropped when the redirect changes origin (step 12)", async () => {
    const same = await fetch("http://alpha.nats/r/302?to=/echo", { headers: { authorization: "Bearer t" } });
    expect(((await same.json()) as Seen).headers.authorization).toBe("Bearer t");
    const other = await fetch("http://alpha.nats/r/302?to=http://beta.nats/echo", {
      headers: { authorization: "Bearer t" },
    });
    expect(((await other.json()) as Seen).headers.authorization).toBeUndefined();
  });

  it("client - fetch standard - the 21st redirect is a network error: TypeError (step 6)", async () => {
    const err = await fetch("http://alpha.nats/loop/0").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect((err as TypeError).cause).toBeInstanceOf(RedirectError);
    expect(((err as TypeError).cause as RedirectError).code).toBe("NM_ERR_REDIRECT");
  });

  it("client - fetch standard - a streamed body cannot follow a 307: TypeError (step 10), but a 303 drops it", async () => {
    const stream = () =>
      new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new TextEncoder().encode("streamed"));
          c.close();
        },
      });
    const err = await fetch("http://alpha.nats/r/307?to=/echo", {
      method: "POST",
      body: stream(),
      duplex: "half",
    } as RequestInit).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(((err as TypeError).cause as RedirectError).message).toMatch(/cannot be sent again/);
    const res = await fetch("http://alpha.nats/r/303?to=/echo", {
      method: "POST",
      body: stream(),
      duplex: "half",
    } as RequestInit);
    expect(((await res.json()) as Seen).method).toBe("GET");
  });

  it("client - fetch standard - manual returns the 3xx itself, error rejects with a TypeError (HTTP fetch, redirect mode)", async () => {
    const manual = await fetch("http://alpha.nats/r/301?to=/echo", { redirect: "manual" });
    expect(manual.status).toBe(301);
    expect(manual.headers.get("location")).toBe("/echo");
    expect(manual.redirected).toBe(false);
    expect(await manual.text()).toBe("moved");
    const viaRequest = await fetch(new Request("http://alpha.nats/r/301?to=/echo", { redirect: "manual" }));
    expect(viaRequest.status).toBe(301);
    const err = await fetch("http://alpha.nats/r/307?to=/echo", { redirect: "error" }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TypeError);
    expect((err as TypeError).cause).toBeInstanceOf(RedirectError);
  });

  it("client - fetch standard - a redirect outside the mesh is refused with NM_ERR_REDIRECT_OUTSIDE", async () => {
    const err = await fetch("http://alpha.nats/r/302?to=https://example.com/login").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedirectOutsideError);
    expect((err as RedirectOutsideError).code).toBe("NM_ERR_REDIRECT_OUTSIDE");
    expect((err as RedirectOutsideError).location).toBe("https://example.com/login");
    const scheme = await fetch("http://alpha.nats/r/302?to=ftp://alpha.nats/").catch((e: unknown) => e);
    expect(scheme).toBeInstanceOf(TypeError); // step 5: not an HTTP(S) scheme
  });

  it("client - fetch standard - externalRedirect hands a redirect out of the mesh to the given fetch", async () => {
    const calls: [string, RequestInit | undefined][] = [];
    const outside = (async (input: string | URL | Request, init?: RequestInit) => {
      calls.push([String(input), init]);
      return new Response("from outside");
    }) as typeof globalThis.fetch;
    await using external = createFetch({ nc, timeout: 5000, externalRedirect: outside });
    const res = await external("http://alpha.nats/r/307?to=https://example.com/x", {
      method: "POST",
      body: "payload",
    });
    expect(await res.text()).toBe("from outside");
    expect(res.redirected).toBe(true);
    expect(calls).toHaveLength(1);
    expect(calls[0]![0]).toBe("https://example.com/x");
    expect(calls[0]![1]!.method).toBe("POST");
    expect(new TextDecoder().decode(calls[0]![1]!.body as Uint8Array)).toBe("payload");
  });

  it('client - fetch standard - externalRedirect: "platform" follows a redirect out of the mesh with the platform fetch', async () => {
    const server = http.createServer((req, res) => res.end(`outside ${req.method} ${req.url}`));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as net.AddressInfo;
    try {
      await using platform = createFetch({ nc, timeout: 5000, externalRedirect: "platform" });
      const res = await platform(`http://alpha.nats/r/303?to=http://127.0.0.1:${port}/there`, {
        method: "POST",
        body: "payload",
      });
      expect(await res.text()).toBe("outside GET /there");
      expect(res.redirected).toBe(true);
      expect(res.url).toBe(`http://127.0.0.1:${port}/there`);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it("client - fetch standard - the chain of redirects runs within the call's timeout", async () => {
    // One hop fits in the timeout, the chain (20 hops) does not.
    const err = await fetch("http://alpha.nats/slow-loop/0", { timeout: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).timeout).toBe(300);
  });
});

describe("client - fetch standard - signal and timeout while connecting", () => {
  let listener: net.Server;
  let port: number;
  const sockets = new Set<net.Socket>();

  beforeAll(async () => {
    // A server that accepts and never says anything: the NATS connection never opens.
    listener = net.createServer((s) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    });
    await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
    port = (listener.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => listener.close(r));
  });

  const silentFetch = () => createFetch({ connection: { servers: `127.0.0.1:${port}` }, timeout: 60_000 });

  it("client - fetch standard - an abort during the connection rejects with the signal's reason (fetch step: abort fetch)", async () => {
    const fetch = silentFetch();
    const signal = AbortSignal.timeout(300);
    const err = await fetch("http://weather.nats/", { signal }).catch((e: unknown) => e);
    expect(err).toBe(signal.reason);
    expect((err as DOMException).name).toBe("TimeoutError");
    await fetch.close();
  });

  it("client - fetch standard - MeshDispatcher: an abort during the connection rejects with the signal's reason", async () => {
    const dispatcher = new MeshDispatcher({ connection: { servers: `127.0.0.1:${port}` }, timeout: 60_000 });
    const signal = AbortSignal.timeout(300);
    const err = await request("http://weather.nats/", { dispatcher, signal }).catch((e: unknown) => e);
    expect(err).toBe(signal.reason);
    await dispatcher.close();
  });

  it("client - fetch standard - the call's timeout counts the connection: TimeoutError", async () => {
    const fetch = silentFetch();
    const err = await fetch("http://weather.nats/", { timeout: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).code).toBe("NM_ERR_TIMEOUT");
    expect((err as TimeoutError).service).toBe("weather");
    expect((err as TimeoutError).timeout).toBe(300);
    await fetch.close();
  });
});

describe("client - fetch standard - MeshDispatcher's headersTimeout and bodyTimeout (undici Client options)", () => {
  let nats: NatsFixture;
  let svc: ServiceHandle;
  let release: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });

  beforeAll(async () => {
    nats = await natsFixture();
    svc = await serve(
      async (req: Request) => {
        const path = new URL(req.url).pathname;
        // No head until the test ends.
        if (path === "/no-head") await gate;
        if (path === "/stall") {
          // A head and one chunk, then silence until the test ends.
          let sent = false;
          const body = new ReadableStream<Uint8Array>({
            async pull(c) {
              if (sent) {
                await gate;
                c.close();
                return;
              }
              sent = true;
              c.enqueue(new TextEncoder().encode("first"));
            },
          });
          return new Response(body);
        }
        return new Response("ok");
      },
      { service: "slow", nc: nats.nc, logger: silent },
    );
  });
  const dispatchers: MeshDispatcher[] = [];
  const track = (d: MeshDispatcher) => {
    dispatchers.push(d);
    return d;
  };
  afterAll(async () => {
    release();
    for (const d of dispatchers) await d.close();
    await svc?.stop();
    await nats?.[Symbol.asyncDispose]();
  });

  it("client - fetch standard - headersTimeout per request fails with undici's HeadersTimeoutError", async () => {
    const dispatcher = track(new MeshDispatcher({ nc: nats.nc, timeout: 60_000 }));
    const err = await request("http://slow.nats/no-head", { dispatcher, headersTimeout: 200 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(errors.HeadersTimeoutError);
    expect((err as errors.HeadersTimeoutError).code).toBe("UND_ERR_HEADERS_TIMEOUT");
  });

  it("client - fetch standard - headersTimeout as the dispatcher's default applies to undici's fetch", async () => {
    const dispatcher = track(new MeshDispatcher({ nc: nats.nc, timeout: 60_000, headersTimeout: 200 }));
    const err = await undiciFetch("http://slow.nats/no-head", { dispatcher }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect((err as TypeError).cause).toBeInstanceOf(errors.HeadersTimeoutError);
  });

  it("client - fetch standard - headersTimeout 0 disables it: natsmesh's timeout still applies", async () => {
    const dispatcher = track(new MeshDispatcher({ nc: nats.nc, timeout: 200, headersTimeout: 0 }));
    const err = await request("http://slow.nats/no-head", { dispatcher }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
  });

  it("client - fetch standard - bodyTimeout fails a body silent that long with undici's BodyTimeoutError", async () => {
    const dispatcher = track(new MeshDispatcher({ nc: nats.nc, timeout: 60_000 }));
    const res = await request("http://slow.nats/stall", { dispatcher, bodyTimeout: 200 });
    expect(res.statusCode).toBe(200);
    const err = await res.body.text().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(errors.BodyTimeoutError);
    expect((err as errors.BodyTimeoutError).code).toBe("UND_ERR_BODY_TIMEOUT");
  });

  it("client - fetch standard - bodyTimeout as the dispatcher's default applies to undici's fetch", async () => {
    const dispatcher = track(new MeshDispatcher({ nc: nats.nc, timeout: 60_000, bodyTimeout: 200 }));
    const res = await undiciFetch("http://slow.nats/stall", { dispatcher });
    const err = await res.text().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect((err as TypeError).cause).toBeInstanceOf(errors.BodyTimeoutError);
  });
});
