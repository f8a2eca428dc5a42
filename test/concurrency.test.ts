/**
 * Per-instance concurrency limits: where the limit comes from, and whether a saturated instance
 * keeps taking work from the queue group while another member has capacity.
 */
import type { Msg } from "@nats-io/nats-core";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFetch, NoRespondersError, type ServiceHandle, serve } from "../src/index.js";
import { QueueGate } from "../src/internal.js";
import { ConcurrencyLimiter } from "../src/server/index.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

/** Requests sent one every {@link PACE_MS}, each taking {@link WORK_MS} to serve. */
const REQUESTS = 30;
const PACE_MS = 5;
const WORK_MS = 50;

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `task` in a slot of `limiter` and frees the slot when the task settles. */
function runTask(limiter: ConcurrencyLimiter, task: () => Promise<unknown>): void {
  limiter.runWithRelease((release) => {
    task().then(release, release);
  });
}

/** Sends {@link REQUESTS} requests to `subject`, one every {@link PACE_MS}; resolves to the answers. */
async function paced(nc: NatsConnection, subject: string): Promise<string[]> {
  const answers: Array<Promise<string>> = [];
  for (let i = 0; i < REQUESTS; i++) {
    answers.push(nc.request(subject, new Uint8Array(0), { timeout: 5000 }).then((m) => m.string()));
    await tick(PACE_MS);
  }
  return Promise.all(answers);
}

describe("limit - a saturated member and the queue group", () => {
  let nats: NatsFixture;
  /** A connection of its own; the fixture closes it. */
  const open = () => nats.connect();
  beforeAll(async () => {
    nats = await natsFixture();
  });
  afterAll(() => nats?.[Symbol.asyncDispose]());

  /** A queue member answering its name after WORK_MS, `limit` at a time; gated: it steps out while saturated. */
  async function member(subject: string, name: string, limit: number, gated: boolean) {
    const nc = await open();
    const work = (msg: Msg) => async () => {
      await tick(WORK_MS);
      msg.respond(name);
    };
    let gate: QueueGate | undefined;
    const limiter = new ConcurrencyLimiter(
      limit,
      gated ? (saturated) => (saturated ? gate?.pause() : gate?.resume()) : undefined,
    );
    const onMessage = (err: Error | null, msg: Msg) => {
      if (!err) runTask(limiter, work(msg));
    };
    if (gated) gate = new QueueGate(nc, subject, "q", onMessage);
    else nc.subscribe(subject, { queue: "q", callback: onMessage });
    await nc.flush();
    return { limiter, gate };
  }

  it("limit - a QueueGate wired to the limiter: the saturated member steps out and the other takes the load; without it, half the requests queue behind the busy one", async () => {
    const nc = await open();
    // Gated: "small" (1 slot) takes a request, steps out, and comes back only when it is free.
    const small = await member("gated", "small", 1, true);
    await member("gated", "big", 50, false);
    const gatedAnswers = await paced(nc, "gated");
    const gatedSmall = gatedAnswers.filter((a) => a === "small").length;
    expect(gatedAnswers).toHaveLength(REQUESTS);
    // About one request per WORK_MS of the 150 ms the load lasts; never half of them.
    expect(gatedSmall).toBeGreaterThanOrEqual(1);
    expect(gatedSmall, `small served ${gatedSmall}`).toBeLessThanOrEqual(8);
    expect(small.gate!.pauses).toBeGreaterThanOrEqual(gatedSmall - 1);
    await small.gate!.drain();

    // Ungated (what serve() does today): the server keeps giving "small" about half.
    await member("plain", "small", 1, false);
    await member("plain", "big", 50, false);
    const plainSmall = (await paced(nc, "plain")).filter((a) => a === "small").length;
    // Binomial(30, 0.5): below 8 has a probability of 0.3%.
    expect(plainSmall).toBeGreaterThanOrEqual(8);
  });

  it("limit - a paused gate still answers what was routed to it before it stepped out; drain() waits for it", async () => {
    const nc = await open();
    const delivered: string[] = [];
    const gate = new QueueGate(nc, "burst", "q", (err, msg) => {
      if (err) return;
      delivered.push(msg.subject);
      msg.respond("ok");
    });
    await nc.flush();
    const caller = await open();
    const burst = Array.from({ length: 20 }, () =>
      caller.request("burst", new Uint8Array(0), { timeout: 2000 }),
    );
    gate.pause();
    const answers = await Promise.allSettled(burst);
    // Whatever the server routed before the UNSUB arrived was delivered and answered; the rest found
    // nobody (no responders at once), never a timeout.
    const failures = answers.filter((a) => a.status === "rejected");
    expect(delivered.length + failures.length).toBe(20);
    for (const f of failures) expect(String((f as PromiseRejectedResult).reason)).toMatch(/no responders/i);
    expect(gate.paused).toBe(true);
    gate.resume();
    await nc.flush(); // the SUB reached the server before the caller's request
    expect((await caller.request("burst", new Uint8Array(0), { timeout: 2000 })).string()).toBe("ok");
    await gate.drain();
    expect(gate.paused).toBe(true);
    gate.resume(); // drained for good
    expect(gate.paused).toBe(true);
  });

  it("limit - a saturated serve() instance stops taking new work while another has capacity", async () => {
    const handler = async () => {
      await tick(WORK_MS);
      return new Response("done");
    };
    const small = await serve(handler, { service: "sat", nc: await open(), concurrency: 1, logger: silent });
    const big = await serve(handler, { service: "sat", nc: await open(), concurrency: 50, logger: silent });
    try {
      const fetch = createFetch({ nc: await open() });
      const answers: Array<Promise<Response>> = [];
      for (let i = 0; i < REQUESTS; i++) {
        answers.push(fetch("http://sat/"));
        await tick(PACE_MS);
      }
      expect((await Promise.all(answers)).map((r) => r.status)).toEqual(Array(REQUESTS).fill(200));
      expect(small.stats().requests).toBeLessThanOrEqual(8);
    } finally {
      await small.stop();
      await big.stop();
    }
  });
});

describe("limit - every instance saturated", () => {
  let nats: NatsFixture;
  beforeAll(async () => {
    nats = await natsFixture();
  });
  afterAll(() => nats?.[Symbol.asyncDispose]());

  it("limit - requests routed to it before it stepped out wait in its queue (504 past the caller's deadline, then cancelled); a request after that gets no responders, retried until it gives up with 503", async () => {
    let ran = 0;
    const svc = await serve(
      async () => {
        await tick(150);
        ran++;
        return new Response("ok");
      },
      { service: "full", nc: nats.nc, concurrency: 1, logger: silent },
    );
    try {
      // No heartbeat: the timed-out callers cannot cancel their queued requests, which keeps the
      // instance saturated (out of the queue group) for all five. With heartbeats, each queued request
      // is acknowledged, and a caller's timeout cancels it at once (cancellation.test.ts).
      const fetch = createFetch({ nc: nats.nc, timeout: 400, heartbeat: 0 });
      // Sent in one burst: nats-server routes all five before the instance's UNSUB arrives.
      const outcomes = await Promise.all(
        Array.from({ length: 5 }, () =>
          fetch("http://full/").then(
            (r) => String(r.status),
            (err: unknown) => (err as Error).name,
          ),
        ),
      );
      // One at a time, 150 ms each: the first two can finish within 400 ms, the third cannot (450 ms).
      const ok = outcomes.filter((o) => o === "200").length;
      expect(ok).toBeGreaterThanOrEqual(1);
      expect(ok).toBeLessThanOrEqual(2);
      expect(outcomes.filter((o) => o === "TimeoutError")).toHaveLength(5 - ok);
      // The instance is busy until ~750 ms and out of the queue group meanwhile: a new request finds
      // nobody, and the default retries (3 attempts, ~75 ms of backoff) end with no responders.
      expect(ran).toBeLessThan(4);
      const retried: number[] = [];
      await using later = createFetch({
        nc: nats.nc,
        timeout: 400,
        retry: { onRetry: (e) => void retried.push(e.attempt) },
      });
      await expect(later("http://full/")).rejects.toBeInstanceOf(NoRespondersError);
      expect(retried).toEqual([1, 2]);
      // Nothing accepted is dropped: each of the five is answered, or cancelled once its caller's
      // timeout reached the instance (PROTOCOL.md §8.4) — a queued one then never runs.
      await check(
        () => svc.stats().requests + svc.stats().cancelled === 5 && svc.stats().inFlight === 0,
        3000,
        {
          name: "all five answered or cancelled",
        },
      );
      expect(svc.stats().errors).toBe(0);
      expect(ran).toBeLessThanOrEqual(5);
    } finally {
      await svc.stop();
    }
  });
});

describe("limit - where the limit comes from", () => {
  let nats: NatsFixture;
  let nc: NatsConnection;
  beforeAll(async () => {
    nats = await natsFixture();
    nc = nats.nc;
  });
  afterAll(async () => {
    await nats?.[Symbol.asyncDispose]();
  });

  async function peakWith(env: string | undefined, option: number | undefined): Promise<number> {
    const saved = process.env.NATSMESH_CONCURRENCY;
    if (env === undefined) delete process.env.NATSMESH_CONCURRENCY;
    else process.env.NATSMESH_CONCURRENCY = env;
    let active = 0;
    let peak = 0;
    let svc: ServiceHandle | undefined;
    try {
      svc = await serve(
        async () => {
          active++;
          peak = Math.max(peak, active);
          await tick(30);
          active--;
          return new Response("ok");
        },
        { service: "limits", nc, logger: silent, ...(option !== undefined && { concurrency: option }) },
      );
    } finally {
      if (saved === undefined) delete process.env.NATSMESH_CONCURRENCY;
      else process.env.NATSMESH_CONCURRENCY = saved;
    }
    const fetch = createFetch({ nc });
    await Promise.all(Array.from({ length: 10 }, () => fetch("http://limits/")));
    await svc.stop();
    return peak;
  }

  it("limit - NATSMESH_CONCURRENCY sets an instance's limit; the concurrency option wins over it", async () => {
    expect(await peakWith("3", undefined)).toBe(3);
    expect(await peakWith("3", 5)).toBe(5);
    expect(await peakWith(undefined, undefined)).toBe(10); // default 1024: all 10 at once
  });

  it("limit - a bad NATSMESH_CONCURRENCY is refused, naming the variable", async () => {
    await expect(peakWith("0", undefined)).rejects.toThrow(
      /NATSMESH_CONCURRENCY: expected an integer ≥ 1, got '0'/,
    );
    await expect(peakWith("many", undefined)).rejects.toThrow(RangeError);
  });

  it("limit - the limiter reports saturation on each change only", async () => {
    const seen: boolean[] = [];
    const limiter = new ConcurrencyLimiter(2, (s) => seen.push(s));
    const gates: Array<() => void> = [];
    const task = () => new Promise<void>((r) => gates.push(r));
    runTask(limiter, task);
    expect(seen).toEqual([]);
    runTask(limiter, task);
    runTask(limiter, task); // waits
    expect(seen).toEqual([true]);
    gates.shift()!(); // the waiting one takes the slot: still saturated
    await tick(0);
    expect(seen).toEqual([true]);
    gates.shift()!();
    await tick(0);
    expect(seen).toEqual([true, false]);
    expect(limiter.saturated).toBe(false);
    gates.shift()!();
    await limiter.idle();
  });
});
