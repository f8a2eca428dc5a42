/**
 * Outlier ejection in the clients (`createFetch({ eject })`, `MeshDispatcher`; docs/TRAFFIC.md §10):
 * instances in child processes report every 200 ms; one is stopped with SIGSTOP (it keeps its
 * connection and its place in the queue group). Retries are off, so a request the queue group gives
 * to the frozen instance fails: only routing around it makes every call succeed.
 */
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFetch, MeshDispatcher, type MeshFetch, TimeoutError } from "../src/index.js";
import { type ChildInstance, startChildInstance } from "./support/child-instance.js";
import { type NatsFixture, natsFixture } from "./support/helpers.js";
import { answersByBody } from "./support/load.js";
import { check } from "./support/nats-server.js";

const SERVICE = "eject-client";
const REPORTS = { NATSMESH_REPORT_INTERVAL: "200" };

describe("client - outlier ejection", () => {
  let nats: NatsFixture;
  let fetch: MeshFetch;
  let plain: MeshFetch;
  let dispatcher: MeshDispatcher;
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
    // Suspect after 5 report intervals (1 s) without one: a loaded machine may delay a healthy report.
    fetch = createFetch({ nc: nats.nc, eject: { silentIntervals: 5 }, retry: false, timeout: 2000 });
    plain = createFetch({ nc: nats.nc, retry: false, timeout: 2000 });
    dispatcher = new MeshDispatcher({
      nc: nats.nc,
      eject: { silentIntervals: 5 },
      retry: false,
      timeout: 2000,
    });
  }, 30_000);

  afterAll(async () => {
    for (const child of [a, b, c]) {
      child?.process.kill("SIGCONT");
      await child?.kill();
    }
    await fetch?.close();
    await plain?.close();
    await dispatcher?.close();
    await nats?.[Symbol.asyncDispose]();
  });

  /** `n` GETs of /whoami through `call`, 6 at a time: the answers' bodies (instance labels) by count. */
  const whoami = answersByBody;
  const viaFetch = async () => {
    const res = await fetch(`http://${SERVICE}/whoami`);
    return { status: res.status, text: await res.text() };
  };
  const viaDispatcher = async () => {
    const res = await request(`http://${SERVICE}/whoami`, { dispatcher });
    return { status: res.statusCode, text: await res.body.text() };
  };

  it("client - createFetch and MeshDispatcher route around a frozen instance; a call naming it is not moved; thawed, it is back", async () => {
    const seen = new Set<string>();
    await check(
      async () => {
        for (const label of (await whoami(6, viaFetch)).by.keys()) seen.add(label);
        for (const label of (await whoami(6, viaDispatcher)).by.keys()) seen.add(label);
        return seen.size === 3;
      },
      10_000,
      { name: "the three instances answer" },
    );
    // The clients subscribed to the service's reports at their first call, on this connection: once
    // a subscription made after theirs has a report from each instance, so have they.
    const reported = new Set<string>();
    const sub = nats.nc.subscribe(`$NM.REPORT.${SERVICE}.>`, {
      callback: (_err, msg) => {
        reported.add(msg.subject.split(".").at(-1)!);
      },
    });
    await check(() => reported.size === 3, 5000, { name: "a report from each instance" });
    sub.unsubscribe();

    c.process.kill("SIGSTOP");
    // Once the frozen instance is suspect, every call is answered by the two others.
    await check(async () => (await whoami(12, viaFetch)).failures.length === 0, 15_000, {
      name: "createFetch routes around the frozen instance",
    });
    const frozen = await whoami(60, viaFetch);
    expect(frozen.failures).toEqual([]);
    expect([...frozen.by.keys()].sort()).toEqual(["a", "b"]);
    const undiciFrozen = await whoami(30, viaDispatcher);
    expect(undiciFrozen.failures).toEqual([]);
    expect([...undiciFrozen.by.keys()].sort()).toEqual(["a", "b"]);
    // The same calls without ejection: the queue group still gives the frozen instance its share.
    const without = await whoami(30, async () => {
      const res = await plain(`http://${SERVICE}/whoami`, { timeout: 500 });
      return { status: res.status, text: await res.text() };
    });
    expect(without.failures.length).toBeGreaterThan(0);
    // A call that names the frozen instance stays with it.
    const named = await fetch(`http://${SERVICE}/whoami`, { instance: c.instance, timeout: 500 }).catch(
      (e: unknown) => e,
    );
    expect(named).toBeInstanceOf(TimeoutError);

    c.process.kill("SIGCONT");
    await check(async () => (await whoami(6, viaFetch)).by.has("c"), 5000, {
      name: "the thawed instance answers",
    });
  }, 60_000);

  it("client - a bad eject setting is a RangeError at creation", () => {
    expect(() => createFetch({ nc: nats.nc, eject: { silentIntervals: 0.5 } })).toThrow(RangeError);
    expect(() => new MeshDispatcher({ nc: nats.nc, eject: { maxMs: 0 } })).toThrow(/eject.maxMs/);
  });
});
