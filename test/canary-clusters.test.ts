/**
 * Per-cluster canary splits on nats-server 2.9: instead of cluster-scoped destinations (whose weights
 * 2.9 sums across clusters, so `natsmesh canary` refuses them), each cluster's servers get a mapping
 * of their own. A mapping is applied where a request is published, so callers in each cluster see
 * their cluster's split, whichever cluster the instances are in.
 */
import { describe, expect, it } from "vitest";
import { createFetch, MeshError, type MeshFetch, type ServiceHandle, serve } from "../src/index.js";
import { canaryMapping } from "../src/traffic/index.js";
import { fetchApp } from "./support/apps.js";
import { silentLogger as silent, superClusterFixture } from "./support/helpers.js";
import { check, raw } from "./support/nats-server.js";

const N = 2000;

/** The nats-server config of a weather split v1/v2, built by the canary builder. */
function split(v1: number, v2: number) {
  const m = canaryMapping({
    service: "weather",
    splits: [
      { prefix: "v1", weight: v1 },
      { prefix: "v2", weight: v2 },
    ],
  });
  return {
    mappings: {
      [m.subject]: m.destinations.map((d) => ({ destination: d.destination, weight: raw(`${d.weight}%`) })),
    },
  };
}

async function share(fetch: MeshFetch, label: string): Promise<number> {
  let hits = 0;
  let started = 0;
  const worker = async () => {
    while (started < N) {
      started++;
      const res = await fetch("http://weather/whoami").catch((err: unknown) => {
        throw err instanceof MeshError ? new Error(`${err.code}: ${err.message}`) : err;
      });
      if ((await res.text()) === label) hits++;
    }
  };
  await Promise.all(Array.from({ length: 100 }, worker));
  return (hits * 100) / N;
}

describe("canary - per-cluster splits on nats-server 2.9 (a mapping file per cluster)", () => {
  it("canary - east's servers map 90/10 and west's 10/90: each cluster's callers get their own split, the instances all in east", async () => {
    await using sc = await superClusterFixture();
    const east = sc.clusters.east!.servers;
    const west = sc.clusters.west!.servers;
    // Each cluster's servers restart with their own mapping (a gateway block cannot be reloaded).
    for (const [servers, config] of [
      [east, split(90, 10)],
      [west, split(10, 90)],
    ] as const) {
      for (const s of servers) {
        await s.setConfig(config);
        await s.restart();
      }
    }
    await sc.clusters.east!.waitForMesh();
    await sc.clusters.west!.waitForMesh();
    await check(
      async () => {
        for (const s of sc.servers) {
          const out = (await s.gatewayz()).outbound_gateways ?? {};
          const other = east.includes(s) ? "west" : "east";
          if (!out[other]?.connection) return false;
        }
        return true;
      },
      10_000,
      { name: "gateways formed again" },
    );
    const open = (url: string) => sc.connect({ servers: url });
    const services: ServiceHandle[] = [];
    try {
      const instances = await open(east[0]!.url);
      for (const prefix of ["v1", "v2"])
        services.push(
          await serve(fetchApp(prefix), { service: "weather", prefix, nc: instances, logger: silent }),
        );
      const fromEast = createFetch({ nc: await open(east[1]!.url), retry: false });
      const fromWest = createFetch({ nc: await open(west[1]!.url), retry: false });
      // Interest in v1 and v2 reaches west over the gateway: wait until a west caller sees both.
      await check(
        async () => {
          const seen = new Set<string>();
          for (let i = 0; i < 40; i++) seen.add(await (await fromWest("http://weather/whoami")).text());
          return seen.size === 2;
        },
        5000,
        { name: "west callers reach both versions" },
      );
      const eastV1 = await share(fromEast, "v1");
      const westV1 = await share(fromWest, "v1");
      expect(Math.abs(eastV1 - 90), `east v1 ${eastV1}%`).toBeLessThanOrEqual(3);
      expect(Math.abs(westV1 - 10), `west v1 ${westV1}%`).toBeLessThanOrEqual(3);
    } finally {
      for (const s of services) await s.stop();
    }
  });
});
