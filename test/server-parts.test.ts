import { describe, expect, it, vi } from "vitest";
import { ConcurrencyLimiter } from "../src/server/limiter.js";
import { DeadlineLanes, Deadlines } from "../src/util/deadline-lanes.js";
import { check } from "./support/nats-server.js";

/** Runs `task` in a slot of `limiter` and frees the slot when the task settles. */
function runTask(limiter: ConcurrencyLimiter, task: () => Promise<unknown>): void {
  limiter.runWithRelease((release) => {
    task().then(release, release);
  });
}

describe("server parts - deadlines", () => {
  it("deadlines - a settled entry never expires; an unsettled one expires once", async () => {
    const d = new Deadlines(20);
    const expired: string[] = [];
    const a = d.add(() => expired.push("a"));
    d.add(() => expired.push("b"));
    expect(d.settle(a)).toBe(true);
    await check(() => expired.length === 1, 2000, { name: "b expired" });
    expect(expired).toEqual(["b"]);
    expect(d.size).toBe(0);
    expect(d.settle(a)).toBe(false);
  });

  it("deadlines - an entry never expires early, and a settled oldest entry does not hold up the next", () => {
    vi.useFakeTimers();
    try {
      const d = new Deadlines(40);
      const first = d.add(() => undefined);
      vi.advanceTimersByTime(5);
      let expired = false;
      d.add(() => {
        expired = true;
      });
      d.settle(first);
      // The lane's timer fires at 40 ms for the settled first entry and re-arms for the second.
      vi.advanceTimersByTime(39);
      expect(expired).toBe(false);
      vi.advanceTimersByTime(1);
      expect(expired).toBe(true);
      expect(d.size).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it("deadline lanes - each duration expires on its own; a lane is dropped once its timer finds it empty", async () => {
    const lanes = new DeadlineLanes();
    const expired: number[] = [];
    const keep = lanes.add(30, () => expired.push(30));
    lanes.add(10, () => expired.push(10));
    const settled = lanes.add(20, () => expired.push(20));
    expect(lanes.lanes).toBe(3);
    expect(lanes.settle(settled)).toBe(true);
    await check(() => expired.length === 2, 2000, { name: "two expired" });
    expect(expired).toEqual([10, 30]);
    expect(lanes.settle(keep)).toBe(false);
    await check(() => lanes.lanes === 0, 2000, { name: "lanes dropped" });
  });

  it("deadline lanes - retries' odd durations share a few lanes, and none expires early", () => {
    vi.useFakeTimers();
    try {
      const lanes = new DeadlineLanes();
      const early: number[] = [];
      let expired = 0;
      for (let ms = 200; ms < 240; ms++) {
        const at = performance.now() + ms;
        lanes.add(ms, () => {
          expired++;
          if (performance.now() < at) early.push(ms);
        });
      }
      expect(lanes.lanes).toBe(20); // 40 durations in 2 ms steps (1/64 of 128–255 ms)
      vi.runAllTimers();
      expect(expired).toBe(40);
      expect(early).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("server parts - concurrency limiter", () => {
  it("limiter - runs at most the limit at once, in arrival order, and frees slots of failed tasks", async () => {
    const limiter = new ConcurrencyLimiter(2);
    const started: number[] = [];
    const gates: Array<() => void> = [];
    for (let i = 0; i < 5; i++) {
      runTask(
        limiter,
        () =>
          new Promise<void>((resolve, reject) => {
            started.push(i);
            gates.push(i === 0 ? () => reject(new Error("task failed")) : resolve);
          }),
      );
    }
    expect(started).toEqual([0, 1]);
    expect(limiter.queued).toBe(3);
    gates[0]!();
    await check(() => started.length === 3, 1000, { name: "third started" });
    expect(started).toEqual([0, 1, 2]);
    const idle = limiter.idle();
    for (let i = 1; i < 5; i++) {
      await check(() => gates[i], 1000, { name: `task ${i} started` });
      gates[i]!();
    }
    await idle;
    expect(limiter.active).toBe(0);
    expect(() => new ConcurrencyLimiter(0)).toThrow(RangeError);
  });

  it("limiter - runWithRelease: a slot is freed once however often release is called, and by a task that throws", () => {
    const limiter = new ConcurrencyLimiter(1);
    const releases: Array<() => void> = [];
    const ran: number[] = [];
    for (let i = 0; i < 3; i++)
      limiter.runWithRelease((release) => {
        ran.push(i);
        releases.push(release);
      });
    expect(ran).toEqual([0]);
    releases[0]!();
    releases[0]!(); // a second call frees nothing more
    expect(ran).toEqual([0, 1]);
    expect(limiter.active).toBe(1);
    expect(limiter.queued).toBe(1);
    releases[1]!();
    expect(ran).toEqual([0, 1, 2]);
    releases[2]!();
    expect(() =>
      limiter.runWithRelease(() => {
        throw new Error("task broke");
      }),
    ).toThrow("task broke");
    expect(limiter.active).toBe(0);
  });
});
