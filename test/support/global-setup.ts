/**
 * vitest globalSetup: makes sure nats-server is installed and that no nats-server processes
 * spawned by the test harness outlive a run (see PID_DIR in ./nats-server.ts).
 */
import { ensureBuilt } from "./build.js";
import { findNatsServerBinary, isAlive, type PidRecord, procCmdline, reapRecorded } from "./nats-server.js";

/** True when `pid` looks like a live node (vitest) process, i.e. a possibly concurrent run. */
function isLiveNode(pid: number): boolean {
  return pid > 0 && isAlive(pid) && /node|vitest|tsx/.test(procCmdline(pid));
}

/** Leftover from an interrupted run: the process that spawned it (and its parent) are gone. */
function isOrphan(r: PidRecord): boolean {
  return !isLiveNode(r.owner) && !isLiveNode(r.ownerParent);
}

/**
 * Fails fast without nats-server; kills servers left behind by an interrupted earlier run; builds
 * dist/ for the tests that run the CLI or import the package.
 */
export async function setup(): Promise<void> {
  if (!findNatsServerBinary()) {
    throw new Error(
      "nats-server binary not found (looked at $NATS_SERVER_BIN, /usr/sbin/nats-server and PATH); " +
        "install nats-server: apt-get install -y nats-server",
    );
  }
  const killed = reapRecorded(isOrphan);
  if (killed.length)
    console.warn(`[natsmesh] killed ${killed.length} leftover nats-server(s): ${killed.join(", ")}`);
  await ensureBuilt();
}

/** Kills any nats-server still registered by this run (or orphaned). */
export function teardown(): void {
  const killed = reapRecorded((r) => r.owner === process.pid || r.ownerParent === process.pid || isOrphan(r));
  if (killed.length)
    console.warn(`[natsmesh] killed ${killed.length} nats-server(s) left running: ${killed.join(", ")}`);
}
