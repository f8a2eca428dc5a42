/**
 * Resident memory (RSS) of every process of the soak over time, read from `/proc/<pid>/statm` once a
 * second, by role (`nats-1`, `instance-2`, `gateway`, `soak`): a role keeps its samples across the
 * processes that fill it (a restarted instance is a new pid in the same role).
 */
import { readFileSync } from "node:fs";

const PAGE_BYTES = 4096;

/** One reading. */
export interface RssSample {
  /** Milliseconds since the run's start. */
  atMs: number;
  pid: number;
  /** Resident set in MB (10^6 bytes). */
  mb: number;
}

/** RSS in MB of `pid`, or undefined when it is gone. */
export function rssMb(pid: number): number | undefined {
  try {
    const resident = Number(readFileSync(`/proc/${pid}/statm`, "utf8").split(" ")[1]);
    return Number.isFinite(resident) ? (resident * PAGE_BYTES) / 1e6 : undefined;
  } catch {
    return undefined;
  }
}

/** Samples the processes `list()` names every `intervalMs` until stopped. */
export class MemorySampler {
  /** Samples per role, in order. */
  readonly samples = new Map<string, RssSample[]>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly list: () => Array<{ role: string; pid: number | undefined }>,
    private readonly clock: () => number,
    intervalMs = 1000,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  /** Takes one reading of every process now. */
  sample(): void {
    const atMs = Math.round(this.clock());
    for (const { role, pid } of this.list()) {
      if (pid === undefined) continue;
      const mb = rssMb(pid);
      if (mb === undefined) continue;
      const series = this.samples.get(role) ?? [];
      if (series.length === 0) this.samples.set(role, series);
      series.push({ atMs, pid, mb: Math.round(mb * 10) / 10 });
    }
  }

  /** Stops sampling (after a last reading). */
  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
}
