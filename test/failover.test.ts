import { describe, expect, it } from "vitest";
import { createFetch, serve } from "../src/index.js";
import { fetchApp } from "./support/apps.js";
import { clusterFixture, silentLogger as silent } from "./support/helpers.js";
import { steadyLoad } from "./support/load.js";
import { check } from "./support/nats-server.js";

describe("failover - 3-node cluster", () => {
  it("failover - the node a service is connected to is killed; the service reconnects and serves again", async () => {
    await using nodes = await clusterFixture(3);
    const [a, b, c] = nodes.servers as [
      (typeof nodes.servers)[0],
      (typeof nodes.servers)[0],
      (typeof nodes.servers)[0],
    ];
    // The service knows only node A; it learns the others from the cluster's INFO updates.
    const svcConn = await nodes.connect({ servers: a.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
    const callerConn = await nodes.connect({ servers: c.url });
    const svc = await serve(fetchApp("svc"), { service: "resilient", nc: svcConn, logger: silent });
    const fetch = createFetch({ nc: callerConn, timeout: 1000 });
    try {
      // Interest travels A → C over routes; wait for it rather than sleeping.
      const first = await check(() => fetch("http://resilient/whoami"), 5000, {
        name: "served through node A",
      });
      expect(first.headers.get("mesh-server")).toBe(a.name);

      await a.kill("SIGKILL");
      const after = await check(
        async () => {
          const res = await fetch("http://resilient/whoami");
          return res.status === 200 ? res : undefined;
        },
        10_000,
        { name: "served again after node A died" },
      );
      expect([b.name, c.name]).toContain(after!.headers.get("mesh-server"));
      expect(await after!.text()).toBe("svc");

      // Node A comes back on the same port and the cluster keeps serving.
      await a.restart();
      await nodes.cluster.waitForMesh();
      expect((await fetch("http://resilient/whoami")).status).toBe(200);
    } finally {
      await svc.stop();
    }
  });

  it("failover - SIGKILL of the node an instance is connected to, under a steady load of GETs: 0 failures; the node comes back and traffic goes on", async () => {
    await using nodes = await clusterFixture(3);
    const [a, b, c] = nodes.servers as [
      (typeof nodes.servers)[0],
      (typeof nodes.servers)[0],
      (typeof nodes.servers)[0],
    ];
    const opts = { reconnectTimeWait: 100, maxReconnectAttempts: -1 };
    const connA = await nodes.connect({ servers: a.url, ...opts });
    const connB = await nodes.connect({ servers: b.url, ...opts });
    const callerConn = await nodes.connect({ servers: c.url, ...opts });
    const onA = await serve(fetchApp("on-a"), {
      service: "steady",
      nc: connA,
      logger: silent,
      instance: "on-a",
    });
    const onB = await serve(fetchApp("on-b"), {
      service: "steady",
      nc: connB,
      logger: silent,
      instance: "on-b",
    });
    // The client's retries: no responders and lost connections (the default), and an attempt that
    // got no answer within 500 ms (a request the dying node swallowed) is sent again.
    const fetch = createFetch({ nc: callerConn, timeout: 3000, retry: { attempts: 5, attemptTimeout: 500 } });
    try {
      await check(
        async () => {
          const seen = new Set<string | null>();
          for (let i = 0; i < 20; i++)
            seen.add((await fetch("http://steady/whoami")).headers.get("mesh-instance"));
          return seen.size === 2;
        },
        5000,
        { name: "both instances serve the caller on node C" },
      );
      const load = steadyLoad(fetch, "http://steady/whoami", { header: "mesh-instance" });
      await load.successes(100);

      await a.kill("SIGKILL");
      await load.successes(100);
      // The instance that was on A reconnects to B or C and takes requests again.
      await check(() => connA.getServer() !== a.hostport && !connA.isClosed(), 10_000, {
        name: "instance on-a reconnected elsewhere",
      });
      const beforeBack = load.result.by.get("on-a") ?? 0;
      await check(() => (load.result.by.get("on-a") ?? 0) > beforeBack, 5000, { name: "on-a serves again" });

      // Node A comes back on the same port; the load goes on.
      await a.restart();
      await nodes.cluster.waitForMesh();
      await load.successes(100);
      const result = await load.stop();
      expect(result.failures).toEqual([]);
      expect(result.ok).toBeGreaterThanOrEqual(300);
      // A caller on the restarted node is served too.
      await using onRestarted = createFetch({ connection: { servers: a.url, env: {} } });
      expect(
        (await check(() => onRestarted("http://steady/whoami"), 5000, { name: "served via A" })).status,
      ).toBe(200);
    } finally {
      await onA.stop();
      await onB.stop();
      await fetch.close();
    }
  });
});
