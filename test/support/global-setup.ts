/**
 * vitest globalSetup: makes sure that no nats-server processes spawned by the test harness outlive a
 * run (see PID_DIR in ./nats-server.ts). It does nothing else, so that a file that needs no server
 * runs alone at once: what a test needs it asks for itself (`NatsServer.start` looks for the binary,
 * `ensureBuilt` in ./build.ts builds dist/).
 */
import { isAlive, type PidRecord, procCmdline, reapRecorded } from "./nats-server.js";

/** True when `pid` looks like a live node (vitest) process, i.e. a possibly concurrent run. */
function isLiveNode(pid: number): boolean {
  return pid > 0 && isAlive(pid) && /node|vitest|tsx/.test(procCmdline(pid));
}

/** Leftover from an interrupted run: the process that spawned it (and its parent) are gone. */
function isOrphan(r: PidRecord): boolean {
  return !isLiveNode(r.owner) && !isLiveNode(r.ownerParent);
}

/** Kills servers left behind by an interrupted earlier run. */
export function setup(): void {
  const killed = reapRecorded(isOrphan);
  if (killed.length)
    console.warn(`[natsmesh] killed ${killed.length} leftover nats-server(s): ${killed.join(", ")}`);
}

/** Kills any nats-server still registered by this run (or orphaned). */
export function teardown(): void {
  const killed = reapRecorded((r) => r.owner === process.pid || r.ownerParent === process.pid || isOrphan(r));
  if (killed.length)
    console.warn(`[natsmesh] killed ${killed.length} nats-server(s) left running: ${killed.join(", ")}`);
}
