import { describe, expect, it } from "vitest";
import { Deadlines } from "../src/server/deadlines.js";
import { ConcurrencyLimiter } from "../src/server/limiter.js";
import { check } from "./support/nats-server.js";

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
});

describe("server parts - concurrency limiter", () => {
  it("limiter - runs at most the limit at once, in arrival order, and frees slots of failed tasks", async () => {
    const limiter = new ConcurrencyLimiter(2);
    const started: number[] = [];
    const gates: Array<() => void> = [];
    for (let i = 0; i < 5; i++) {
      limiter.run(
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
});
