/**
 * The soak's figures, computed from what the run recorded (nothing here is hard-coded): failures by
 * class, duplicate executions, throughput over time with the dip after each kill and the ratio while
 * an instance is frozen, RSS per process, unexpected deaths, and the targets met or missed. Printed
 * as Markdown tables and written as JSON.
 */
import { availableParallelism } from "node:os";
import type { Executions } from "./duplicates.js";
import type { UnexpectedDeath } from "./fleet.js";
import { BUCKET_MS, type LoadTally, type RequestKind } from "./load.js";
import type { RssSample } from "./memory.js";
import type { SoakOptions } from "./options.js";
import type { EventRecord } from "./scenarios.js";

/** Below this share of the pre-event rate a 100 ms bucket counts as part of a dip. */
export const DIP_THRESHOLD = 0.5;
/** The before-rate of an event is measured over this many ms before it. */
const BEFORE_MS = 5000;

/** An event with its throughput figures. */
export interface MeasuredEvent extends EventRecord {
  /** Successful req/s over the window before the event. */
  beforeRate: number;
  /** Failed requests from the event until the next one (or the end): idempotent (GET, keyed POST) and unkeyed. */
  failed: { idempotent: number; unkeyed: number };
  /** Executions of keyed POSTs beyond the first of their key, from the event until the next one. */
  keyedRepeats: number;
  /** Kills and rolling restart: ms of 100 ms buckets below {@link DIP_THRESHOLD} × beforeRate after it. */
  dipMs?: number;
  /** Kills: the lowest 100 ms bucket after it, as req/s. */
  minRate?: number;
  /** Kills: {@link dipMs} of each request kind's own throughput (runs that recorded it per kind). */
  dipMsByKind?: Partial<Record<RequestKind, number>>;
  /** Freeze: req/s while frozen ÷ beforeRate. */
  frozenRatio?: number;
  /** Freeze: the same over the freeze without its first 5 s (after a stopped process can be found). */
  frozenRatioAfter5s?: number;
}

/** A target and whether it was met; `enforced` ones decide the exit code. */
export interface TargetResult {
  name: string;
  value: number;
  limit: string;
  pass: boolean;
  enforced: boolean;
}

/** Memory of one role over the run. */
export interface MemoryRow {
  role: string;
  processes: number;
  startMb: number;
  peakMb: number;
  endMb: number;
}

/** The whole report (`--json FILE`). */
export interface SoakReport {
  command: string;
  startedAt: string;
  node: string;
  cores: number;
  loadAverage: { before: number; after: number };
  settings: Omit<SoakOptions, "jsonFile" | "targets" | "events"> & { events: string[] };
  durationSeconds: number;
  requests: {
    total: number;
    ok: number;
    failed: number;
    failedIdempotent: number;
    byKind: Record<RequestKind, { sent: number; failed: number; classes: Record<string, number> }>;
    failureSamples: LoadTally["failureSamples"];
  };
  duplicates: { keyed: Executions; unkeyed: Executions };
  throughput: { meanPerSecond: number; perSecond: number[] };
  events: MeasuredEvent[];
  processes: { instancesStarted: number; nodeRestarts: number; everyTargetRestarted: boolean };
  deaths: UnexpectedDeath[];
  memory: MemoryRow[];
  memorySeries: Record<string, RssSample[]>;
  targets: TargetResult[];
  pass: boolean;
}

/** What the run hands over to be reported. */
export interface RunRecord {
  options: SoakOptions;
  command: string;
  startedAt: Date;
  /** `Date.now()` when the run's clock was 0 (the execution logs carry wall-clock times). */
  wallAtZero: number;
  durationMs: number;
  loadAverage: { before: number; after: number };
  tally: LoadTally;
  duplicates: { keyed: Executions; unkeyed: Executions };
  events: EventRecord[];
  events_planned: string[];
  instancesStarted: number;
  nodeRestarts: number;
  deaths: UnexpectedDeath[];
  memory: Map<string, RssSample[]>;
}

/** Successful req/s over [fromMs, toMs) of the timeline. */
function rate(timeline: number[], fromMs: number, toMs: number): number {
  const from = Math.max(0, Math.ceil(fromMs / BUCKET_MS));
  const to = Math.min(timeline.length, Math.floor(toMs / BUCKET_MS));
  if (to <= from) return 0;
  let sum = 0;
  for (let b = from; b < to; b++) sum += timeline[b] ?? 0;
  return (sum * 1000) / ((to - from) * BUCKET_MS);
}

function failedBetween(samples: LoadTally["failureSamples"], fromMs: number, toMs: number) {
  const within = samples.filter((f) => f.atMs >= fromMs && f.atMs < toMs);
  const unkeyed = within.filter((f) => f.kind === "unkeyed").length;
  return { idempotent: within.length - unkeyed, unkeyed };
}

function measure(
  events: EventRecord[],
  tally: LoadTally,
  runEndMs: number,
  keyedRepeatsAtMs: number[],
): MeasuredEvent[] {
  const { timeline } = tally;
  return events.map((e, i) => {
    const nextAt = events[i + 1]?.atMs ?? runEndMs;
    const failed = failedBetween(tally.failureSamples, e.atMs, nextAt);
    const keyedRepeats = keyedRepeatsAtMs.filter((t) => t >= e.atMs && t < nextAt).length;
    if (e.kind === "freeze" && e.frozen) {
      const { stoppedAtMs: s, continuedAtMs: c } = e.frozen;
      const beforeRate = rate(timeline, s - BEFORE_MS, s);
      const ratio = (r: number) => (beforeRate > 0 ? Math.round((r / beforeRate) * 1000) / 1000 : 0);
      return {
        ...e,
        beforeRate: Math.round(beforeRate),
        failed,
        keyedRepeats,
        frozenRatio: ratio(rate(timeline, s, c)),
        frozenRatioAfter5s: ratio(rate(timeline, s + 5000, c)),
      };
    }
    const { beforeRate, dipMs, minRate } = dip(timeline, e.atMs, nextAt, timeline.length);
    const byKind = tally.timelines;
    const dipMsByKind =
      byKind === undefined || !e.kind.endsWith("-kill")
        ? undefined
        : Object.fromEntries(
            Object.entries(byKind).map(([k, t]) => [k, dip(t, e.atMs, nextAt, timeline.length).dipMs]),
          );
    return {
      ...e,
      beforeRate: Math.round(beforeRate),
      failed,
      keyedRepeats,
      dipMs,
      minRate,
      ...(dipMsByKind === undefined ? {} : { dipMsByKind }),
    };
  });
}

/** The dip of `timeline` after an event at `atMs`, until `nextAt` (within `length` buckets). */
function dip(timeline: number[], atMs: number, nextAt: number, length: number) {
  const beforeRate = rate(timeline, atMs - BEFORE_MS, atMs);
  const threshold = (DIP_THRESHOLD * beforeRate * BUCKET_MS) / 1000;
  let below = 0;
  let min = Number.POSITIVE_INFINITY;
  const from = Math.ceil(atMs / BUCKET_MS);
  const to = Math.min(length, Math.floor(nextAt / BUCKET_MS));
  for (let b = from; b < to; b++) {
    const n = timeline[b] ?? 0;
    if (n < threshold) below++;
    min = Math.min(min, n);
  }
  return {
    beforeRate,
    dipMs: below * BUCKET_MS,
    minRate: Number.isFinite(min) ? (min * 1000) / BUCKET_MS : 0,
  };
}

function memoryRows(memory: Map<string, RssSample[]>): MemoryRow[] {
  return [...memory.entries()].map(([role, s]) => ({
    role,
    processes: new Set(s.map((x) => x.pid)).size,
    startMb: s[0]?.mb ?? 0,
    peakMb: Math.max(...s.map((x) => x.mb)),
    endMb: s.at(-1)?.mb ?? 0,
  }));
}

function target(name: string, value: number, limit: number | undefined, fallback: number, atMost = true) {
  const l = limit ?? fallback;
  return {
    name,
    value,
    limit: `${atMost ? "≤" : "≥"} ${l}`,
    pass: atMost ? value <= l : value >= l,
    enforced: limit !== undefined,
  };
}

/** Computes the report from the run's records. */
export function buildReport(r: RunRecord): SoakReport {
  const { tally, options: o } = r;
  const kinds: RequestKind[] = ["get", "keyed", "unkeyed"];
  const sent = kinds.reduce((n, k) => n + tally.sent[k], 0);
  const failed = kinds.reduce((n, k) => n + tally.failed[k], 0);
  const failedIdempotent = tally.failed.get + tally.failed.keyed;
  const perSecond: number[] = [];
  for (let b = 0; b < tally.timeline.length; b += 1000 / BUCKET_MS)
    perSecond.push(tally.timeline.slice(b, b + 1000 / BUCKET_MS).reduce((a, n) => a + n, 0));
  const keyedRepeatsAtMs = r.duplicates.keyed.repeatsAt.map((at) => at - r.wallAtZero);
  const events = measure(r.events, tally, r.durationMs, keyedRepeatsAtMs);
  const dips = events.filter((e) => e.kind.endsWith("-kill")).map((e) => e.dipMs ?? 0);
  const freezes = events.filter((e) => e.frozenRatio !== undefined).map((e) => e.frozenRatio!);
  const everyTargetRestarted = events.every((e) => e.restarted && !e.error);
  const t = o.targets;
  const targets: TargetResult[] = [
    { ...target("failed idempotent requests", failedIdempotent, t.maxFailedIdempotent, 0), enforced: true },
    { ...target("processes died unexpectedly", r.deaths.length, t.maxUnexpectedDeaths, 0), enforced: true },
    {
      name: "every disturbed process back",
      value: events.filter((e) => !e.restarted || e.error).length,
      limit: "0 not back",
      pass: everyTargetRestarted,
      enforced: true,
    },
    target("keyed POSTs executed more than once", r.duplicates.keyed.duplicateKeys, t.maxKeyedDuplicates, 0),
    target(
      "unkeyed POSTs executed more than once",
      r.duplicates.unkeyed.duplicateKeys,
      t.maxUnkeyedDuplicates,
      0,
    ),
  ];
  if (dips.length)
    targets.push(target("longest dip after a SIGKILL, ms", Math.max(...dips), t.maxDipMs, 1000));
  if (freezes.length)
    targets.push(target("throughput frozen ÷ before", Math.min(...freezes), t.minFrozenRatio, 0.6, false));
  const { jsonFile: _j, targets: _t, events: _e, ...settings } = o;
  return {
    command: r.command,
    startedAt: r.startedAt.toISOString(),
    node: process.version,
    cores: availableParallelism(),
    loadAverage: r.loadAverage,
    settings: { ...settings, events: r.events_planned },
    durationSeconds: Math.round(r.durationMs / 100) / 10,
    requests: {
      total: sent,
      ok: sent - failed,
      failed,
      failedIdempotent,
      byKind: Object.fromEntries(
        kinds.map((k) => [k, { sent: tally.sent[k], failed: tally.failed[k], classes: tally.classes[k] }]),
      ) as SoakReport["requests"]["byKind"],
      failureSamples: tally.failureSamples,
    },
    duplicates: r.duplicates,
    throughput: { meanPerSecond: Math.round(((sent - failed) * 1000) / r.durationMs), perSecond },
    events,
    processes: { instancesStarted: r.instancesStarted, nodeRestarts: r.nodeRestarts, everyTargetRestarted },
    deaths: r.deaths,
    memory: memoryRows(r.memory),
    memorySeries: Object.fromEntries(r.memory),
    targets,
    pass: targets.every((x) => x.pass || !x.enforced),
  };
}

const n = (v: number) => v.toLocaleString("en-US");
const s = (ms: number) => (ms / 1000).toFixed(1);

/** The report as Markdown tables, for the terminal and RELIABILITY.md. */
export function formatReport(rep: SoakReport): string {
  const out: string[] = [];
  const set = rep.settings;
  out.push(
    `Soak ${rep.startedAt.slice(0, 16).replace("T", " ")} UTC · \`${rep.command}\` · node ${rep.node} · ` +
      `${rep.durationSeconds} s · ${set.loops} loops${set.loopsByKind ? " (one kind each)" : ""} · ${set.instances} instances · ` +
      `ping_interval ${set.ping ? `${set.ping.intervalSeconds}s, ping_max ${set.ping.max}` : "nats-server defaults"} · ` +
      `load average (1 min) ${rep.loadAverage.before.toFixed(2)} before, ${rep.loadAverage.after.toFixed(2)} after`,
    "",
    "| kind | sent | failed | answers by class |",
    "|---|---:|---:|---|",
  );
  for (const [kind, k] of Object.entries(rep.requests.byKind)) {
    const classes = Object.entries(k.classes)
      .sort((a, b) => b[1] - a[1])
      .map(([c, v]) => `${c}: ${n(v)}`)
      .join(", ");
    const label = { get: "GET", keyed: "POST + Idempotency-Key", unkeyed: "POST, no key" }[kind] ?? kind;
    out.push(`| ${label} | ${n(k.sent)} | ${n(k.failed)} | ${classes} |`);
  }
  out.push(
    `| all | ${n(rep.requests.total)} | ${n(rep.requests.failed)} | ${n(rep.throughput.meanPerSecond)} req/s on average |`,
    "",
    "| POSTs executed | executions | keys | keys executed more than once | extra executions |",
    "|---|---:|---:|---:|---:|",
  );
  for (const [kind, d] of Object.entries(rep.duplicates))
    out.push(
      `| ${kind} | ${n(d.executions)} | ${n(d.keys)} | ${n(d.duplicateKeys)} | ${n(d.extraExecutions)} |`,
    );
  out.push(
    "",
    "| at s | event | target | took s | req/s before | dip ms (< 50%) | lowest req/s | frozen ÷ before (after 5 s) | failed until next: idempotent, unkeyed | keyed POSTs run again | back |",
    "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
  );
  for (const e of rep.events) {
    const frozen =
      e.frozenRatio !== undefined ? `${e.frozenRatio.toFixed(3)} (${e.frozenRatioAfter5s!.toFixed(3)})` : "";
    out.push(
      `| ${s(e.atMs)} | ${e.kind} | ${e.target} | ${s(e.endMs - e.atMs)} | ${n(e.beforeRate)} | ` +
        `${e.dipMs ?? ""} | ${e.minRate !== undefined ? n(e.minRate) : ""} | ${frozen} | ` +
        `${e.failed.idempotent}, ${e.failed.unkeyed} | ${e.keyedRepeats} | ` +
        `${e.error ? `error: ${e.error}` : e.restarted ? "yes" : "NO"} |`,
    );
  }
  const perKind = rep.events.filter((e) => e.dipMsByKind !== undefined);
  if (perKind.length) {
    out.push(
      "",
      "| at s | event | target | dip ms (< 50%) of GETs | of keyed POSTs | of unkeyed POSTs |",
      "|---:|---|---|---:|---:|---:|",
    );
    for (const e of perKind) {
      const d = e.dipMsByKind!;
      out.push(
        `| ${s(e.atMs)} | ${e.kind} | ${e.target} | ${d.get ?? ""} | ${d.keyed ?? ""} | ${d.unkeyed ?? ""} |`,
      );
    }
  }
  out.push("", "| process | processes | RSS MB start | peak | end |", "|---|---:|---:|---:|---:|");
  for (const m of rep.memory)
    out.push(`| ${m.role} | ${m.processes} | ${m.startMb} | ${m.peakMb} | ${m.endMb} |`);
  out.push("", "| target | value | limit | met | decides exit code |", "|---|---:|---|---|---|");
  for (const x of rep.targets)
    out.push(
      `| ${x.name} | ${n(x.value)} | ${x.limit} | ${x.pass ? "yes" : "NO"} | ${x.enforced ? "yes" : "no"} |`,
    );
  if (rep.deaths.length)
    out.push(
      "",
      `Unexpected deaths: ${rep.deaths.map((d) => `${d.role} (${d.exit}) at ${s(d.atMs)} s`).join(", ")}`,
    );
  out.push("", rep.pass ? "soak: PASS" : "soak: FAIL");
  return out.join("\n");
}
