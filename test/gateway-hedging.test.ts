/**
 * Hedged requests in the gateway (docs/GATEWAY.md, route option `hedge`; docs/TRAFFIC.md): a route
 * that hedges sends a late idempotent request once more and answers with the first answer, the
 * losing copy is cancelled, a POST is never sent twice, the counters count the copies, and bad
 * settings are refused naming their place. Real nats-server; outcomes and counts only.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGateway, type GatewayConfig, GatewayConfigError } from "../src/gateway/index.js";
import { type ServiceHandle, serve } from "../src/index.js";
import { awaitAbortHandler } from "./support/abort-waiter.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

/** A gateway counter's value for a route and service, from the `/metrics` text. */
async function counted(text: Promise<string>, name: string, route: string, service: string): Promise<number> {
  const line = new RegExp(`^${name}\\{route="${route}",service="${service}"\\} (\\d+)$`, "m").exec(
    await text,
  );
  return line ? Number(line[1]) : 0;
}

describe("gateway hedging - route option", () => {
  let nats: NatsFixture;
  const services: ServiceHandle[] = [];

  beforeAll(async () => {
    nats = await natsFixture();
  });
  afterAll(async () => {
    for (const s of services) await s.stop({ timeout: 1000 });
    await nats?.[Symbol.asyncDispose]();
  });

  /** A gateway on a free loopback port with `config`, on the file's connection. */
  const loopbackGateway = (config: GatewayConfig) =>
    createGateway({ listen: "127.0.0.1:0", nc: nats.nc, logger: silent, config });

  it("gateway hedging - a request stuck on a slow instance is answered by the fast one; the slow exchange is cancelled", async () => {
    // The slow instance holds one request at a time and never answers it: while it holds one it is
    // out of the queue group, so the copy goes to the fast instance.
    const slow = awaitAbortHandler();
    services.push(
      await serve(slow.handler, {
        service: "gw-hedged",
        nc: nats.nc,
        logger: silent,
        concurrency: 1,
        instance: "slow",
      }),
      await serve(() => new Response("fast"), {
        service: "gw-hedged",
        nc: nats.nc,
        logger: silent,
        instance: "fast",
      }),
    );
    await using gateway = loopbackGateway({
      defaultRoute: false,
      routes: [
        {
          name: "h",
          prefix: "/h",
          strip: true,
          service: "gw-hedged",
          hedge: { minDelayMs: 200, maxDelayMs: 200 },
        },
      ],
    });
    const { url } = await gateway.listen();
    let requests = 0;
    while (slow.started < 2 && requests < 60) {
      requests++;
      const res = await fetch(`${url}/h/item`);
      expect(res.status).toBe(200);
      expect(res.headers.get("mesh-instance")).toBe("fast");
      expect(await res.text()).toBe("fast");
      await check(() => slow.aborted === slow.started, 5000, { name: "the slow exchange was cancelled" });
    }
    expect(slow.started).toBe(2);
    expect(String(slow.reason)).toMatch(/another copy of the request answered first/);
    const won = await counted(
      gateway.metrics.metrics(),
      "natsmesh_gateway_hedges_won_total",
      "h",
      "gw-hedged",
    );
    const sent = await counted(
      gateway.metrics.metrics(),
      "natsmesh_gateway_hedges_sent_total",
      "h",
      "gw-hedged",
    );
    expect(won).toBeGreaterThanOrEqual(1);
    expect(sent).toBeGreaterThanOrEqual(won);
  });

  it("gateway hedging - only idempotent requests are hedged, and only on the routes that say so", async () => {
    const hang = awaitAbortHandler();
    services.push(await serve(hang.handler, { service: "gw-hang", nc: nats.nc, logger: silent }));
    await using gateway = loopbackGateway({
      defaultRoute: false,
      defaults: { timeout: 1500, hedge: { minDelayMs: 20, maxDelayMs: 20 } },
      routes: [
        { name: "hedged", prefix: "/hedged", strip: true, service: "gw-hang" },
        { name: "plain", prefix: "/plain", strip: true, service: "gw-hang", hedge: false },
      ],
    });
    const { url } = await gateway.listen();
    const statuses = [
      fetch(`${url}/hedged/`, { method: "POST", body: "a" }),
      fetch(`${url}/hedged/`, { method: "PATCH", body: "b" }),
      fetch(`${url}/plain/`),
      fetch(`${url}/hedged/`, { method: "POST", body: "c", headers: { "idempotency-key": "k-1" } }),
      fetch(`${url}/hedged/`),
    ].map((p) => p.then((r) => r.status));
    // 5 requests and 2 copies (the keyed POST's and the GET's, the last to be due).
    await check(() => hang.started >= 7, 5000, { name: "5 requests and 2 copies executed" });
    const marker = fetch(`${url}/plain/`).then((r) => r.status);
    await check(() => hang.started >= 8, 5000, { name: "the marker arrived" });
    expect(hang.started).toBe(8);
    expect(await Promise.all([...statuses, marker])).toEqual([504, 504, 504, 504, 504, 504]);
    const metrics = gateway.metrics.metrics();
    expect(await counted(metrics, "natsmesh_gateway_hedges_sent_total", "hedged", "gw-hang")).toBe(2);
    await check(() => hang.aborted === 8, 5000, { name: "every exchange cancelled" });
  });

  it("gateway hedging - bad settings are refused naming the route and the field", () => {
    const bad = (config: unknown) => () =>
      createGateway({ nc: nats.nc, logger: silent, config: config as GatewayConfig });
    expect(bad({ routes: [{ name: "r", prefix: "/r", service: "s", hedge: { maxHedges: 0 } }] })).toThrow(
      /routes\[0\] \(name 'r'\): hedge.maxHedges must be an integer from 1 to 5, got 0/,
    );
    expect(bad({ defaults: { hedge: { minDelayMs: 50, maxDelayMs: 20 } } })).toThrow(
      /defaults.hedge.maxDelayMs \(20\) must not be below defaults.hedge.minDelayMs \(50\)/,
    );
    expect(bad({ defaults: { hedge: { quantile: "high" } } })).toThrow(GatewayConfigError);
    expect(bad({ defaults: { hedge: { delay: 5 } } })).toThrow(/delay/);
  });
});
