/**
 * The disturbances of a soak run and their schedule: each event runs to its end (the killed process
 * is back), then a quiet gap follows, in which its dip is measured. Targets rotate: the n-th node
 * kill takes node n mod 3, the n-th instance kill or freeze instance n mod N.
 */
import type { Fleet } from "./fleet.js";
import type { SoakCluster } from "./mesh.js";
import type { EventKind, SoakOptions } from "./options.js";

/** What happened in one event. */
export interface EventRecord {
  kind: EventKind;
  /** `nats-2`, `instance-3`, `all instances`. */
  target: string;
  /** When the first signal was sent, ms since the run's start. */
  atMs: number;
  /** When the event was over (the process back and ready, or SIGCONT sent). */
  endMs: number;
  /** Whether the target runs again at the end of the event. */
  restarted: boolean;
  /** For a freeze: when SIGSTOP and SIGCONT were sent. */
  frozen?: { stoppedAtMs: number; continuedAtMs: number };
  /** Set when the event could not be carried out. */
  error?: string;
}

/** What the schedule acts on. */
export interface Targets {
  nodes: SoakCluster;
  fleet: Fleet;
  clock: () => number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A rough length of an event in ms, so the schedule starts none that cannot end within the run. */
function estimateMs(kind: EventKind, o: SoakOptions): number {
  switch (kind) {
    case "node-kill":
      return o.nodeDownMs + 3000;
    case "instance-kill":
      return o.instanceRestartMs + 3000;
    case "rolling":
      return o.instances * 4000;
    case "freeze":
      return o.freezeSeconds * 1000 + 1000;
  }
}

/**
 * Runs `events` in order, each followed by the gap, until `endMs`. From the default schedule an event
 * starts only when it and its gap fit before the end; an explicit `--events` list runs in full.
 */
export async function runSchedule(
  events: EventKind[],
  explicit: boolean,
  o: SoakOptions,
  t: Targets,
  endMs: number,
): Promise<EventRecord[]> {
  const records: EventRecord[] = [];
  const counts = { node: 0, instance: 0 };
  for (const kind of events) {
    if (!explicit && t.clock() + estimateMs(kind, o) + o.gapSeconds * 1000 > endMs) break;
    const atMs = t.clock();
    const record: EventRecord = { kind, target: "", atMs, endMs: atMs, restarted: false };
    try {
      if (kind === "node-kill") {
        const i = counts.node++ % 3;
        record.target = `nats-${i + 1}`;
        await t.nodes.kill(i, o.nodeDownMs);
        record.restarted = t.nodes.isRunning(i);
      } else if (kind === "instance-kill") {
        const i = counts.instance++ % t.fleet.size;
        record.target = `instance-${i + 1}`;
        await t.fleet.kill(i, o.instanceRestartMs);
        record.restarted = t.fleet.isRunning(i);
      } else if (kind === "rolling") {
        record.target = "every instance in turn";
        for (let i = 0; i < t.fleet.size; i++) await t.fleet.replace(i);
        record.restarted = Array.from({ length: t.fleet.size }, (_, i) => t.fleet.isRunning(i)).every(
          Boolean,
        );
      } else {
        const i = counts.instance++ % t.fleet.size;
        record.target = `instance-${i + 1}`;
        record.frozen = await t.fleet.freeze(i, o.freezeSeconds * 1000);
        record.restarted = t.fleet.isRunning(i);
      }
    } catch (err) {
      record.error = err instanceof Error ? err.message : String(err);
    }
    record.endMs = t.clock();
    records.push(record);
    await sleep(o.gapSeconds * 1000);
  }
  const left = endMs - t.clock();
  if (left > 0) await sleep(left);
  return records;
}
