/**
 * A rogue publisher floods a service subject with garbage (random bytes and broken frames, half with a
 * reply subject) on a real nats-server, while good callers keep calling (figures: bench/flood.ts,
 * BENCHMARKS.md "Flood"):
 * - at a rate the instance keeps up with, every good call is answered and every garbage message is
 *   counted as malformed;
 * - flat out, the instance does not crash, accounts for every message it was given (nats-server may
 *   cut it off as a slow consumer: it reconnects), and answers good calls again once the flood stops;
 * - a rogue whose user may not publish to `mesh.>` cannot flood at all: nats-server drops its messages;
 * - a flood does not become a flood of log lines: one "malformed message" line per second at most.
 */
import { randomBytes } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFetch, type MeshFetch, type ServiceHandle, serve } from "../src/index.js";
import { MALFORMED_LOG_INTERVAL_MS } from "../src/internal.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

const SUBJECT = "mesh.flood.get";

const GARBAGE = Array.from({ length: 64 }, (_, i) => {
  if (i % 4 === 0) return randomBytes(16 + i);
  const frame = Buffer.concat([Buffer.from([0x4e, 0x4d, 1, 1, 0, 0, 0, 40]), randomBytes(40 + i)]);
  if (i % 4 === 2) frame.writeUInt32BE(0xffffffff, 4);
  return frame;
});

let nats: NatsFixture;
let svcConn: NatsConnection;
let svc: ServiceHandle;
let fetch: MeshFetch;
let disconnects = 0;

/** A connection as user `name`; the fixture closes it. */
function user(name: string): Promise<NatsConnection> {
  return nats.connect({ user: name, pass: name, noAsyncTraces: true });
}

/**
 * Publishes garbage to the service subject for `ms`: `perTick` messages every 10 ms, or flat out (in
 * bursts of 500, each flushed); stops early after `max` messages.
 */
async function flood(
  nc: NatsConnection,
  ms: number,
  perTick?: number,
  max = Number.POSITIVE_INFINITY,
): Promise<number> {
  let sent = 0;
  const end = performance.now() + ms;
  while (performance.now() < end && sent < max) {
    const burst = perTick ?? 500;
    for (let i = 0; i < burst; i++, sent++) {
      nc.publish(SUBJECT, GARBAGE[sent & 63]!, sent & 1 ? { reply: `_ROGUE.${sent}` } : undefined);
    }
    await nc.flush();
    if (perTick !== undefined) await new Promise((r) => setTimeout(r, 10));
  }
  return sent;
}

/** Good callers keep `callers` calls in flight for `ms`. */
async function goodCalls(ms: number, callers = 8): Promise<{ ok: number; failed: number }> {
  let ok = 0;
  let failed = 0;
  const end = performance.now() + ms;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (performance.now() < end) {
        try {
          const res = await fetch("http://flood/", { timeout: 5000 });
          if ((await res.text()) === "ok") ok++;
          else failed++;
        } catch {
          failed++;
        }
      }
    }),
  );
  return { ok, failed };
}

beforeAll(async () => {
  nats = await natsFixture(
    {
      authorization: {
        users: [
          { user: "svc", password: "svc" },
          { user: "caller", password: "caller" },
          { user: "rogue", password: "rogue" },
          {
            user: "outsider",
            password: "outsider",
            permissions: { publish: { deny: ["mesh.>"] }, subscribe: { allow: ["_INBOX.>"] } },
          },
        ],
      },
    },
    { user: "svc", pass: "svc", noAsyncTraces: true },
  );
  svcConn = nats.nc;
  (async () => {
    for await (const s of svcConn.status()) if (s.type === "disconnect") disconnects++;
  })();
  svc = await serve(() => new Response("ok"), {
    service: "flood",
    nc: svcConn,
    logger: silent,
    metrics: false,
  });
  fetch = createFetch({ nc: await user("caller") });
});

afterAll(async () => {
  await fetch?.close();
  await svc?.stop();
  await nats?.[Symbol.asyncDispose]();
});

describe("security - rogue publisher flood", () => {
  it("security - a garbage flood the instance keeps up with: every good call answered, every message counted", async () => {
    const rogue = await user("rogue");
    const before = svc.stats().malformed;
    const [sent, good] = await Promise.all([flood(rogue, 1500, 50), goodCalls(1500)]);
    expect(sent).toBeGreaterThan(1000);
    expect(good.failed).toBe(0);
    expect(good.ok).toBeGreaterThan(50);
    await check(() => svc.stats().malformed - before === sent, 5000, {
      name: "every garbage message counted",
    });
  });

  it("security - flat out: no crash, every message it got is counted, good calls come back once it stops", async () => {
    const rogue = await user("rogue");
    const before = svc.stats().malformed;
    const heapBefore = process.memoryUsage().heapUsed;
    const sent = await flood(rogue, 5000, undefined, 30_000);
    expect(sent).toBe(30_000);
    // The backlog sits in nats-server, not in the instance, which works through it. nats-server bounds
    // it: a client that does not read for its write_deadline (2 s) or past max_pending (64 MB) is cut
    // off as a slow consumer, and the instance reconnects; what was queued for it is then lost.
    await check(() => svc.stats().malformed - before === sent || disconnects > 0, 20_000, {
      name: "the instance worked through the whole flood, or was cut off as a slow consumer",
    });
    expect(svc.stats().malformed - before).toBeLessThanOrEqual(sent);
    const res = await check(() => fetch("http://flood/", { timeout: 1000 }), 10_000, {
      name: "a good call answered after the flood",
    });
    expect(await res.text()).toBe("ok");
    expect(svc.stats()).toMatchObject({ inFlight: 0, queued: 0 });
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 << 20);
  });

  it("security - a user without publish permission on mesh.> cannot flood: nats-server drops it all", async () => {
    const outsider = await user("outsider");
    const violations = (async () => {
      let n = 0;
      for await (const s of outsider.status()) if (s.type === "error" && ++n === 1) return n;
      return n;
    })();
    const before = svc.stats().malformed;
    const [sent, good] = await Promise.all([flood(outsider, 700), goodCalls(700)]);
    expect(sent).toBeGreaterThan(1000);
    expect(good.failed).toBe(0);
    expect(good.ok).toBeGreaterThan(20);
    expect(await violations).toBe(1);
    // flood() flushed its last batch: nats-server had refused every message before the flood returned
    expect(await (await fetch("http://flood/")).text()).toBe("ok");
    expect(svc.stats().malformed).toBe(before);
  });

  it("security - malformed messages are all counted but logged once per interval, with the number not logged", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const nc = await user("svc");
    const quiet = await serve(() => new Response("ok"), { service: "quiet", nc, logger, metrics: false });
    try {
      const rogue = await user("rogue");
      for (let i = 0; i < 500; i++) rogue.publish("mesh.quiet.get", GARBAGE[i & 63]!);
      await rogue.flush();
      await check(() => quiet.stats().malformed === 500, 5000, { name: "500 malformed counted" });
      const warned = () => lines.filter((l) => l.msg === "malformed message");
      expect(warned()).toHaveLength(1);
      // once the interval has passed, the next malformed message is logged with the count in between
      await check(
        async () => {
          rogue.publish("mesh.quiet.get", GARBAGE[0]!);
          await rogue.flush();
          return warned().length === 2;
        },
        MALFORMED_LOG_INTERVAL_MS * 4,
        { name: "a second line after the interval", interval: 100 },
      );
      expect(warned()[1]!.unlogged).toBeGreaterThanOrEqual(499);
      expect(warned()[1]!.unlogged).toBeLessThanOrEqual(quiet.stats().malformed - 2);
    } finally {
      await quiet.stop();
    }
  });
});
