import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ConnectionClosedError,
  createFetch,
  type MeshFetch,
  NoRespondersError,
  PayloadTooLargeError,
  type ServiceHandle,
  serve,
  TimeoutError,
} from "../src/index.js";
import { bytes, fetchApp, nodeApp, SECRET } from "./support/apps.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";

const MAX_PAYLOAD = 64 * 1024;

/** One suite, run for each adapter: the same API written as a Fetch handler and as a Node listener. */
describe.each([
  { kind: "fetch", app: () => fetchApp() },
  { kind: "node", app: () => nodeApp() },
])("$kind adapter - conformance", ({ kind, app }) => {
  let nats: NatsFixture;
  let svc: ServiceHandle;
  let fetch: MeshFetch;
  const service = `conf-${kind}`;
  const base = `http://${service}.nats`;

  beforeAll(async () => {
    nats = await natsFixture({ max_payload: MAX_PAYLOAD });
    svc = await serve(app(), { service, nc: nats.nc, logger: silent });
    fetch = createFetch({ nc: nats.nc });
  });
  afterAll(async () => {
    await svc?.stop();
    await nats?.[Symbol.asyncDispose]();
  });

  it("round trip - every method reaches the handler with its name", async () => {
    for (const method of ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"]) {
      const res = await fetch(`${base}/echo`, { method });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-echo-method")).toBe(method);
      if (method === "HEAD") expect(res.body).toBeNull();
    }
  });

  it("round trip - lower-case standard methods are normalised as fetch does", async () => {
    const res = await fetch(`${base}/echo`, { method: "post", body: "x" });
    expect(res.headers.get("x-echo-method")).toBe("POST");
  });

  it("round trip - request headers arrive, multi-valued ones kept", async () => {
    const res = await fetch(`${base}/echo`, {
      headers: [
        ["X-Custom", "v1"],
        ["X-Multi", "a"],
        ["X-Multi", "b"],
        ["Accept", "application/json"],
      ],
    });
    const pairs = JSON.parse(decodeURIComponent(res.headers.get("x-echo-headers")!)) as string[];
    const values = (name: string) =>
      pairs.filter((_, i) => i % 2 === 1 && pairs[i - 1]!.toLowerCase() === name);
    expect(values("x-custom")).toEqual(["v1"]);
    expect(values("accept")).toEqual(["application/json"]);
    // The Fetch API joins repeated request headers; Node's rawHeaders keeps each line.
    expect(values("x-multi")).toEqual(kind === "fetch" ? ["a, b"] : ["a", "b"]);
  });

  it("round trip - response headers keep multiple values and set-cookie lines", async () => {
    const res = await fetch(`${base}/multi`);
    expect(res.headers.getSetCookie()).toEqual(["a=1; Path=/", "b=2; Path=/"]);
    expect(res.headers.get("x-multi")).toBe("one, two");
    expect(await res.text()).toBe("multi");
  });

  it("round trip - all 256 byte values in a body come back byte-exact", async () => {
    const body = bytes(256 * 4);
    const res = await fetch(`${base}/echo`, { method: "POST", body });
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(body);
  });

  it("round trip - text and JSON bodies keep their content type", async () => {
    let res = await fetch(`${base}/echo`, { method: "POST", body: "héllo wörld" });
    expect(await res.text()).toBe("héllo wörld");
    const pairs = JSON.parse(decodeURIComponent(res.headers.get("x-echo-headers")!)) as string[];
    const at = pairs.findIndex((p, i) => i % 2 === 0 && p.toLowerCase() === "content-type");
    expect(pairs[at + 1]).toBe("text/plain;charset=UTF-8");
    res = await fetch(`${base}/echo`, {
      method: "PUT",
      body: JSON.stringify({ a: [1, 2] }),
      headers: { "content-type": "application/json" },
    });
    expect(await res.json()).toEqual({ a: [1, 2] });
  });

  it("round trip - URLSearchParams and Blob bodies are encoded as fetch encodes them", async () => {
    let res = await fetch(`${base}/echo`, {
      method: "POST",
      body: new URLSearchParams({ a: "1 2", b: "é" }),
    });
    expect(await res.text()).toBe("a=1+2&b=%C3%A9");
    res = await fetch(`${base}/echo`, { method: "POST", body: new Blob([bytes(10)]) });
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes(10));
  });

  it("round trip - an empty body stays empty", async () => {
    const res = await fetch(`${base}/echo`, { method: "POST" });
    expect(res.status).toBe(200);
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  it("round trip - unicode query strings arrive percent-encoded, as HTTP sends them", async () => {
    const res = await fetch(`${base}/echo?q=ünïcødé&city=東京&emoji=🌧`);
    const path = res.headers.get("x-echo-path")!;
    expect(path).toBe(new URL(`${base}/echo?q=ünïcødé&city=東京&emoji=🌧`).search.replace(/^/, "/echo"));
    expect(new URLSearchParams(path.slice(path.indexOf("?"))).get("city")).toBe("東京");
  });

  it("round trip - every status code 200-599 with its status text", async () => {
    const seen: number[] = [];
    await Promise.all(
      Array.from({ length: 400 }, async (_, i) => {
        const code = 200 + i;
        const res = await fetch(`${base}/status/${code}`);
        expect(res.status).toBe(code);
        expect(res.statusText).toBe(`Custom ${code}`);
        if (![204, 205, 304].includes(code)) expect(await res.text()).toBe(`status ${code}`);
        seen.push(code);
      }),
    );
    expect(seen).toHaveLength(400);
  });

  it("bodies - request bodies of max_payload and beyond stream to the instance, byte-exact", async () => {
    for (const n of [
      MAX_PAYLOAD - 512,
      MAX_PAYLOAD - 1,
      MAX_PAYLOAD,
      MAX_PAYLOAD + 1,
      3 * MAX_PAYLOAD + 17,
    ]) {
      const body = bytes(n);
      const res = await fetch(`${base}/echo`, { method: "POST", body });
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(body)).toBe(true);
    }
  });

  it("bodies - a request head larger than max_payload is refused with 413 before anything is sent", async () => {
    const err = await fetch(`${base}/echo`, { headers: { "x-big": "h".repeat(MAX_PAYLOAD) } }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(PayloadTooLargeError);
    expect(err).toMatchObject({ code: "NM_ERR_PAYLOAD_TOO_LARGE", status: 413, service });
  });

  it("bodies - responses of max_payload and beyond stream back, byte-exact", async () => {
    for (const n of [
      MAX_PAYLOAD - 1024,
      MAX_PAYLOAD - 1,
      MAX_PAYLOAD,
      MAX_PAYLOAD + 1,
      3 * MAX_PAYLOAD + 5,
    ]) {
      const res = await fetch(`${base}/bytes?n=${n}`);
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(bytes(n))).toBe(true);
    }
  });

  it("bodies - a caller that takes one-message responses only gets a 500 that says why for a larger one", async () => {
    const single = createFetch({ nc: nats.nc, window: 0 });
    const ok = await single(`${base}/bytes?n=${MAX_PAYLOAD - 1024}`);
    expect(new Uint8Array(await ok.arrayBuffer())).toEqual(bytes(MAX_PAYLOAD - 1024));
    const res = await single(`${base}/bytes?n=${MAX_PAYLOAD + 1}`);
    expect(res.status).toBe(500);
    expect(res.headers.get("mesh-error")).toBe("NM_ERR_PAYLOAD_TOO_LARGE");
    expect((await res.json()).error).toMatch(/exceeds the NATS max_payload/);
  });

  it("errors - a throwing handler yields a safe 500 and the next request succeeds", async () => {
    const res = await fetch(`${base}/throw`);
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain(SECRET);
    expect(JSON.parse(text)).toMatchObject({ error: "internal server error", status: 500 });
    const ok = await fetch(`${base}/echo`);
    expect(ok.status).toBe(200);
    expect(svc.stats().errors).toBeGreaterThanOrEqual(1);
  });

  it("errors - a timeout rejects with TimeoutError naming the service and subject", async () => {
    const err = await fetch(`${base}/slow?ms=2000`, { timeout: 100 }).catch((e) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err).toMatchObject({
      code: "NM_ERR_TIMEOUT",
      status: 504,
      service,
      subject: `mesh.${service}.get`,
    });
    expect(err.message).toMatch(/timed out after 100 ms/);
  });

  it("errors - an aborted signal rejects with its reason", async () => {
    const ac = new AbortController();
    const pending = fetch(`${base}/slow?ms=2000`, { signal: ac.signal });
    ac.abort();
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    await expect(fetch(`${base}/echo`, { signal: ac.signal })).rejects.toMatchObject({ name: "AbortError" });
  });

  it("provenance - responses name the service, instance and NATS server; x-request-id is kept", async () => {
    const res = await fetch(`${base}/echo`, { headers: { "x-request-id": "req-123" } });
    expect(res.headers.get("x-request-id")).toBe("req-123");
    expect(res.headers.get("mesh-service")).toBe(service);
    expect(res.headers.get("mesh-instance")).toBe(svc.instance);
    expect(res.headers.get("mesh-server")).toBe(nats.nc.info?.server_name);
    const generated = await fetch(`${base}/echo`);
    expect(generated.headers.get("x-request-id")).toMatch(new RegExp(`^${svc.instance}-\\d+$`));
  });

  it("client - Response.url is the requested URL", async () => {
    const res = await fetch(`${base}/echo?a=1`);
    expect(res.url).toBe(`${base}/echo?a=1`);
  });
});

describe("client - failures without an HTTP response", () => {
  let nats: NatsFixture;
  beforeAll(async () => {
    nats = await natsFixture();
  });
  afterAll(() => nats?.[Symbol.asyncDispose]());

  it("client - no responders rejects at once, not after the timeout", async () => {
    // The call may wait 20 s; the answer must come within 2 s (a round trip takes milliseconds), so
    // a no-responders status turned into a wait for the timeout fails here, not at vitest's timeout.
    const fetch = createFetch({ nc: nats.nc, timeout: 20_000 });
    const gaveUp = new AbortController();
    const err = await Promise.race([
      fetch("http://nobody.nats/x", { method: "DELETE" }).catch((e) => e),
      sleep(2_000, "still waiting after 2 s", { signal: gaveUp.signal }),
    ]);
    gaveUp.abort();
    expect(err).toBeInstanceOf(NoRespondersError);
    expect(err).toMatchObject({ code: "NM_ERR_NO_RESPONDERS", status: 503, service: "nobody" });
    expect(err.message).toBe("no responders for service 'nobody' on subject 'mesh.nobody.delete'");
  }, 5_000);

  it("client - an invalid service name in the URL is a clear error", async () => {
    const fetch = createFetch({ nc: nats.nc });
    await expect(fetch("http://Bad_Host!.nats/x")).rejects.toThrow();
    await expect(fetch("http://we ather/x")).rejects.toThrow(TypeError);
    await expect(fetch("http://UPPER/x")).rejects.toMatchObject({
      code: "NM_ERR_NO_RESPONDERS",
      service: "upper",
    });
  });

  it("client - a GET with a body is refused as fetch refuses it", async () => {
    const fetch = createFetch({ nc: nats.nc });
    await expect(fetch("http://x.nats/", { method: "GET", body: "no" })).rejects.toThrow(TypeError);
  });

  it("client - closing the connection fails calls in flight with ConnectionClosedError", async () => {
    const own = await connect({ servers: nats.server.url });
    const svc = await serve(fetchApp(), { service: "closing", nc: nats.nc, logger: silent });
    const fetch = createFetch({ nc: own });
    const pending = fetch("http://closing/slow?ms=800").catch((e) => e);
    await fetch("http://closing/echo");
    await own.close();
    const err = await pending;
    expect(err).toBeInstanceOf(ConnectionClosedError);
    expect(err).toMatchObject({ code: "NM_ERR_CONNECTION_CLOSED", service: "closing" });
    await expect(fetch("http://closing/echo")).rejects.toBeInstanceOf(ConnectionClosedError);
    await svc.stop();
  });

  it("client - a fetch without nc connects from options and closes what it opened", async () => {
    const svc = await serve(fetchApp("own"), { service: "own", nc: nats.nc, logger: silent });
    const fetch = createFetch({ connection: { servers: nats.server.url, env: {} } });
    expect(await (await fetch("http://own/whoami")).text()).toBe("own");
    await fetch.close();
    await svc.stop();
  });
});
