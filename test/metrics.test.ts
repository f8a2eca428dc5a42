/**
 * Prometheus metrics of services: counts and the duration histogram after known traffic, read over
 * HTTP (`serveMetricsHttp`) and over NATS (`$NM.METRICS`), against a real nats-server.
 */
import { type NatsConnection, NoRespondersError } from "@nats-io/transport-node";
import { Registry, register } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFetch, type MeshFetch, type ServiceHandle, serve } from "../src/index.js";
import {
  createMetrics,
  defaultMetrics,
  METHOD_LABELS,
  type MeshMetrics,
  methodIndex,
  serveMetricsHttp,
} from "../src/internal.js";
import { fetchApp } from "./support/apps.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

/** One sample of the Prometheus text format. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the sample with exactly these labels, undefined when absent. */
function value(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  return parse(text).find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want)
    ?.value;
}

let nats: NatsFixture;
let nc: NatsConnection;
let fetch: MeshFetch;
let metrics: MeshMetrics;
let svc: ServiceHandle;

beforeAll(async () => {
  nats = await natsFixture();
  nc = nats.nc;
  fetch = createFetch({ nc });
  metrics = createMetrics({ registry: new Registry() });
  svc = await serve(fetchApp(), { service: "weather", nc, logger: silent, metrics });
  // Known traffic.
  for (let i = 0; i < 3; i++) await fetch("http://weather/echo");
  await fetch("http://weather/slow?ms=30");
  await fetch("http://weather/echo", { method: "POST", body: "x" });
  for (let i = 0; i < 2; i++) await fetch("http://weather/status/404");
  await fetch("http://weather/status/503");
  await fetch("http://weather/echo", { method: "PROPFIND" });
  await nc.request("mesh.weather.get", "garbage", { timeout: 2000 });
  nc.publish("mesh.weather.get", "garbage without a reply subject");
  await check(() => svc.stats().malformed === 2, 5000, { name: "malformed counted" });
});

afterAll(async () => {
  await svc?.stop();
  await nats?.[Symbol.asyncDispose]();
});

function expectKnownTraffic(text: string): void {
  const requests = "natsmesh_service_requests_total";
  const w = { service: "weather" };
  expect(value(text, requests, { ...w, method: "GET", status: "200" })).toBe(4);
  expect(value(text, requests, { ...w, method: "POST", status: "200" })).toBe(1);
  expect(value(text, requests, { ...w, method: "GET", status: "404" })).toBe(2);
  expect(value(text, requests, { ...w, method: "GET", status: "503" })).toBe(1);
  expect(value(text, requests, { ...w, method: "OTHER", status: "200" })).toBe(1);
  expect(parse(text).filter((s) => s.name === requests)).toHaveLength(5);

  const h = "natsmesh_service_request_duration_seconds";
  const get = { ...w, method: "GET" };
  expect(value(text, `${h}_count`, get)).toBe(7);
  expect(value(text, `${h}_bucket`, { ...get, le: "+Inf" })).toBe(7);
  // The 30 ms request is above 25 ms (a busy machine may slow the others too, never speed it up).
  expect(value(text, `${h}_bucket`, { ...get, le: "0.025" })).toBeLessThanOrEqual(6);
  expect(value(text, `${h}_sum`, get)).toBeGreaterThanOrEqual(0.03);
  expect(value(text, `${h}_count`, { ...w, method: "POST" })).toBe(1);
  expect(value(text, `${h}_count`, { ...w, method: "OTHER" })).toBe(1);
  const buckets = parse(text).filter((s) => s.name === `${h}_bucket` && s.labels.method === "GET");
  expect(buckets.map((b) => b.value)).toEqual([...buckets.map((b) => b.value)].sort((a, b) => a - b));

  expect(value(text, "natsmesh_service_in_flight", w)).toBe(0);
  expect(value(text, "natsmesh_service_malformed_total", w)).toBe(2);
  expect(text).toContain("# TYPE natsmesh_service_request_duration_seconds histogram");
  expect(text).toContain("# TYPE natsmesh_service_requests_total counter");
}

describe("metrics - after known traffic", () => {
  it("metrics - requests by method and status, the duration histogram, in-flight and malformed", async () => {
    expectKnownTraffic(await metrics.text());
  });

  it("metrics - served over HTTP on /metrics", async () => {
    await using http = await serveMetricsHttp({ port: 0, host: "127.0.0.1", registry: metrics.registry });
    const res = await globalThis.fetch(http.url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expectKnownTraffic(await res.text());
    expect((await globalThis.fetch(`http://127.0.0.1:${http.port}/other`)).status).toBe(404);
    expect((await globalThis.fetch(http.url, { method: "POST" })).status).toBe(405);
  });

  it("metrics - served over NATS on $NM.METRICS.<service>.<instance>", async () => {
    const msg = await nc.request(`$NM.METRICS.weather.${svc.instance}`, "", { timeout: 2000 });
    expect(msg.headers?.get("Content-Type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(msg.headers?.get("Natsmesh-Instances")).toBe(`weather/${svc.instance}`);
    expectKnownTraffic(msg.string());
  });

  it("metrics - in_flight counts the requests running now", async () => {
    const slow = fetch("http://weather/slow?ms=300");
    await check(
      async () => value(await metrics.text(), "natsmesh_service_in_flight", { service: "weather" }) === 1,
      2000,
      { name: "in flight 1" },
    );
    await slow;
    expect(value(await metrics.text(), "natsmesh_service_in_flight", { service: "weather" })).toBe(0);
  });
});

describe("metrics - $NM.METRICS across instances and processes", () => {
  async function answers(subject: string): Promise<string[]> {
    const out: string[] = [];
    try {
      for await (const m of await nc.requestMany(subject, "", { strategy: "timer", maxWait: 250 })) {
        out.push(m.headers?.get("Natsmesh-Instances") ?? "");
      }
    } catch (err) {
      if (!(err instanceof NoRespondersError)) throw err;
    }
    return out;
  }

  it("metrics - $NM.METRICS is answered once per registry and connection, naming the instances it covers", async () => {
    const shared = createMetrics({ registry: new Registry() });
    const other = await nats.connect();
    const a = await serve(fetchApp(), { service: "maps", nc, logger: silent, metrics: shared });
    const b = await serve(fetchApp(), { service: "maps", nc, logger: silent, metrics: shared });
    const c = await serve(fetchApp(), { service: "tiles", nc: other, logger: silent, metrics: shared });
    try {
      const got = await answers("$NM.METRICS");
      // weather's registry on nc; maps' registry on nc (a and b share it); the same registry on `other`.
      expect(got.sort()).toEqual(
        [
          `weather/${svc.instance}`,
          [`maps/${a.instance}`, `maps/${b.instance}`].join(", "),
          `tiles/${c.instance}`,
        ].sort(),
      );
      await a.stop();
      expect((await answers("$NM.METRICS")).sort()).toEqual(
        [`weather/${svc.instance}`, `maps/${b.instance}`, `tiles/${c.instance}`].sort(),
      );
      expect(await answers(`$NM.METRICS.maps.${a.instance}`)).toEqual([]);
    } finally {
      await Promise.all([a.stop(), b.stop(), c.stop()]);
    }
    expect(await answers("$NM.METRICS")).toEqual([`weather/${svc.instance}`]);
  });

  it("metrics - metrics: false records nothing and answers no metrics request", async () => {
    const off = await serve(fetchApp(), { service: "off", nc, logger: silent, metrics: false });
    try {
      await fetch("http://off/echo");
      expect(await answers(`$NM.METRICS.off.${off.instance}`)).toEqual([]);
      expect(await metrics.text()).not.toContain('service="off"');
    } finally {
      await off.stop();
    }
  });
});

describe("metrics - defaults and labels", () => {
  it("metrics - serve() records into prom-client's global registry by default", async () => {
    const byDefault = await serve(fetchApp(), { service: "by-default", nc, logger: silent });
    try {
      await fetch("http://by-default/echo");
      expect(defaultMetrics().registry).toBe(register);
      const text = await register.metrics();
      expect(
        value(text, "natsmesh_service_requests_total", {
          service: "by-default",
          method: "GET",
          status: "200",
        }),
      ).toBe(1);
    } finally {
      await byDefault.stop();
    }
  });

  it("metrics - one metrics object per registry; bad buckets are refused", () => {
    const registry = new Registry();
    expect(createMetrics({ registry })).toBe(createMetrics({ registry }));
    expect(() => createMetrics({ registry: new Registry(), buckets: [0.1, 0.05] })).toThrow(/increasing/);
  });

  it("metrics - the method label takes at most ten values", () => {
    expect(METHOD_LABELS).toHaveLength(10);
    expect(METHOD_LABELS[methodIndex("GET")]).toBe("GET");
    expect(METHOD_LABELS[methodIndex("patch")]).toBe("PATCH");
    expect(METHOD_LABELS[methodIndex("PROPFIND")]).toBe("OTHER");
    expect(METHOD_LABELS[methodIndex("X-ANYTHING-LONG")]).toBe("OTHER");
  });
});
