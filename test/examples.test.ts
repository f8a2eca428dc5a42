import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createExpressApp } from "../examples/weather/express-app.js";
import { createHonoApp } from "../examples/weather/hono-app.js";
import { createFetch, type MeshFetch, type ServiceHandle, serve } from "../src/index.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";

describe.each([
  { name: "express", make: () => createExpressApp() },
  { name: "hono", make: () => createHonoApp() },
])("examples - weather API on $name, unchanged", ({ name, make }) => {
  let nats: NatsFixture;
  let svc: ServiceHandle;
  let fetch: MeshFetch;
  const base = `http://weather-${name}.nats`;

  beforeAll(async () => {
    nats = await natsFixture();
    svc = await serve(make(), { service: `weather-${name}`, nc: nats.nc, logger: silent });
    fetch = createFetch({ nc: nats.nc });
  });
  afterAll(async () => {
    await svc?.stop();
    await nats?.[Symbol.asyncDispose]();
  });

  it("examples - GET /city answers JSON", async () => {
    const res = await fetch(`${base}/city?q=london`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await res.json()).toMatchObject({ city: "London", country: "GB" });
  });

  it("examples - a unicode query reaches the app decoded", async () => {
    const res = await fetch(`${base}/city?q=${encodeURIComponent("zürich")}`);
    expect(await res.json()).toMatchObject({ city: "Zürich" });
  });

  it("examples - the app's own 400 and 404 pass through", async () => {
    expect((await fetch(`${base}/city`)).status).toBe(400);
    const res = await fetch(`${base}/city?q=atlantis`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "unknown city 'atlantis'" });
  });

  it("examples - POST with a JSON body is validated by the app", async () => {
    const ok = await fetch(`${base}/reports`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ city: "Paris", sky: "rain" }),
    });
    expect(ok.status).toBe(201);
    expect(await ok.json()).toMatchObject({ city: "Paris", sky: "rain" });
    const bad = await fetch(`${base}/reports`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ city: "Paris", sky: "lava" }),
    });
    expect(bad.status).toBe(400);
  });
});

describe("examples - gradual migration", () => {
  it("examples - one express app serves a real HTTP port and NATS at the same time", async () => {
    await using nats = await natsFixture();
    const { nc } = nats;
    const app = createExpressApp();
    const http = app.listen(0, "127.0.0.1");
    await new Promise<void>((resolve) => http.once("listening", resolve));
    const port = (http.address() as AddressInfo).port;
    const svc = await serve(app, { service: "weather", nc, logger: silent });
    const meshFetch = createFetch({ nc });
    try {
      const post = (f: typeof fetch, url: string) =>
        f(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ city: "Tokyo", sky: "clear" }),
        });
      // Interleave both paths: neither may disturb the other's request or response objects.
      for (let i = 0; i < 3; i++) {
        const overNats = await post(meshFetch, "http://weather/reports");
        expect(overNats.status).toBe(201);
        const overHttp = await post(fetch, `http://127.0.0.1:${port}/reports`);
        expect(overHttp.status).toBe(201);
        expect(await overHttp.json()).toMatchObject({ city: "Tokyo" });
        const get = await fetch(`http://127.0.0.1:${port}/city?q=paris`);
        expect(await get.json()).toMatchObject({ city: "Paris" });
      }
    } finally {
      await svc.stop();
      await new Promise((r) => http.close(r));
    }
  });
});

describe("examples - fastify", () => {
  it("examples - a fastify app's routing handler is served unchanged", async () => {
    const { default: Fastify } = await import("fastify");
    await using nats = await natsFixture();
    const { nc } = nats;
    const app = Fastify();
    app.get("/city", async (req) => ({ q: (req.query as { q?: string }).q }));
    app.post("/reports", async (req, reply) => reply.code(201).send({ got: req.body }));
    await app.ready();
    const svc = await serve((req, res) => app.routing(req, res), {
      service: "weather-fastify",
      nc,
      logger: silent,
    });
    const fetch = createFetch({ nc });
    try {
      const res = await fetch("http://weather-fastify/city?q=paris");
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ q: "paris" });
      const post = await fetch("http://weather-fastify/reports", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ sky: "rain" }),
      });
      expect(post.status).toBe(201);
      expect(await post.json()).toEqual({ got: { sky: "rain" } });
    } finally {
      await svc.stop();
      await app.close();
    }
  });
});
