/**
 * Apps served unchanged (issue #18 item 4): the `Host` an HTTP server would give them, fastify
 * instances as they are, clear errors for handlers natsmesh cannot serve, and `connect()`'s result
 * accepted wherever a connection is.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import express from "express";
import Fastify from "fastify";
import { pino } from "pino";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveFault } from "../src/fault/index.js";
import { createGateway } from "../src/gateway/index.js";
import { connect, createFetch, MeshDispatcher, type MeshFetch, serve } from "../src/index.js";
import { DEFAULT_FAULT_PREFIX } from "../src/traffic/index.js";
import { type NatsFixture, natsFixture, silentLogger as silent, stopAfterEach } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

/** What each app reports about the host it was called by. */
interface HostSeen {
  header: string | undefined;
  hostname: string | undefined;
}

let nats: NatsFixture;
let fetch: MeshFetch;
const stop = stopAfterEach();

beforeAll(async () => {
  nats = await natsFixture();
  fetch = createFetch({ nc: nats.nc });
});
afterAll(async () => {
  await fetch?.close();
  await nats?.[Symbol.asyncDispose]();
});

/** The apps under test, each answering `/host` with the `Host` it saw and its framework's hostname. */
const apps = {
  express: () =>
    express().get("/host", (req, res) => res.json({ header: req.headers.host, hostname: req.hostname })),
  fastify: async () => {
    const app = Fastify();
    app.get("/host", async (req) => ({ header: req.headers.host, hostname: req.hostname }));
    await app.ready();
    return (req: IncomingMessage, res: ServerResponse) => app.routing(req, res);
  },
  "node:http": () => (req: IncomingMessage, res: ServerResponse) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ header: req.headers.host, hostname: req.headers.host?.split(":")[0] }));
  },
  fetch: () => (req: Request) =>
    Response.json({ header: req.headers.get("host") ?? undefined, hostname: new URL(req.url).hostname }),
};

describe("server - apps unchanged - Host", () => {
  it.each(Object.keys(apps) as Array<keyof typeof apps>)(
    "server - apps unchanged - %s sees the service as its Host when the caller sends none (RFC 9112 §3.2: a request carries Host)",
    async (name) => {
      const service = `host-${name.replace(":", "-")}`;
      stop(await serve(await apps[name](), { service, nc: nats.nc, logger: silent }));
      const res = await fetch(`http://${service}.nats/host`);
      expect(res.status).toBe(200);
      const seen = (await res.json()) as HostSeen;
      expect(seen.hostname).toBe(service);
      // A Fetch handler's Request has no Host header (a forbidden request header); its URL has the host.
      if (name !== "fetch") expect(seen.header).toBe(service);
    },
  );

  it.each(Object.keys(apps) as Array<keyof typeof apps>)(
    "server - apps unchanged - %s behind the gateway sees the public Host (docs/GATEWAY.md, What is forwarded)",
    async (name) => {
      const service = `gw-${name.replace(":", "-")}`;
      stop(await serve(await apps[name](), { service, nc: nats.nc, logger: silent }));
      await using gateway = createGateway({ listen: "127.0.0.1:0", nc: nats.nc, logger: silent });
      const { url } = await gateway.listen();
      const res = await request(`${url}/${service}/host`, { headers: { host: "api.example.test:8443" } });
      expect(res.statusCode).toBe(200);
      const seen = (await res.body.json()) as HostSeen;
      expect(seen.hostname).toBe("api.example.test");
      if (name !== "fetch") expect(seen.header).toBe("api.example.test:8443");
    },
  );
});

describe("server - apps unchanged - handler shapes", () => {
  it("server - apps unchanged - a fastify instance is served as it is: serve() awaits app.ready() and uses app.routing (fastify docs, Server: routing, ready)", async () => {
    const app = Fastify();
    // Registered as a plugin: its routes exist only once app.ready() has run.
    app.register(async (scope) => {
      scope.get("/city", async (req) => ({ q: (req.query as { q?: string }).q }));
    });
    app.post("/reports", async (req, reply) => reply.code(201).send({ got: req.body }));
    stop(await serve(app, { service: "fastify-instance", nc: nats.nc, logger: silent }));
    stop(app);
    const res = await fetch("http://fastify-instance/city?q=paris");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ q: "paris" });
    const post = await fetch("http://fastify-instance/reports", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sky: "rain" }),
    });
    expect(post.status).toBe(201);
    expect(await post.json()).toEqual({ got: { sky: "rain" } });
  });

  it("server - apps unchanged - a fastify plugin that fails to load rejects serve() with fastify's error", async () => {
    const app = Fastify();
    app.register(async () => {
      throw new Error("plugin broke");
    });
    await expect(serve(app, { service: "fastify-broken", nc: nats.nc, logger: silent })).rejects.toThrow(
      "plugin broke",
    );
  });

  it("server - apps unchanged - serve(app.routing) before app.ready() logs what to do instead", async () => {
    const lines: Array<{ msg?: string; err?: { message?: string } }> = [];
    const logger = pino({ level: "error" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const app = Fastify();
    app.get("/", async () => "hi");
    stop(await serve(app.routing, { service: "fastify-unready", nc: nats.nc, logger }));
    stop(app);
    const res = await fetch("http://fastify-unready/");
    expect(res.status).toBe(500);
    await check(() => lines.length > 0, 5000, { name: "the handler error logged" });
    expect(lines[0]?.err?.message).toMatch(/before app\.ready\(\).*serve\(app, \.\.\.\)/);
  });

  it.each([
    ["undefined", undefined, "cannot serve undefined"],
    ["a string", "http://weather", "cannot serve a string"],
    ["a promise of an app", Promise.resolve(express()), "cannot serve a promise (await it first)"],
    ["an http.Server", createServer(), "cannot serve a server (pass its request listener or app"],
    ["a plain object", { handle() {} }, "cannot serve an object without fetch() or routing()"],
  ])(
    "server - apps unchanged - %s is refused with a TypeError that says what to pass",
    async (_, handler, what) => {
      const served = serve(handler as never, { service: "shapes", nc: nats.nc, logger: silent });
      await expect(served).rejects.toThrow(TypeError);
      await expect(served).rejects.toThrow(what);
      await expect(served).rejects.toThrow(
        "pass a Node listener (req, res) => void (node:http, an express app), a Fetch handler (req) => Response, an object with fetch(req) (Hono), or a fastify instance",
      );
    },
  );
});

describe("server - apps unchanged - connect()'s result as nc", () => {
  /** natsmesh's own connect(), to the fixture's server, with a prefix of its own. */
  const meshConnect = () => connect({ servers: nats.server.url, prefix: "apps", env: {} });
  const hello = () => new Response("hello");

  it("server - apps unchanged - serve() and createFetch() take connect()'s result, and its prefix", async () => {
    await using mesh = await meshConnect();
    const svc = stop(await serve(hello, { service: "by-mesh", nc: mesh, logger: silent }));
    expect(svc.subject).toBe("apps.by-mesh.*");
    const meshFetch = stop(createFetch({ nc: mesh }));
    const res = await meshFetch("http://by-mesh/");
    expect(await res.text()).toBe("hello");
    expect(mesh.nc.isClosed()).toBe(false);
  });

  it("server - apps unchanged - new MeshDispatcher() takes connect()'s result", async () => {
    await using mesh = await meshConnect();
    stop(await serve(hello, { service: "by-dispatcher", nc: nats.nc, prefix: "apps", logger: silent }));
    const dispatcher = stop(new MeshDispatcher({ nc: mesh }));
    const res = await request("http://by-dispatcher.nats/", { dispatcher });
    expect(await res.body.text()).toBe("hello");
  });

  it("server - apps unchanged - createGateway() takes connect()'s result", async () => {
    await using mesh = await meshConnect();
    stop(await serve(hello, { service: "by-gateway", nc: nats.nc, prefix: "apps", logger: silent }));
    await using gateway = createGateway({ listen: "127.0.0.1:0", nc: mesh, logger: silent });
    const { url } = await gateway.listen();
    const res = await request(`${url}/by-gateway/`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe("hello");
  });

  it("server - apps unchanged - serveFault() takes connect()'s result", async () => {
    await using mesh = await meshConnect();
    stop(await serveFault({ nc: mesh, service: "by-fault", status: 503 }));
    const faultFetch = stop(createFetch({ nc: mesh, prefix: DEFAULT_FAULT_PREFIX, retry: false }));
    expect((await faultFetch("http://by-fault/")).status).toBe(503);
  });
});
