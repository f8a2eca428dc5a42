import { connect } from "@nats-io/transport-node";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createFetch, serve } from "../src/index.js";
import { fetchApp } from "./support/apps.js";
import { check, cluster } from "./support/nats-server.js";

const silent = pino({ level: "silent" });

describe("failover - 3-node cluster", () => {
  it("failover - the node a service is connected to is killed; the service reconnects and serves again", async () => {
    await using nodes = await cluster(3);
    const [a, b, c] = nodes.servers as [
      (typeof nodes.servers)[0],
      (typeof nodes.servers)[0],
      (typeof nodes.servers)[0],
    ];
    // The service knows only node A; it learns the others from the cluster's INFO updates.
    const svcConn = await connect({ servers: a.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
    const callerConn = await connect({ servers: c.url });
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
      await nodes.waitForMesh();
      expect((await fetch("http://resilient/whoami")).status).toBe(200);
    } finally {
      await svc.stop();
      await svcConn.close();
      await callerConn.close();
    }
  });
});
