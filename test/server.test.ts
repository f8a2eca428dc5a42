import { randomBytes } from "node:crypto";
import { connect, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createFetch,
  InvalidServiceError,
  type MeshFetch,
  NoRespondersError,
  type ServiceHandle,
  serve,
} from "../src/index.js";
import { decodeResponse, encodeRequest } from "../src/internal.js";
import { fetchApp, nodeApp } from "./support/apps.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check, type NatsServer } from "./support/nats-server.js";

/** A frame with the natsmesh prefix and an arbitrary head, for hand-made malformed messages. */
function frame(head: string | Uint8Array, kind = 1, version = 1, headLen?: number): Uint8Array {
  const h = typeof head === "string" ? Buffer.from(head) : head;
  const out = Buffer.alloc(8 + h.length);
  out.set([0x4e, 0x4d, version, kind]);
  out.writeUInt32BE(headLen ?? h.length, 4);
  out.set(h, 8);
  return out;
}

describe("server - hostile input", () => {
  let nats: NatsFixture;
  let nc: NatsConnection;
  let svc: ServiceHandle;
  let fetch: MeshFetch;

  beforeAll(async () => {
    nats = await natsFixture({ max_payload: 4 << 20 });
    nc = nats.nc;
    svc = await serve(nodeApp(), { service: "target", nc, logger: silent });
    fetch = createFetch({ nc });
  });
  afterAll(async () => {
    await svc?.stop();
    await nats?.[Symbol.asyncDispose]();
  });

  const cases: Array<[string, Uint8Array]> = [
    ["empty payload", new Uint8Array(0)],
    ["short payload", new Uint8Array([1, 2, 3])],
    ["plain text", Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n")],
    ["bad magic", frame("GET /\n").map((b, i) => (i === 0 ? 0 : b))],
    ["unknown version", frame("GET /\n", 1, 9)],
    ["response kind on the request subject", frame("200 OK\n", 2)],
    ["head length past the end", frame("GET /\n", 1, 1, 1000)],
    ["absurd head length", frame("GET /\n", 1, 1, 0xffffffff)],
    ["head without a line end", frame("GET /")],
    ["first line without a space", frame("GET\n")],
    ["method is not a token", frame("G(T /\n")],
    ["method does not match the subject", frame("POST /\n")],
    ["path without a slash", frame("GET http://evil/\n")],
    ["path with a space", frame("GET /a b\n")],
    ["header line without a colon", frame("GET /\nx-a\n")],
    ["header line without a space after the colon", frame("GET /\nx-a:1\n")],
    ["header name that is not a token", frame("GET /\nx a: 1\n")],
    ["header value with CR", frame("GET /\nx-a: 1\r\n")],
    ["header value with NUL", frame("GET /\nx-a: 1\u0000\n")],
    [
      "head that is not UTF-8 text",
      frame(Buffer.concat([Buffer.from("GET /\nx-a: "), Buffer.from([0xff, 0xfe]), Buffer.from("\n")])),
    ],
    ["content-length that lies about the body", frame("GET /\ncontent-length: 5\n")],
    ["a second content-length line that lies", frame("GET /\ncontent-length: 0\ncontent-length: 5\n")],
    ["method with a dot", frame("G.T /\n")],
    ["huge header value", frame(`GET /\nx-a: ${"v".repeat(2 << 20)}\n`)],
  ];

  it.each(cases)("server - %s gets a 400 reply that says what is wrong", async (_name, payload) => {
    const reply = await nc.request("mesh.target.get", payload, { timeout: 2000 });
    const res = decodeResponse(reply.data);
    expect(res.status).toBe(400);
    const body = JSON.parse(Buffer.from(res.body).toString()) as { error: string; code: string };
    expect(body.code).toBe("NM_ERR_MALFORMED");
    expect(body.error).toMatch(/^malformed message: /);
  });

  it("server - random bytes and absurd NATS headers never crash it; every request with a reply subject is answered", async () => {
    let answered = 0;
    for (let i = 0; i < 200; i++) {
      const h = natsHeaders();
      h.set("X-Absurd", "x".repeat(i * 50));
      h.set("Mesh-Method", "\u00ff\u00fe");
      const reply = await nc.request("mesh.target.get", randomBytes(i * 7), { timeout: 2000, headers: h });
      if (decodeResponse(reply.data).status === 400) answered++;
    }
    expect(answered).toBe(200);
    const ok = await fetch("http://target/echo");
    expect(ok.status).toBe(200);
  });

  it("server - messages without a reply subject are logged and dropped; the service keeps serving", async () => {
    const before = svc.stats().malformed;
    for (let i = 0; i < 10; i++) nc.publish("mesh.target.get", randomBytes(64));
    nc.publish(
      "mesh.target.get",
      encodeRequest({ method: "GET", path: "/echo", headers: [], body: new Uint8Array() }),
    );
    await check(() => svc.stats().malformed >= before + 11, 5000, { name: "malformed counted" });
    expect((await fetch("http://target/echo")).status).toBe(200);
  });
});

describe("server - instances, limits and drain", () => {
  let nats: NatsFixture;
  let server: NatsServer;
  let nc: NatsConnection;
  const conns: NatsConnection[] = [];

  beforeAll(async () => {
    nats = await natsFixture();
    ({ server, nc } = nats);
  });
  afterAll(async () => {
    for (const c of conns) await c.close();
    await nats?.[Symbol.asyncDispose]();
  });

  async function instance(service: string, label: string, concurrency?: number): Promise<ServiceHandle> {
    const own = await connect({ servers: server.url });
    conns.push(own);
    return serve(fetchApp(label), {
      service,
      nc: own,
      logger: silent,
      ...(concurrency ? { concurrency } : {}),
    });
  }

  it("server - 300 requests over 3 instances of one queue group give each a fair share", async () => {
    const svcs = await Promise.all(["a", "b", "c"].map((l) => instance("fair", l)));
    const fetch = createFetch({ nc });
    const counts: Record<string, number> = {};
    await Promise.all(
      Array.from({ length: 300 }, async () => {
        const res = await fetch("http://fair/whoami");
        const who = await res.text();
        counts[who] = (counts[who] ?? 0) + 1;
      }),
    );
    expect(Object.keys(counts).sort()).toEqual(["a", "b", "c"]);
    // nats-server picks a queue member at random: 100 each expected, sd ≈ 8; 60 is 5 sd below.
    for (const n of Object.values(counts)) expect(n).toBeGreaterThanOrEqual(60);
    expect(svcs.reduce((sum, s) => sum + s.stats().requests, 0)).toBe(300);
    await Promise.all(svcs.map((s) => s.stop()));
  });

  it("server - the concurrency limit caps handlers at once; the rest wait and all complete", async () => {
    const own = await connect({ servers: server.url });
    conns.push(own);
    let active = 0;
    let peak = 0;
    const svc = await serve(
      async () => {
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setTimeout(r, 20));
        active--;
        return new Response("ok");
      },
      { service: "limited", nc: own, concurrency: 2, logger: silent },
    );
    const fetch = createFetch({ nc });
    const results = await Promise.all(
      Array.from({ length: 12 }, () => fetch("http://limited/").then((r) => r.status)),
    );
    expect(results).toEqual(Array(12).fill(200));
    expect(peak).toBe(2);
    await svc.stop();
  });

  it("server - stop() drains: the request in flight completes, then nobody answers", async () => {
    const svc = await instance("draining", "d");
    const fetch = createFetch({ nc });
    const inFlight = fetch("http://draining/slow?ms=300");
    await check(() => svc.stats().inFlight === 1, 2000, { name: "request in flight" });
    await svc.stop();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("slow");
    // A caller never served by it: no responders at once (one served lately would wait a while for
    // capacity first, docs/TRAFFIC.md §6).
    await expect(createFetch({ nc })("http://draining/whoami")).rejects.toBeInstanceOf(NoRespondersError);
  });

  it("server - an invalid service name is refused before anything is subscribed", async () => {
    await expect(serve(fetchApp(), { service: "Bad Name", nc })).rejects.toBeInstanceOf(InvalidServiceError);
    await expect(serve(fetchApp(), { service: "a.*", nc })).rejects.toThrow(/invalid service name/);
  });

  it("server - a hierarchical service name gets its own subject", async () => {
    const own = await connect({ servers: server.url });
    conns.push(own);
    const svc = await serve(fetchApp("billing"), { service: "billing.invoices", nc: own, logger: silent });
    expect(svc.subject).toBe("mesh.billing.invoices.*");
    const res = await createFetch({ nc })("http://billing.invoices.nats/whoami");
    expect(await res.text()).toBe("billing");
    await svc.stop();
  });

  it("server - a custom prefix separates deployments", async () => {
    const own = await connect({ servers: server.url });
    conns.push(own);
    const v2 = await serve(fetchApp("v2"), { service: "canary", nc: own, prefix: "v2", logger: silent });
    await expect(createFetch({ nc })("http://canary/whoami")).rejects.toBeInstanceOf(NoRespondersError);
    const res = await createFetch({ nc, prefix: "v2" })("http://canary/whoami");
    expect(await res.text()).toBe("v2");
    await v2.stop();
  });
});

describe("server - values the Fetch API refuses", () => {
  it("server - a header value above U+00FF is a 400 for a Fetch handler, passed through to a Node listener", async () => {
    await using nats = await natsFixture();
    const { nc } = nats;
    const f = await serve(fetchApp(), { service: "fetch-side", nc, logger: silent });
    const n = await serve(nodeApp(), { service: "node-side", nc, logger: silent });
    const req = { method: "GET", path: "/echo", headers: ["x-city", "東京"], body: new Uint8Array() };
    const fromFetch = decodeResponse((await nc.request("mesh.fetch-side.get", encodeRequest(req))).data);
    expect(fromFetch.status).toBe(400);
    const fromNode = decodeResponse((await nc.request("mesh.node-side.get", encodeRequest(req))).data);
    expect(fromNode.status).toBe(200);
    await f.stop();
    await n.stop();
  });
});

describe("server - handlers that misbehave", () => {
  let nats: NatsFixture;
  beforeAll(async () => {
    nats = await natsFixture();
  });
  afterAll(() => nats?.[Symbol.asyncDispose]());

  it("server - a handler slower than the instance's timeout gets a 504 for it; stop() does not wait for it", async () => {
    let calls = 0;
    const svc = await serve(
      (req: Request) => {
        calls++;
        // The first call never answers; later ones answer at once.
        return new URL(req.url).pathname === "/hang" ? new Promise<Response>(() => {}) : new Response("ok");
      },
      { service: "hangs", nc: nats.nc, timeout: 150, concurrency: 1, logger: silent },
    );
    const fetch = createFetch({ nc: nats.nc, timeout: 10_000 });
    const res = await fetch("http://hangs/hang");
    expect(res.status).toBe(504);
    expect(res.headers.get("mesh-error")).toBe("NM_ERR_TIMEOUT");
    expect((await res.json()).error).toBe("the handler did not answer within 150 ms");
    // The slot of the hung request is free again (concurrency 1), so this one is served.
    expect(await (await fetch("http://hangs/next")).text()).toBe("ok");
    expect(calls).toBe(2);
    await svc.stop();
  });

  it("server - a Node handler that destroys the response gets a 500, not a hang", async () => {
    const svc = await serve((_req, res) => res.destroy(), {
      service: "destroys",
      nc: nats.nc,
      logger: silent,
    });
    const res = await createFetch({ nc: nats.nc, timeout: 5000 })("http://destroys/");
    expect(res.status).toBe(500);
    await svc.stop();
  });

  it("server - a Fetch handler that returns Response.error() or a non-Response gets a 500", async () => {
    const svc = await serve(
      (req: Request) =>
        (new URL(req.url).pathname === "/error" ? Response.error() : "not a response") as unknown as Response,
      { service: "bad-return", nc: nats.nc, logger: silent },
    );
    const fetch = createFetch({ nc: nats.nc, timeout: 5000 });
    expect((await fetch("http://bad-return/error")).status).toBe(500);
    expect((await fetch("http://bad-return/other")).status).toBe(500);
    await svc.stop();
  });
});
