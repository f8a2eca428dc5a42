/**
 * The soak's arithmetic and command line (bench/soak/report.ts, duplicates.ts, options.ts) on made-up
 * records, without servers: the dip after a kill, the frozen ratio, duplicate counting, the exit
 * verdict and the flags.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { countExecutions } from "../bench/soak/duplicates.js";
import { kindsOfLoops, type LoadTally } from "../bench/soak/load.js";
import { parseSoakArgs, SoakUsageError, scheduleFor } from "../bench/soak/options.js";
import { buildReport, formatReport, type RunRecord } from "../bench/soak/report.js";

/** 100 ms buckets: `perBucket` everywhere, `dip` in [fromMs, toMs). */
function timeline(ms: number, perBucket: number, dips: Array<[number, number, number]> = []): number[] {
  return Array.from({ length: ms / 100 }, (_, b) => {
    const dip = dips.find(([from, to]) => b * 100 >= from && b * 100 < to);
    return dip ? dip[2] : perBucket;
  });
}

function record(tl: number[], over: Partial<RunRecord> = {}): RunRecord {
  const options = parseSoakArgs(["--seconds", "30"])!;
  const ok = tl.reduce((a, n) => a + n, 0);
  const tally: LoadTally = {
    sent: { get: ok, keyed: 0, unkeyed: 0 },
    classes: { get: { "200": ok }, keyed: {}, unkeyed: {} },
    failed: { get: 0, keyed: 0, unkeyed: 0 },
    timeline: tl,
    failureSamples: [],
  };
  const none = { executions: 0, keys: 0, duplicateKeys: 0, extraExecutions: 0, examples: [], repeatsAt: [] };
  return {
    options,
    command: "npm run soak",
    startedAt: new Date(0),
    wallAtZero: 0,
    durationMs: tl.length * 100,
    loadAverage: { before: 1, after: 1 },
    tally,
    duplicates: { keyed: none, unkeyed: none },
    events: [],
    events_planned: [],
    instancesStarted: 4,
    nodeRestarts: 0,
    deaths: [],
    memory: new Map([["gateway", [{ atMs: 0, pid: 1, mb: 50 }]]]),
    ...over,
  };
}

describe("soak report - figures from the records", () => {
  it("soak report - the dip after a kill is the time below half the rate before it, and failures and repeated keyed POSTs are counted, until the next event", () => {
    // 1000 req/s (100 per bucket); after the kill at 10 s: 0.3 s at 0, 0.2 s at 40% (below half),
    // 0.5 s at 55% (not below); then a second kill at 20 s with no dip.
    const tl = timeline(30_000, 100, [
      [10_000, 10_300, 0],
      [10_300, 10_500, 40],
      [10_500, 11_000, 55],
    ]);
    const events = [
      { kind: "node-kill" as const, target: "nats-1", atMs: 10_000, endMs: 12_000, restarted: true },
      { kind: "instance-kill" as const, target: "instance-1", atMs: 20_000, endMs: 21_000, restarted: true },
    ];
    const run = record(tl, { events, wallAtZero: 1_000_000 });
    run.duplicates.keyed = { ...run.duplicates.keyed, repeatsAt: [1_010_500, 1_020_001, 1_025_000] };
    run.tally.failureSamples = [
      { kind: "get", class: "503 NM_ERR_INSTANCE_LOST", atMs: 10_100 },
      { kind: "unkeyed", class: "503 NM_ERR_INSTANCE_LOST", atMs: 19_999 },
      { kind: "keyed", class: "error ECONNRESET", atMs: 20_000 },
    ];
    const rep = buildReport(run);
    expect(rep.events.map((e) => [e.beforeRate, e.dipMs, e.minRate, e.failed, e.keyedRepeats])).toEqual([
      [1000, 500, 0, { idempotent: 1, unkeyed: 1 }, 1],
      [1000, 0, 1000, { idempotent: 1, unkeyed: 0 }, 2],
    ]);
    expect(rep.targets.find((t) => t.name.startsWith("longest dip"))).toMatchObject({
      value: 500,
      pass: true,
      enforced: false,
    });
  });

  it("soak report - with a timeline per kind, each kind's own dip after a kill is reported too", () => {
    // GETs keep their rate; keyed POSTs stop for 2 s after the kill at 10 s; unkeyed never come.
    const get = timeline(20_000, 60);
    const keyed = timeline(20_000, 40, [[10_000, 12_000, 0]]);
    const run = record(
      get.map((n, b) => n + keyed[b]!),
      { events: [{ kind: "node-kill", target: "nats-1", atMs: 10_000, endMs: 11_000, restarted: true }] },
    );
    run.tally.timelines = { get, keyed, unkeyed: [] };
    const rep = buildReport(run);
    expect(rep.events[0]).toMatchObject({ dipMs: 0, dipMsByKind: { get: 0, keyed: 2000, unkeyed: 0 } });
    expect(formatReport(rep)).toContain("| 10.0 | node-kill | nats-1 | 0 | 2000 | 0 |");
  });

  it("soak report - the frozen ratio is the rate while SIGSTOPped over the rate of the 10 s before", () => {
    const tl = timeline(40_000, 100, [[10_000, 20_000, 25]]);
    const events = [
      {
        kind: "freeze" as const,
        target: "instance-1",
        atMs: 10_000,
        endMs: 20_000,
        restarted: true,
        frozen: { stoppedAtMs: 10_000, continuedAtMs: 20_000 },
      },
    ];
    const rep = buildReport(record(tl, { events }));
    expect(rep.events[0]).toMatchObject({ beforeRate: 1000, frozenRatio: 0.25, frozenRatioAfter5s: 0.25 });
    expect(rep.targets.find((t) => t.name.startsWith("throughput frozen"))).toMatchObject({
      pass: false,
      enforced: false,
    });
    expect(rep.pass).toBe(true);
    // Given as a flag, the same target decides the verdict.
    const strict = record(tl, { events, options: parseSoakArgs(["--min-frozen-ratio", "0.6"])! });
    expect(buildReport(strict).pass).toBe(false);
  });

  it("soak report - a failed idempotent request, an unexpected death or a process not back fails the run", () => {
    const tl = timeline(10_000, 100);
    const failed = record(tl);
    failed.tally.failed.keyed = 1;
    expect(buildReport(failed).pass).toBe(false);
    const died = record(tl, { deaths: [{ role: "instance-2", pid: 9, exit: "SIGSEGV", atMs: 5 }] });
    expect(buildReport(died).pass).toBe(false);
    expect(formatReport(buildReport(died))).toContain("Unexpected deaths: instance-2 (SIGSEGV)");
    const notBack = record(tl, {
      events: [{ kind: "node-kill", target: "nats-1", atMs: 5000, endMs: 6000, restarted: false }],
    });
    expect(buildReport(notBack).pass).toBe(false);
    expect(buildReport(record(tl)).pass).toBe(true);
  });

  it("soak report - duplicates: keys recorded more than once across the instances' logs, keyed and unkeyed apart", async () => {
    const dir = await mkdtemp(join(tmpdir(), "natsmesh-test-soak-dup-"));
    try {
      await writeFile(join(dir, "a.log"), "K k-1 1000\nK k-2 1001\nU u-1 1002\n");
      await writeFile(join(dir, "b.log"), "K k-2 1500\nK k-2 1400\nU u-2 1003\n");
      const { keyed, unkeyed } = countExecutions([
        join(dir, "a.log"),
        join(dir, "b.log"),
        join(dir, "gone.log"),
      ]);
      expect(keyed).toEqual({
        executions: 4,
        keys: 2,
        duplicateKeys: 1,
        extraExecutions: 2,
        examples: [{ key: "k-2", times: 3 }],
        repeatsAt: [1400, 1500],
      });
      expect(unkeyed).toMatchObject({ executions: 2, keys: 2, duplicateKeys: 0 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("soak options - the command line", () => {
  it("soak options - defaults: 4 minutes, all scenarios, 24 loops, 4 instances, ping_interval 2 s and ping_max 2", () => {
    expect(parseSoakArgs([])).toMatchObject({
      seconds: 240,
      scenario: "all",
      loops: 24,
      instances: 4,
      ping: { intervalSeconds: 2, max: 2 },
      mix: { get: 2, keyed: 1, unkeyed: 1 },
      targets: { maxFailedIdempotent: 0, maxUnexpectedDeaths: 0, maxKeyedDuplicates: undefined },
    });
    expect(parseSoakArgs(["--nats-defaults"])!.ping).toBeUndefined();
    expect(parseSoakArgs(["--minutes", "0.5"])!.seconds).toBe(30);
    expect(parseSoakArgs(["--help"])).toBeUndefined();
    expect(
      parseSoakArgs(["--instance-env", "A=1", "--instance-env", "B=x=y", "--serve-options", '{"a":1}']),
    ).toMatchObject({ instanceEnv: { A: "1", B: "x=y" }, serveOptions: '{"a":1}' });
  });

  it("soak options - a bad flag or value is a usage error naming it", () => {
    expect(() => parseSoakArgs(["--loops", "none"])).toThrow(SoakUsageError);
    expect(() => parseSoakArgs(["--scenario", "storm"])).toThrow(/--scenario 'storm'/);
    expect(() => parseSoakArgs(["--events", "node-kill,meteor"])).toThrow(/'meteor'/);
    expect(() => parseSoakArgs(["--serve-options", "{"])).toThrow(/not JSON/);
    expect(() => parseSoakArgs(["--mix", "1,2"])).toThrow(/--mix/);
    expect(() => parseSoakArgs(["--frobnicate"])).toThrow(SoakUsageError);
  });

  it("soak options - schedules: frozen is one freeze; chaos alternates kills with one rolling restart; all freezes first", () => {
    expect(scheduleFor("frozen")).toEqual(["freeze"]);
    const chaos = scheduleFor("chaos");
    expect(chaos.slice(0, 7)).toEqual([
      "node-kill",
      "instance-kill",
      "node-kill",
      "instance-kill",
      "node-kill",
      "instance-kill",
      "rolling",
    ]);
    expect(chaos.filter((e) => e === "rolling")).toHaveLength(1);
    expect(scheduleFor("all")[0]).toBe("freeze");
  });

  it("soak - --loops-by-kind splits the loops by the mix, at least one per kind with a share", () => {
    const count = (kinds: string[]) =>
      Object.fromEntries(["get", "keyed", "unkeyed"].map((k) => [k, kinds.filter((x) => x === k).length]));
    expect(count(kindsOfLoops(24, { get: 2, keyed: 1, unkeyed: 1 }))).toEqual({
      get: 12,
      keyed: 6,
      unkeyed: 6,
    });
    expect(count(kindsOfLoops(5, { get: 2, keyed: 1, unkeyed: 1 }))).toEqual({
      get: 3,
      keyed: 1,
      unkeyed: 1,
    });
    expect(count(kindsOfLoops(3, { get: 10, keyed: 1, unkeyed: 1 }))).toEqual({
      get: 1,
      keyed: 1,
      unkeyed: 1,
    });
    expect(count(kindsOfLoops(4, { get: 1, keyed: 0, unkeyed: 0 }))).toEqual({
      get: 4,
      keyed: 0,
      unkeyed: 0,
    });
    expect(() => kindsOfLoops(2, { get: 1, keyed: 1, unkeyed: 1 })).toThrow(RangeError);
    expect(parseSoakArgs(["--loops-by-kind"])?.loopsByKind).toBe(true);
    expect(parseSoakArgs([])?.loopsByKind).toBe(false);
  });
});
