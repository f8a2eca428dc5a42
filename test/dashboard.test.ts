/**
 * The dashboard over HTTP, without a browser: on the gateway's admin port (page, `/api/mesh`,
 * capacity metrics on `/metrics`, a NATS monitoring URL that is down), and the event stream's bound
 * when a client stops reading.
 */
import { connect as netConnect } from "node:net";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DashboardState, serveDashboard } from "../src/dashboard/index.js";
import { createGateway } from "../src/gateway/index.js";
import { type ServiceHandle, serve } from "../src/index.js";
import { reportSubject } from "../src/insight/index.js";
import { closedPort, type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check } from "./support/nats-server.js";
import { testReport } from "./support/reports.js";

let nats: NatsFixture;
const running: ServiceHandle[] = [];

beforeAll(async () => {
  nats = await natsFixture();
  running.push(
    await serve(() => new Response("ok"), {
      service: "orders",
      instance: "o1",
      nc: await nats.connect(),
      logger: silent,
      metrics: false,
      reportInterval: 100,
      concurrency: 50,
    }),
  );
});

afterAll(async () => {
  await Promise.all(running.map((s) => s.stop()));
  await nats?.[Symbol.asyncDispose]();
});

describe("dashboard - on the gateway's admin port", () => {
  it("dashboard - the page, /api/mesh with the services (one without instances, from the gateway's no-responders), natsmesh_insight_* on /metrics; a monitor that is down is said so", async () => {
    const down = `http://127.0.0.1:${await closedPort()}`;
    await using gateway = createGateway({
      admin: "127.0.0.1:0",
      listen: "127.0.0.1:0",
      nc: nats.nc,
      logger: silent,
      insight: { tick: 100, window: 2, target: 0.5, monitorUrls: [down] },
      config: { routes: [{ name: "ghost", prefix: "/ghost", service: "ghost", timeout: 250 }] },
    });
    const { url, adminUrl } = await gateway.listen();
    const page = await request(`${adminUrl}/`);
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toMatch(/text\/html/);
    expect(page.headers["content-security-policy"]).toMatch(/default-src 'none'/);
    expect(await page.body.text()).toMatch(/<script type="module" src="\/assets\/app.js">/);
    for (const asset of ["/assets/app.js", "/assets/uPlot.esm.js", "/assets/style.css"]) {
      const res = await request(`${adminUrl}${asset}`);
      await res.body.arrayBuffer();
      expect([asset, res.statusCode]).toEqual([asset, 200]);
    }
    const state = await check(
      async () => {
        const s = (await (await request(`${adminUrl}/api/mesh`)).body.json()) as DashboardState;
        return s.view.services.some((x) => x.service === "orders") && s.monitor.servers.length > 0
          ? s
          : undefined;
      },
      5000,
      { name: "orders in /api/mesh" },
    );
    // A service its callers miss and no instance reports: seen through the gateway's no-responders.
    const ghost = await check(
      async () => {
        const miss = await request(`${url}/ghost/x`, { method: "POST", body: "x" });
        await miss.body.arrayBuffer();
        const s = (await (await request(`${adminUrl}/api/mesh`)).body.json()) as DashboardState;
        return s.view.services.find((x) => x.service === "ghost" && x.noResponderRate > 0);
      },
      5000,
      { name: "ghost's no-responders in /api/mesh", interval: 50 },
    );
    expect(ghost).toMatchObject({ instances: [], needed: 1, rate: 0 });
    expect(state?.monitor.configured).toBe(true);
    expect(state?.monitor.servers[0]).toMatchObject({ url: down, ok: false });
    const metrics = await (await request(`${adminUrl}/metrics`)).body.text();
    expect(metrics).toMatch(/^natsmesh_insight_instances\{service="orders"\} 1$/m);
    expect(metrics).toMatch(/^natsmesh_insight_concurrency_limit\{service="orders"\} 50$/m);
    expect(metrics).toMatch(/^natsmesh_insight_instances_needed\{service="orders"\} 0$/m);
    expect(metrics).toMatch(/^natsmesh_insight_target_utilisation 0\.5$/m);
    expect(metrics).toMatch(/^natsmesh_insight_no_responder_rate\{service="ghost"\} [1-9]/m);
    expect(metrics).toMatch(/^natsmesh_insight_no_responder_rate\{service="orders"\} 0$/m);
    expect(metrics).toMatch(/^natsmesh_gateway_in_flight /m);
    const missing = await request(`${adminUrl}/nope`);
    expect(missing.statusCode).toBe(404);
    expect(await missing.body.json()).toMatchObject({
      endpoints: ["/healthz", "/readyz", "/metrics", "/", "/api/mesh", "/api/events"],
    });
  });

  it("dashboard - a monitoring URL that is not http(s) is refused before anything listens", async () => {
    const gateway = createGateway({
      admin: "127.0.0.1:0",
      listen: "127.0.0.1:0",
      nc: nats.nc,
      logger: silent,
      insight: { monitorUrls: ["nats://127.0.0.1:4222"] },
    });
    await expect(gateway.listen()).rejects.toThrow(
      /NATS monitoring URL must be an http\(s\) URL.*nats:\/\/127/,
    );
    await gateway.close();
  });

  it("dashboard - insight: false leaves the page and the capacity metrics out", async () => {
    await using gateway = createGateway({
      admin: "127.0.0.1:0",
      listen: "127.0.0.1:0",
      nc: nats.nc,
      logger: silent,
      insight: false,
    });
    const { adminUrl } = await gateway.listen();
    const page = await request(`${adminUrl}/`);
    await page.body.arrayBuffer();
    expect(page.statusCode).toBe(404);
    expect(await (await request(`${adminUrl}/metrics`)).body.text()).not.toMatch(/natsmesh_insight_/);
  });
});

describe("dashboard - event streams", () => {
  it("dashboard - a client that stops reading gets updates skipped, its buffer stays bounded; a reading client keeps getting updates", async () => {
    // 300 services (one report each, a long interval): each update is a large picture.
    const report = (service: string) =>
      testReport(service, "i1", {
        interval: 60_000,
        limit: 100,
        inFlight: 1,
        bounds: [0.001, 0.01, 0.1],
        methods: { GET: { n: 1, err: 0, to: 0, h: [1, 0, 0, 0] } },
      });
    const maxBuffered = 64 * 1024;
    await using server = await serveDashboard({
      nc: nats.nc,
      tick: 20,
      window: 1,
      events: { maxBuffered, maxSkipped: 10_000 },
    });
    const events = server.dashboard.events;
    for (let i = 0; i < 300; i++)
      nats.nc.publish(reportSubject(`bulk-${i}`, "i1"), JSON.stringify(report(`bulk-${i}`)));
    const stalled = netConnect(Number(new URL(server.url).port), "127.0.0.1");
    stalled.write("GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n");
    stalled.pause();
    let updates = 0;
    const reader = await request(`${server.url}/api/events`);
    reader.body.on("data", (c: Buffer) => {
      updates += c.toString().split("event: update").length - 1;
    });
    const size = await check(
      () => (server.insight.view().services.length >= 300 ? JSON.stringify(server.insight.view()).length : 0),
      5000,
      {
        name: "300 services seen",
      },
    );
    await check(() => events.skipped > 0, 10_000, { name: "updates skipped for the stalled client" });
    // At most the limit plus the one update written while under it (and its SSE framing).
    expect(events.peakBuffered).toBeLessThanOrEqual(maxBuffered + size + 1024);
    const before = updates;
    await check(() => updates >= before + 3, 3000, { name: "the reading client still gets updates" });
    stalled.destroy();
    reader.body.destroy();
  });
});
