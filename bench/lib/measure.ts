/**
 * Load loops for the benchmarks: closed-loop throughput at a fixed concurrency, and sequential
 * latency percentiles. CPU is read from /proc so the responder process and nats-server are counted.
 */
import { readFileSync } from "node:fs";

/** One request; resolves when its answer has been read. */
export type Call = () => Promise<unknown>;

const CLK_TCK = 100;

/** CPU time (user + system) of a process, in milliseconds, from /proc/<pid>/stat. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/** Throughput result. */
export interface Throughput {
  /** Requests per second. */
  rps: number;
  /** CPU milliseconds per 10k requests, per watched process. */
  cpuPer10k: Record<string, number>;
  /** Requests in the measured window. */
  requests: number;
  /** The measured window (after warm-up) on the monotonic clock, µs (`process.hrtime`, as V8's CPU profiles). */
  window: [number, number];
}

const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

async function runFor(call: Call, concurrency: number, ms: number): Promise<number> {
  const end = performance.now() + ms;
  let done = 0;
  const worker = async () => {
    while (performance.now() < end) {
      await call();
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return done;
}

/**
 * A warm-up by count: keeps `concurrency` calls in flight until `calls` have completed or `capMs`
 * has passed. On a loaded machine a warm-up by time alone leaves heavier code unoptimised (V8's
 * background compiler is starved) and that scenario's first measured run slow; returns the count.
 */
export async function warmUpCalls(
  call: Call,
  concurrency: number,
  calls: number,
  capMs: number,
): Promise<number> {
  const end = performance.now() + capMs;
  let done = 0;
  const worker = async () => {
    while (done < calls && performance.now() < end) {
      await call();
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return done;
}

/**
 * Keeps `concurrency` calls in flight for `durationMs` after a warm-up.
 *
 * @param pids - processes whose CPU to report, by label (e.g. client, responder, nats-server).
 */
export async function throughput(
  call: Call,
  {
    concurrency,
    durationMs,
    warmupMs,
    pids,
  }: { concurrency: number; durationMs: number; warmupMs: number; pids: Record<string, number> },
): Promise<Throughput> {
  await runFor(call, concurrency, warmupMs);
  const cpu0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuMs(pid)]));
  const w0 = monotonicUs();
  const t0 = performance.now();
  const n = await runFor(call, concurrency, durationMs);
  const elapsed = performance.now() - t0;
  const w1 = monotonicUs();
  const cpuPer10k: Record<string, number> = {};
  for (const [k, pid] of Object.entries(pids)) cpuPer10k[k] = ((cpuMs(pid) - cpu0[k]!) * 10_000) / n;
  return { rps: (n * 1000) / elapsed, cpuPer10k, requests: n, window: [w0, w1] };
}

/** Latency percentiles in microseconds. */
export interface Latency {
  p50: number;
  p99: number;
}

/** Calls one at a time for `durationMs` after a warm-up and reports p50/p99. */
export async function latency(
  call: Call,
  { durationMs, warmupMs }: { durationMs: number; warmupMs: number },
): Promise<Latency> {
  await runFor(call, 1, warmupMs);
  const samples: number[] = [];
  const end = performance.now() + durationMs;
  while (performance.now() < end) {
    const t = performance.now();
    await call();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]! * 1000;
  return { p50: at(0.5), p99: at(0.99) };
}

/** Median of a list of numbers. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
