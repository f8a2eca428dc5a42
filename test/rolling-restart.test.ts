/**
 * Rolling restart: every instance of a service is replaced, one by one, under a steady load of
 * idempotent requests; `stop()` drains (leaves the queue group, finishes what it accepted), so no
 * request fails.
 */
import { describe, expect, it } from "vitest";
import { createFetch, type ServiceHandle, serve } from "../src/index.js";
import { fetchApp } from "./support/apps.js";
import { natsFixture, silentLogger as silent } from "./support/helpers.js";
import { steadyLoad } from "./support/load.js";
import { check } from "./support/nats-server.js";

describe("rolling restart - replacing every instance under load", () => {
  it("rolling restart - 3 instances replaced one by one while 8 callers send GETs: 0 failures, the new generation serves", async () => {
    await using nats = await natsFixture();
    const start = async (id: string) => {
      const nc = await nats.connect();
      // The instance id doubles as the /whoami answer; the load tallies mesh-instance.
      return serve(fetchApp(id), { service: "rolling", nc, logger: silent, instance: id });
    };
    const old: ServiceHandle[] = [];
    const fresh: ServiceHandle[] = [];
    try {
      for (const id of ["old-1", "old-2", "old-3"]) old.push(await start(id));
      const callerConn = await nats.connect();
      // Requests of 20 ms, so that each stop() finds some in flight.
      await using fetch = createFetch({ nc: callerConn, timeout: 2000 });
      const load = steadyLoad(fetch, "http://rolling/slow?ms=20", { concurrency: 8 });
      await load.successes(50);
      for (const [i, previous] of old.entries()) {
        const id = `new-${i + 1}`;
        fresh.push(await start(id));
        await check(() => (load.result.by.get(id) ?? 0) > 0, 5000, { name: `${id} takes requests` });
        await previous.stop();
        expect(previous.stats()).toMatchObject({ inFlight: 0, queued: 0 });
        await load.successes(30);
      }
      const served = new Map(load.result.by);
      await load.successes(50);
      const result = await load.stop();
      expect(result.failures).toEqual([]);
      // After the last old instance left, only the new generation answers.
      for (const id of ["old-1", "old-2", "old-3"]) expect(result.by.get(id)).toBe(served.get(id));
      expect(old.map((s) => s.stats().requests).every((n) => n > 0)).toBe(true);
    } finally {
      for (const s of [...old, ...fresh]) await s.stop();
    }
  });
});
