/**
 * Geo failover: two clusters, east and west, joined by gateways, an instance of the service in
 * each. nats-server prefers queue members in the caller's own cluster and fails over to the other
 * cluster when the local members are gone.
 */
import { describe, expect, it } from "vitest";
import { createFetch, type ServiceHandle, serve } from "../src/index.js";
import { fetchApp } from "./support/apps.js";
import { type ChildInstance, startChildInstance } from "./support/child-instance.js";
import { silentLogger as silent, superClusterFixture } from "./support/helpers.js";
import { steadyLoad } from "./support/load.js";
import { check } from "./support/nats-server.js";

/** Loops of the steady load: at most this many requests are in flight when something changes. */
const CONCURRENCY = 4;

describe("geo failover - east/west super-cluster", () => {
  it("geo failover - a caller in east is served by east; east's instance SIGKILLed, by west with 0 failures; started again, by east", async () => {
    await using sc = await superClusterFixture();
    const east = sc.clusters.east!.servers;
    const west = sc.clusters.west!.servers;
    const open = (url: string) => sc.connect({ servers: url });
    // East's instance runs in a process of its own, so that it can be SIGKILLed.
    const startEast = () => startChildInstance("geo", "east", east[0]!.url);
    let eastSvc: ChildInstance | undefined;
    let westSvc: ServiceHandle | undefined;
    try {
      westSvc = await serve(fetchApp("west"), {
        service: "geo",
        nc: await open(west[0]!.url),
        logger: silent,
      });
      eastSvc = await startEast();
      // A request the killed instance had taken is sent again after 500 ms instead of failing at 2 s.
      await using fetch = createFetch({
        nc: await open(east[1]!.url),
        timeout: 2000,
        retry: { attemptTimeout: 500 },
      });
      const servedBy = async () => (await fetch("http://geo/whoami")).headers.get("mesh-cluster");
      // East's interest reaches east-2 over the route: wait for it, then every answer is east's.
      await check(async () => (await servedBy()) === "east", 5000, { name: "east serves the east caller" });
      const load = steadyLoad(fetch, "http://geo/whoami", {
        header: "mesh-cluster",
        concurrency: CONCURRENCY,
      });
      await load.successes(100);
      expect(load.result.by.get("west") ?? 0).toBe(0);

      // East's instance is killed: the load goes to west, nothing fails.
      await eastSvc.kill("SIGKILL");
      eastSvc = undefined;
      const westBefore = load.result.by.get("west") ?? 0;
      await load.successes(100);
      expect((load.result.by.get("west") ?? 0) - westBefore).toBeGreaterThanOrEqual(100 - CONCURRENCY);

      // East's instance comes back: the local cluster wins again.
      eastSvc = await startEast();
      await check(async () => (await servedBy()) === "east", 5000, { name: "east serves again" });
      const westAfter = load.result.by.get("west") ?? 0;
      await load.successes(100);
      const result = await load.stop();
      expect(result.failures).toEqual([]);
      // Requests already on their way may still reach west; everything after is east's.
      expect((result.by.get("west") ?? 0) - westAfter).toBeLessThanOrEqual(CONCURRENCY);
    } finally {
      await eastSvc?.kill();
      await westSvc?.stop();
    }
  });
});
