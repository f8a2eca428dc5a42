/**
 * Insight: instances' `$NM.REPORT` reports and the aggregator, against a real nats-server — the
 * picture of services, methods and instances, the capacity rule, and instances that leave (with a
 * last report, or silently).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFetch, MeshDispatcher, type MeshFetch, type ServiceHandle, serve } from "../src/index.js";
import {
  CallerReportError,
  callerReportSubject,
  createInsight,
  histogramQuantile,
  instancesNeeded,
  type MeshInsight,
  parseCallerReport,
  parseReport,
  ReportError,
  reportSubject,
  startCallerReporter,
} from "../src/insight/index.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check } from "./support/nats-server.js";
import { testReport } from "./support/reports.js";

describe("insight - pure parts", () => {
  it("insight - histogramQuantile interpolates inside the bucket, the overflow gives the last bound", () => {
    expect(histogramQuantile(0.5, [0.1, 0.2], [0, 10, 0])).toBeCloseTo(0.15);
    expect(histogramQuantile(0.99, [0.1, 0.2], [0, 0, 3])).toBe(0.2);
    expect(histogramQuantile(0.5, [0.1], [0, 0])).toBeNull();
  });

  it("insight - instancesNeeded is ceil(in-flight ÷ (limit × target)), 0 when idle", () => {
    expect(instancesNeeded(150, 100, 0.5)).toBe(3);
    expect(instancesNeeded(70, 100, 0.7)).toBe(1);
    expect(instancesNeeded(70.01, 100, 0.7)).toBe(2);
    expect(instancesNeeded(0, 100, 0.7)).toBe(0);
  });

  it("insight - parseReport refuses what is not a report, with the field named", () => {
    expect(() => parseReport("{")).toThrow(ReportError);
    expect(() => parseReport('{"v":2}')).toThrow(/version 2/);
    const good = testReport("s", "i", {
      v: 1,
      server: { name: "n" },
      limit: 4,
      bounds: [0.1],
      methods: { GET: { n: 1, err: 0, to: 0, h: [1, 0] } },
    });
    expect(parseReport(JSON.stringify(good))).toEqual(good);
    expect(() => parseReport(JSON.stringify({ ...good, limit: -1 }))).toThrow(/limit/);
    expect(() =>
      parseReport(JSON.stringify({ ...good, methods: { GET: { n: 1, err: 0, to: 0, h: [1] } } })),
    ).toThrow(/methods\.GET\.h/);
  });
});

describe("insight - reports aggregated from a real mesh", () => {
  let nats: NatsFixture;
  let nc: NatsConnection;
  let fetch: MeshFetch;
  let insight: MeshInsight;
  const running: ServiceHandle[] = [];

  const start = async (service: string, instance: string, options: Record<string, unknown> = {}) => {
    // Every answer takes 20 ms; /fail answers 503.
    const slow = (req: Request) =>
      new Promise<Response>((r) =>
        setTimeout(
          () => r(new Response("x", { status: new URL(req.url).pathname === "/fail" ? 503 : 200 })),
          20,
        ),
      );
    const svc = await serve(slow, {
      service,
      instance,
      nc: await nats.connect(),
      logger: silent,
      metrics: false,
      reportInterval: 100,
      concurrency: 8,
      version: "1.2.3",
      ...options,
    });
    running.push(svc);
    return svc;
  };

  beforeAll(async () => {
    nats = await natsFixture();
    nc = nats.nc;
    fetch = createFetch({ nc, timeout: 5000 });
    insight = createInsight(nc, { window: 2, tick: 100, target: 0.5 });
  });

  afterAll(async () => {
    insight?.close();
    await Promise.all(running.map((s) => s.stop()));
    await fetch?.close();
    await nats?.[Symbol.asyncDispose]();
  });

  it("insight - services, methods and instances with rates, quantiles, saturation and the instances needed", async () => {
    await start("weather", "w1");
    await start("weather", "w2");
    await start("billing", "b1");
    // Load: 8 callers in a loop against weather (each answer takes 20 ms), a few errors.
    let loading = true;
    const load = Array.from({ length: 8 }, async (_, i) => {
      while (loading) {
        const res = await fetch(i === 0 ? "http://weather/fail" : "http://weather/x", {
          method: i === 1 ? "POST" : "GET",
          body: i === 1 ? "x" : undefined,
        });
        await res.arrayBuffer();
      }
    });
    try {
      const view = await check(
        () => {
          const v = insight.view();
          const w = v.services.find((s) => s.service === "weather");
          return w && w.instances.length === 2 && w.rate > 50 && w.p99 !== null && w.inFlight > 3
            ? v
            : undefined;
        },
        8000,
        { name: "weather under load in the picture" },
      );
      if (!view) throw new Error("unreachable: check() returns a value");
      const weather = view.services.find((s) => s.service === "weather")!;
      expect(weather.instances.map((i) => i.id)).toEqual(["w1", "w2"]);
      expect(weather.versions).toEqual(["1.2.3"]);
      expect(weather.limit).toBe(16);
      expect(weather.saturation).toBeCloseTo(weather.inFlight / 16);
      expect(weather.needed).toBe(Math.ceil(weather.inFlight / (8 * 0.5) - 1e-9));
      expect(weather.p50!).toBeGreaterThanOrEqual(0.01);
      expect(weather.p50!).toBeLessThanOrEqual(0.1);
      expect(weather.errorRate).toBeGreaterThan(0);
      expect(weather.routes.map((r) => r.method)).toEqual(["GET", "POST"]);
      const w1 = weather.instances[0]!;
      expect(w1.server).not.toBe("");
      expect(w1.uptime).toBeGreaterThanOrEqual(0);
      expect(w1.limit).toBe(8);
      expect(view.services.find((s) => s.service === "billing")?.rate).toBe(0);
      expect(insight.history().weather!.length).toBeGreaterThan(0);
    } finally {
      loading = false;
      await Promise.all(load);
    }
  });

  it("insight - a stopped instance leaves at once (its last report); a silent one after three intervals", async () => {
    const gone = await start("orders", "o1");
    const silentOne = await start("orders", "o2");
    await check(
      () => insight.view().services.find((s) => s.service === "orders")?.instances.length === 2,
      5000,
      {
        name: "both orders instances seen",
      },
    );
    await gone.stop();
    await check(
      () =>
        insight
          .view()
          .services.find((s) => s.service === "orders")
          ?.instances.map((i) => i.id)
          .join() === "o2",
      2000,
      { name: "o1 gone after its bye" },
    );
    // Closing the connection without stop(): no last report; the aggregator forgets it by itself.
    await silentOne.nc.close();
    await check(() => !insight.view().services.some((s) => s.service === "orders"), 3000, {
      name: "o2 forgotten after missed reports",
    });
  });

  it("insight - callers' reports are summed over callers; a silent caller is forgotten after three intervals, a stopped one at once", async () => {
    const counts = { a: 0, b: 0 };
    const a = startCallerReporter(await nats.connect(), {
      caller: "ca",
      kind: "fetch",
      interval: 100,
      counts: () => [{ service: "lost", calls: counts.a, noResponders: counts.a, timeouts: 0 }],
    });
    const bnc = await nats.connect();
    const b = startCallerReporter(bnc, {
      caller: "cb",
      kind: "gateway",
      interval: 100,
      counts: () => [{ service: "lost", calls: counts.b, noResponders: 0, timeouts: counts.b }],
    });
    const bump = setInterval(() => {
      counts.a += 10;
      counts.b += 5;
    }, 50);
    try {
      // Both callers' figures on one service: a's no-responders and b's timeouts.
      const both = await check(
        () => {
          const s = insight.view().services.find((x) => x.service === "lost");
          return s && s.noResponderRate > 0 && s.callerTimeoutRate > 0 ? s : undefined;
        },
        5000,
        { name: "both callers in the picture" },
      );
      expect(both).toMatchObject({ instances: [], needed: 1 });
      // b goes silent (its connection closes without a bye): forgotten after three intervals.
      await bnc.close();
      await check(
        () => {
          const s = insight.view().services.find((x) => x.service === "lost");
          return s !== undefined && s.callerTimeoutRate === 0 && s.noResponderRate > 0;
        },
        5000,
        { name: "b forgotten, a still counted" },
      );
      // a stops: its last report (bye) removes it at once, and the service with it.
      await a.stop();
      await check(() => !insight.view().services.some((x) => x.service === "lost"), 2000, {
        name: "a gone",
      });
    } finally {
      clearInterval(bump);
      await a.stop();
      await b.stop();
    }
  });

  it("insight - createFetch({ callerReports }) publishes its no-responders per service; close() sends its last report", async () => {
    const caller = createFetch({ nc: await nats.connect(), timeout: 2000, callerReports: { interval: 100 } });
    let missing = true;
    const misses = (async () => {
      const errors = new Set<string>();
      while (missing) {
        await caller("http://unserved.nats/x").catch((err: Error) => errors.add(err.name));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return [...errors];
    })();
    try {
      const seen = await check(
        () => insight.view().services.find((s) => s.service === "unserved" && s.noResponderRate > 0),
        5000,
        { name: "the fetch's no-responders in the picture" },
      );
      expect(seen).toMatchObject({ instances: [], needed: 1 });
    } finally {
      missing = false;
    }
    expect(await misses).toEqual(["NoRespondersError"]);
    await caller.close();
    await check(() => !insight.view().services.some((s) => s.service === "unserved"), 2000, {
      name: "gone on close",
    });
    expect(() => createFetch({ nc, callerReports: { interval: 0 } })).toThrow(RangeError);
  });

  it("insight - MeshDispatcher({ callerReports }) publishes its no-responders too", async () => {
    const dispatcher = new MeshDispatcher({ nc: await nats.connect(), callerReports: { interval: 100 } });
    let missing = true;
    const misses = (async () => {
      while (missing) {
        await request("http://unserved2.nats/x", { dispatcher }).then(
          (r) => r.body.dump(),
          () => undefined,
        );
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    try {
      await check(
        () => insight.view().services.some((s) => s.service === "unserved2" && s.noResponderRate > 0),
        5000,
        { name: "the dispatcher's no-responders in the picture" },
      );
    } finally {
      missing = false;
      await misses;
    }
    await dispatcher.close();
    await check(() => !insight.view().services.some((s) => s.service === "unserved2"), 2000, {
      name: "gone on close",
    });
  });

  it("insight - a callers' report that is not valid is a CallerReportError naming the field, counted and dropped", async () => {
    const ok = {
      v: 1,
      caller: "c",
      kind: "fetch",
      started: new Date().toISOString(),
      seq: 0,
      interval: 1000,
      services: { s: { n: 1, nr: 0, to: 0 } },
    };
    expect(parseCallerReport(JSON.stringify(ok))).toEqual(ok);
    const bad: [unknown, RegExp][] = [
      [{ ...ok, v: 2 }, /version 2/],
      [{ ...ok, caller: 7 }, /caller/],
      [{ ...ok, interval: 0 }, /interval/],
      [{ ...ok, services: [] }, /services/],
      [{ ...ok, services: { s: { n: 1, nr: -1, to: 0 } } }, /services\.s/],
      [{ ...ok, bye: "yes" }, /bye/],
    ];
    for (const [doc, message] of bad) {
      expect(() => parseCallerReport(JSON.stringify(doc))).toThrow(CallerReportError);
      expect(() => parseCallerReport(JSON.stringify(doc))).toThrow(message);
    }
    expect(() => parseCallerReport("{")).toThrow(/not JSON/);
    expect(() => startCallerReporter(nc, { caller: "a.b", kind: "x", counts: () => [] })).toThrow(RangeError);
    const before = insight.rejected;
    nc.publish(callerReportSubject("evil"), JSON.stringify({ ...ok, seq: -1 }));
    await check(() => insight.rejected === before + 1, 2000, { name: "one rejected" });
  });

  it("insight - a report that is not valid is counted and dropped, the aggregator keeps working", async () => {
    const before = insight.rejected;
    nc.publish(reportSubject("evil", "x"), '{"v":1,"service":"evil"}');
    nc.publish(reportSubject("evil", "y"), "not json");
    await check(() => insight.rejected === before + 2, 2000, { name: "two rejected" });
    expect(insight.view().services.some((s) => s.service === "evil")).toBe(false);
  });

  it("insight - reportInterval 0 publishes nothing; a bad interval is a RangeError", async () => {
    await expect(
      serve(() => new Response("x"), {
        service: "bad",
        nc,
        logger: silent,
        metrics: false,
        reportInterval: -1,
      }),
    ).rejects.toThrow(/reportInterval/);
    const sub = nc.subscribe(reportSubject("quiet", ">"));
    const svc = await start("quiet", "q1", { reportInterval: 0 });
    await svc.stop();
    await nc.flush();
    expect(sub.getReceived()).toBe(0);
    sub.unsubscribe();
  });
});
