/**
 * Apps served unchanged (issue #18 item 4): the `Host` an HTTP server would give them, fastify
 * instances as they are, clear errors for handlers natsmesh cannot serve, and `connect()`'s result
 * accepted wherever a connection is.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import express from "express";
import Fastify from "fastify";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGateway } from "../src/gateway/index.js";
import { createFetch, type MeshFetch, serve } from "../src/index.js";
import { type NatsFixture, natsFixture, silentLogger as silent, stopAfterEach } from "./support/helpers.js";

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
