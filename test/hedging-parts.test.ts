/**
 * The pure parts of hedged requests (docs/TRAFFIC.md, "Hedged requests"): the latency window and its
 * quantile, the budget, the settings' checks, the eligibility rule, the delay, and the race of
 * copies with fake timers and copies the test settles itself.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import type { WireRequest, WireResponse } from "../src/protocol/index.js";
import { HedgeBudget } from "../src/traffic/hedge-budget.js";
import { hedgeBudgetPolicy, hedgeDelay, hedgePolicy, isHedgeable } from "../src/traffic/hedge-policy.js";
import { type HedgeObserver, hedgedCall } from "../src/traffic/hedged-call.js";
import { LatencyWindow } from "../src/traffic/latency-window.js";

const ok = (status = 200): WireResponse => ({ status, statusText: "", headers: [], body: new Uint8Array(0) });
const req = (method: string, headers: string[] = []): WireRequest => ({
  method,
  path: "/",
  headers,
  body: new Uint8Array(0),
});

describe("hedging - latency window, budget and policy", () => {
  it("hedging - the window's quantile is the nearest rank of the last answers kept", () => {
    const w = new LatencyWindow(100);
    expect(w.quantile(0.95)).toBeUndefined();
    for (let i = 1; i <= 100; i++) w.record(i);
    expect(w.quantile(0.95)).toBe(95);
    expect(w.quantile(0.5)).toBe(50);
    // 100 more, all 1000 ms: the old ones leave the ring.
    for (let i = 0; i < 100; i++) w.record(1000);
    expect(w.quantile(0.5)).toBe(1000);
    w.record(Number.NaN);
    w.record(-1);
    expect(w.count).toBe(100);
    expect(() => new LatencyWindow(0)).toThrow(RangeError);
  });

  it("hedging - the budget starts full, refills by its ratio per call and caps hedges at ratio × calls + burst", () => {
    const b = new HedgeBudget(0.1, 2);
    let hedges = 0;
    for (let call = 0; call < 100; call++) {
      b.deposit();
      if (b.take()) hedges++;
    }
    // 2 from the start, then one per 10 calls after they were spent.
    expect(hedges).toBeLessThanOrEqual(0.1 * 100 + 2);
    expect(hedges).toBe(11);
    const empty = new HedgeBudget(0, 1);
    expect(empty.take()).toBe(true);
    empty.deposit();
    expect(empty.take()).toBe(false);
    expect(() => new HedgeBudget(1.5, 1)).toThrow(RangeError);
    expect(() => new HedgeBudget(0.1, 0)).toThrow(RangeError);
  });

  it("hedging - settings are checked and named in the error", () => {
    expect(hedgePolicy({})).toEqual({ maxHedges: 1, quantile: 0.95, minDelayMs: 10, maxDelayMs: 1000 });
    expect(hedgePolicy({ maxDelayMs: 200 }, hedgePolicy({ maxHedges: 2 }))).toMatchObject({
      maxHedges: 2,
      maxDelayMs: 200,
    });
    expect(() => hedgePolicy({ maxHedges: 0 })).toThrow(/hedge.maxHedges/);
    expect(() => hedgePolicy({ maxHedges: 9 })).toThrow(/hedge.maxHedges/);
    expect(() => hedgePolicy({ quantile: 1 })).toThrow(/hedge.quantile/);
    expect(() => hedgePolicy({ minDelayMs: -1 })).toThrow(/hedge.minDelayMs/);
    expect(() => hedgePolicy({ minDelayMs: 50, maxDelayMs: 20 })).toThrow(/maxDelayMs \(20\)/);
    expect(() => hedgeBudgetPolicy({ budgetRatio: 2 })).toThrow(/hedge.budgetRatio/);
    expect(() => hedgeBudgetPolicy({ budgetBurst: 0.5 })).toThrow(/hedge.budgetBurst/);
    expect(() => hedgeBudgetPolicy({ samples: 5 })).toThrow(/hedge.samples/);
  });

  it("hedging - only idempotent requests with a body in memory are hedgeable", () => {
    for (const m of ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "get"])
      expect(isHedgeable(req(m))).toBe(true);
    expect(isHedgeable(req("POST"))).toBe(false);
    expect(isHedgeable(req("PATCH"))).toBe(false);
    expect(isHedgeable(req("POST", ["idempotency-key", "order-42"]))).toBe(true);
    expect(isHedgeable(req("POST", ["idempotency-key", ""]))).toBe(false);
    expect(isHedgeable({ ...req("PUT"), stream: new ReadableStream() })).toBe(false);
  });

  it("hedging - the delay is the quantile within [min, max], and max until 20 answers were seen", () => {
    const policy = hedgePolicy({ minDelayMs: 10, maxDelayMs: 300 });
    const w = new LatencyWindow(200);
    for (let i = 0; i < 19; i++) w.record(40);
    expect(hedgeDelay(policy, w)).toBe(300);
    w.record(40);
    expect(hedgeDelay(policy, w)).toBe(40);
    const fast = new LatencyWindow(200);
    for (let i = 0; i < 50; i++) fast.record(0.3);
    expect(hedgeDelay(policy, fast)).toBe(10);
    const slow = new LatencyWindow(200);
    for (let i = 0; i < 50; i++) slow.record(5000);
    expect(hedgeDelay(policy, slow)).toBe(300);
  });
});

/** Copies the test settles by hand, and what the race did. */
function race(options: { maxHedges?: number; tokens?: number; signal?: AbortSignal; timeout?: number } = {}) {
  const copies: Array<{
    signal: AbortSignal;
    timeout: number;
    resolve: (r: WireResponse) => void;
    reject: (e: unknown) => void;
  }> = [];
  const counts = { sent: 0, won: 0, exhausted: 0 };
  const observer: HedgeObserver = {
    sent: () => counts.sent++,
    won: () => counts.won++,
    exhausted: () => counts.exhausted++,
  };
  let tokens = options.tokens ?? 10;
  const answered: number[] = [];
  const result = hedgedCall(
    (timeout, signal) =>
      new Promise<WireResponse>((resolve, reject) => {
        copies.push({ signal, timeout, resolve, reject });
      }),
    {
      delay: 50,
      maxHedges: options.maxHedges ?? 1,
      timeout: options.timeout ?? 0,
      signal: options.signal,
      take: () => tokens-- > 0,
      answered: (ms) => answered.push(ms),
      observer,
    },
  );
  const settled = result.then(
    (res) => ({ res, err: undefined }),
    (err: unknown) => ({ res: undefined, err }),
  );
  return { copies, counts, answered, settled };
}

describe("hedging - the race of copies (fake timers)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("hedging - an answer before the delay sends no copy", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const r = race();
    r.copies[0]!.resolve(ok());
    expect((await r.settled).res?.status).toBe(200);
    vi.advanceTimersByTime(1000);
    expect(r.copies).toHaveLength(1);
    expect(r.counts).toEqual({ sent: 0, won: 0, exhausted: 0 });
    expect(r.answered).toHaveLength(1);
  });

  it("hedging - a late answer sends one copy; the copy's answer wins and the first request is aborted", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const r = race();
    vi.advanceTimersByTime(49);
    expect(r.copies).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(r.copies).toHaveLength(2);
    vi.advanceTimersByTime(1000);
    expect(r.copies).toHaveLength(2); // at most maxHedges copies
    r.copies[1]!.resolve(ok(201));
    expect((await r.settled).res?.status).toBe(201);
    expect(r.copies[0]!.signal.aborted).toBe(true);
    expect(String(r.copies[0]!.signal.reason)).toMatch(/another copy of the request answered first/);
    expect(r.copies[1]!.signal.aborted).toBe(false);
    expect(r.counts).toEqual({ sent: 1, won: 1, exhausted: 0 });
  });

  it("hedging - the first request's late answer still wins over a copy, which is aborted", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const r = race({ maxHedges: 2 });
    vi.advanceTimersByTime(100);
    expect(r.copies).toHaveLength(3);
    r.copies[0]!.resolve(ok());
    await r.settled;
    expect(r.copies.map((c) => c.signal.aborted)).toEqual([false, true, true]);
    expect(r.counts).toEqual({ sent: 2, won: 0, exhausted: 0 });
  });

  it("hedging - no token, no copy: the refusal is counted once", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const r = race({ maxHedges: 3, tokens: 0 });
    vi.advanceTimersByTime(1000);
    expect(r.copies).toHaveLength(1);
    expect(r.counts).toEqual({ sent: 0, won: 0, exhausted: 1 });
    r.copies[0]!.resolve(ok());
    await r.settled;
  });

  it("hedging - a copy's failure waits for the others; all failed: the first request's error", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const r = race();
    vi.advanceTimersByTime(50);
    r.copies[0]!.reject(new Error("first"));
    await Promise.resolve();
    r.copies[1]!.resolve(ok(202));
    expect((await r.settled).res?.status).toBe(202);

    const all = race();
    vi.advanceTimersByTime(50);
    all.copies[1]!.reject(new Error("copy"));
    all.copies[0]!.reject(new Error("first"));
    expect(String((await all.settled).err)).toMatch(/first/);
  });

  it("hedging - a failure before the delay fails the call at once and sends no copy", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const r = race();
    r.copies[0]!.reject(new Error("no responders"));
    expect(String((await r.settled).err)).toMatch(/no responders/);
    vi.advanceTimersByTime(1000);
    expect(r.copies).toHaveLength(1);
  });

  it("hedging - the caller's abort aborts every copy; a copy gets what is left of the deadline", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    const ac = new AbortController();
    const r = race({ signal: ac.signal, timeout: 1000 });
    vi.advanceTimersByTime(50);
    expect(r.copies.map((c) => c.timeout)).toEqual([1000, 950]);
    ac.abort(new Error("caller left"));
    expect(r.copies.every((c) => c.signal.aborted && String(c.signal.reason).includes("caller left"))).toBe(
      true,
    );
    for (const c of r.copies) c.reject(c.signal.reason);
    expect(String((await r.settled).err)).toMatch(/caller left/);
  });

  it("hedging - an already aborted caller's signal reaches the first request", async () => {
    const ac = new AbortController();
    ac.abort(new Error("gone"));
    const r = race({ signal: ac.signal });
    expect(r.copies[0]!.signal.aborted).toBe(true);
    r.copies[0]!.reject(ac.signal.reason);
    expect(String((await r.settled).err)).toMatch(/gone/);
    expect(r.copies).toHaveLength(1);
  });
});
