/**
 * Outlier ejection through the gateway (docs/TRAFFIC.md, "Outlier ejection"): instances in child
 * processes report every 200 ms; one is stopped with SIGSTOP (it keeps its connection and its place
 * in the queue group), thawed, and another is SIGKILLed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGateway, type Gateway, GatewayConfigError } from "../src/gateway/index.js";
import { NoRespondersError, PermissionDeniedError } from "../src/index.js";
import { type InstanceReport, reportSubject } from "../src/insight/report.js";
import { SilentInstances } from "../src/insight/silent-instances.js";
import { type ChildInstance, startChildInstance } from "./support/child-instance.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { answersByBody } from "./support/load.js";
import { check } from "./support/nats-server.js";
import { testReport } from "./support/reports.js";

const SERVICE = "eject";
const REPORTS = { NATSMESH_REPORT_INTERVAL: "200" };

describe("gateway - outlier ejection", () => {
  let nats: NatsFixture;
  let gateway: Gateway;
  let url: string;
  let a: ChildInstance;
  let b: ChildInstance;
  let c: ChildInstance;

  beforeAll(async () => {
    nats = await natsFixture();
    [a, b, c] = await Promise.all([
      startChildInstance(SERVICE, "a", nats.server.url, REPORTS),
      startChildInstance(SERVICE, "b", nats.server.url, REPORTS),
      startChildInstance(SERVICE, "c", nats.server.url, REPORTS),
    ]);
    // A short cap, so that the killed instance's end of ejection is seen within the test.
    gateway = createGateway({
      listen: "127.0.0.1:0",
      nc: nats.nc,
      logger: silent,
      eject: { maxMs: 1500 },
    });
    ({ url } = await gateway.listen());
  }, 30_000);

  afterAll(async () => {
    for (const child of [a, b, c]) {
      child?.process.kill("SIGCONT");
      await child?.kill();
    }
    await gateway?.close();
    await nats?.[Symbol.asyncDispose]();
  });

  /** The metric's sum over every series (the gateway serves this test's service only). */
  async function metric(name: string): Promise<number> {
    const m = await gateway.metrics.getSingleMetric(name)?.get();
    return (m?.values ?? []).reduce((sum, v) => sum + v.value, 0);
  }

  /** Sends `n` GETs of /whoami through the gateway, 6 at a time: the answers' bodies (instance labels) by count. */
  const whoami = (n: number) =>
    answersByBody(n, async () => {
      const res = await fetch(`${url}/${SERVICE}/whoami`);
      return { status: res.status, text: await res.text() };
    });

  it("gateway - a frozen instance is routed around, comes back when thawed; a killed one ends in queue routing", async () => {
    // All three answer through the queue group, and the gateway has their reports.
    const seen = new Set<string>();
    await check(
      async () => {
        for (const label of (await whoami(6)).by.keys()) seen.add(label);
        return seen.size === 3;
      },
      10_000,
      { name: "the three instances answer" },
    );
    // The gateway knows an instance from its reports: once this subscription, on the gateway's
    // connection and made after the gateway's, has one from each, so has the gateway.
    const reported = new Set<string>();
    const sub = nats.nc.subscribe(`$NM.REPORT.${SERVICE}.>`, {
      callback: (_err, msg) => {
        reported.add(msg.subject.split(".").at(-1)!);
      },
    });
    await check(() => reported.size === 3, 5000, { name: "a report from each instance" });
    sub.unsubscribe();
    expect(await metric("natsmesh_gateway_suspect_instances")).toBe(0);
    expect(await metric("natsmesh_gateway_routed_around_total")).toBe(0);

    c.process.kill("SIGSTOP");
    await check(async () => (await metric("natsmesh_gateway_suspect_instances")) === 1, 5000, {
      name: "the frozen instance is suspect",
    });
    // Once it is suspect, nothing is sent to it: no request waits for the acknowledgement deadline
    // and is sent again, and the two others answer every request.
    const retries = await metric("natsmesh_gateway_retries_total");
    const around = await metric("natsmesh_gateway_routed_around_total");
    const frozen = await whoami(60);
    expect(frozen.failures).toEqual([]);
    expect([...frozen.by.keys()].sort()).toEqual(["a", "b"]);
    expect((frozen.by.get("a") ?? 0) + (frozen.by.get("b") ?? 0)).toBe(60);
    expect(await metric("natsmesh_gateway_retries_total")).toBe(retries);
    expect((await metric("natsmesh_gateway_routed_around_total")) - around).toBe(60);

    // Thawed, it reports again: no longer suspect, and back in rotation.
    c.process.kill("SIGCONT");
    await check(async () => (await metric("natsmesh_gateway_suspect_instances")) === 0, 5000, {
      name: "the thawed instance is no longer suspect",
    });
    await check(async () => (await whoami(6)).by.has("c"), 5000, { name: "the thawed instance answers" });
    const settled = await metric("natsmesh_gateway_routed_around_total");
    expect((await whoami(12)).failures).toEqual([]);
    expect(await metric("natsmesh_gateway_routed_around_total")).toBe(settled);

    // Killed (no bye): suspect while its cap runs, requests answered throughout (a request named to
    // it finds no responders and goes to the queue group at once); after the cap, queue routing.
    await b.kill("SIGKILL");
    const killed = await whoami(30);
    expect(killed.failures).toEqual([]);
    expect(killed.by.has("b")).toBe(false);
    await check(async () => (await metric("natsmesh_gateway_suspect_instances")) === 0, 5000, {
      name: "the killed instance is forgotten after the cap",
    });
    const after = await metric("natsmesh_gateway_routed_around_total");
    const queue = await whoami(12);
    expect(queue.failures).toEqual([]);
    expect([...queue.by.keys()].sort()).toEqual(expect.arrayContaining(["a"]));
    expect(await metric("natsmesh_gateway_routed_around_total")).toBe(after);
  }, 40_000);
});

describe("gateway - outlier ejection settings", () => {
  it("gateway - a bad eject block is a GatewayConfigError naming the field; a bad option a RangeError; nothing connects", () => {
    expect(() => createGateway({ logger: silent, config: { eject: { silentIntervals: 0.5 } } })).toThrow(
      GatewayConfigError,
    );
    expect(() => createGateway({ logger: silent, config: { eject: { silentIntervals: 0.5 } } })).toThrow(
      /eject\.silentIntervals must be a number ≥ 1, got 0\.5/,
    );
    expect(() =>
      createGateway({ logger: silent, config: { eject: { maxMs: 10, other: 1 } as { maxMs: number } } }),
    ).toThrow(/eject/);
    expect(() => createGateway({ logger: silent, config: { eject: { maxMs: 0 } } })).toThrow(/eject\.maxMs/);
    expect(() => createGateway({ logger: silent, eject: { maxMs: Number.NaN } })).toThrow(RangeError);
    expect(() => createGateway({ logger: silent, eject: { silentIntervals: 0 } })).toThrow(
      "eject.silentIntervals must be a number ≥ 1, got 0",
    );
    // Off, or the defaults.
    expect(() => createGateway({ logger: silent, config: { eject: false } })).not.toThrow();
    expect(() => createGateway({ logger: silent, config: { eject: true } })).not.toThrow();
  });
});

describe("gateway - the silent instances of a service, from reports published by hand", () => {
  let nats: NatsFixture;
  beforeAll(async () => {
    nats = await natsFixture();
  });
  afterAll(async () => {
    await nats?.[Symbol.asyncDispose]();
  });

  /** Publishes a report of `id` (interval 40 ms: silent, i.e. suspect, after 100 ms). */
  function report(service: string, id: string, extra: Partial<InstanceReport> = {}): void {
    const r = testReport(service, id, { started: "2026-01-01T00:00:00Z", interval: 40, ...extra });
    nats.nc.publish(reportSubject(service, id), JSON.stringify(r));
  }

  it("gateway - routes round robin to reporting instances not out; the queue when none is silent, all are silent, a bye came, or another prefix reports", async () => {
    const silent = new SilentInstances(nats.nc, "mesh", { maxMs: 60_000 });
    try {
      // One service: a reports, b reports but is out, c goes silent. Another prefix's d never counts.
      report("svc", "a");
      report("svc", "b", { out: true });
      report("svc", "c");
      report("svc", "d", { prefix: "other" });
      nats.nc.publish(reportSubject("svc", "e"), "not a report");
      await nats.nc.flush();
      await check(() => silent.suspects().size === 0 && silent.pick("svc") === undefined, 2000, {
        name: "the reports arrived, no suspect",
      });
      // Keep a and b reporting, let c fall silent.
      let bOut = true;
      const keep = setInterval(() => {
        report("svc", "a");
        report("svc", "b", { out: bOut });
      }, 30);
      try {
        await check(() => silent.suspects().get("svc") === 1, 2000, { name: "c is suspect" });
        // Only a: b says out, c is silent, d is under another prefix.
        expect(new Set(Array.from({ length: 6 }, () => silent.pick("svc")))).toEqual(new Set(["a"]));
        // b no longer out: round robin over a and b.
        bOut = false;
        await check(() => new Set(Array.from({ length: 6 }, () => silent.pick("svc"))).size === 2, 2000, {
          name: "a and b in rotation",
        });
        clearInterval(keep);
        // c says bye: no suspect left, the queue group again (once a and b report on).
        const keepBoth = setInterval(() => {
          report("svc", "a");
          report("svc", "b");
        }, 30);
        try {
          report("svc", "c", { bye: true });
          await check(() => silent.suspects().size === 0 && silent.pick("svc") === undefined, 2000, {
            name: "no suspect after the bye",
          });
        } finally {
          clearInterval(keepBoth);
        }
      } finally {
        clearInterval(keep);
      }
      // Every instance silent: the reports are missing, not one instance — the queue group.
      await check(() => silent.suspects().get("svc") === 2, 2000, { name: "a and b silent" });
      expect(silent.pick("svc")).toBeUndefined();
      // A service never reported.
      expect(silent.pick("nothing")).toBeUndefined();
    } finally {
      silent.close();
    }
  });

  it("gateway - a silent instance is forgotten after maxMs; one named but gone leaves the rotation", async () => {
    const silent = new SilentInstances(nats.nc, "mesh", { maxMs: 300 });
    const keep = setInterval(() => {
      report("cap", "a");
      report("cap", "b");
    }, 30);
    try {
      report("cap", "c");
      await check(() => silent.suspects().get("cap") === 1, 2000, { name: "c is suspect" });
      silent.gone("cap", "b");
      expect(new Set(Array.from({ length: 4 }, () => silent.pick("cap")))).toEqual(new Set(["a"]));
      await check(() => silent.suspects().size === 0, 2000, { name: "c forgotten after the cap" });
      expect(silent.pick("cap")).toBeUndefined();
    } finally {
      clearInterval(keep);
      silent.close();
    }
  });

  it("client scope - only the services called are watched; route() names a healthy instance, falls back to the queue on no responders, and for good once naming is refused", async () => {
    const silent = new SilentInstances(nats.nc, "mesh", { maxMs: 60_000 }, "called");
    const keep = setInterval(() => {
      for (const svc of ["called", "other"]) {
        report(svc, "a");
        report(svc, "b");
      }
    }, 30);
    try {
      // Nothing is watched before the first call to a service: this pick starts the watch.
      expect(silent.pick("called")).toBeUndefined();
      await nats.nc.flush();
      for (const svc of ["called", "other"]) report(svc, "c");
      await check(() => silent.suspects().get("called") === 1, 2000, {
        name: "c of the called service is suspect",
      });
      expect(silent.suspects().has("other")).toBe(false);

      const sent: (string | undefined)[] = [];
      // Named to a healthy instance.
      const named = await silent.route("called", async (to) => {
        sent.push(to);
        return "ok";
      });
      expect(named).toBe("ok");
      expect(["a", "b"]).toContain(sent.at(-1));
      // The named instance is gone: the same request goes to the queue group, and it leaves the rotation.
      sent.length = 0;
      const answer = await silent.route("called", async (to) => {
        sent.push(to);
        if (to !== undefined) throw new NoRespondersError({ service: "called" });
        return "queued";
      });
      expect(answer).toBe("queued");
      expect(sent).toHaveLength(2);
      expect(sent[1]).toBeUndefined();
      // Any other failure is the caller's.
      await expect(
        silent.route("called", async () => {
          throw new Error("boom");
        }),
      ).rejects.toThrow("boom");
      // Naming refused by NATS: the queue group, now and from then on.
      sent.length = 0;
      const refused = await silent.route("called", async (to) => {
        sent.push(to);
        if (to !== undefined)
          throw new PermissionDeniedError({ service: "called" }, "publish", "mesh.called.$I.a.get");
        return "queued";
      });
      expect(refused).toBe("queued");
      expect(sent.at(-1)).toBeUndefined();
      sent.length = 0;
      await silent.route("called", async (to) => sent.push(to));
      expect(sent).toEqual([undefined]);
    } finally {
      clearInterval(keep);
      silent.close();
    }
  });
});
