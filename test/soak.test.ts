/**
 * The short soak (`npm run soak`, bench/soak/): the whole tool runs as a user runs it — a 3-node
 * cluster, 4 instance processes, the gateway, load through it — on a small schedule: one node
 * SIGKILL, one instance SIGKILL and a 3 s freeze (shorter than two attempts' silence detection, so
 * a request that meets the frozen instance twice is still answered once it resumes). It asserts the
 * guarantees that hold today, none timing-based: no idempotent request fails, every disturbed
 * process is back, no unkeyed POST runs twice, every answered POST was recorded as executed, and the
 * report is complete. Throughput, dips and the frozen ratio are reported, never asserted here.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { SoakReport } from "../bench/soak/report.js";
import { BUILD_TIMEOUT_MS, ensureBuilt } from "./support/build.js";
import { REPO_ROOT } from "./support/nats-server.js";

const SOAK_TIMEOUT_MS = 180_000;

beforeAll(ensureBuilt, BUILD_TIMEOUT_MS);

function runSoak(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("NATS_")));
  const child = spawn(process.execPath, ["--import", "tsx", "bench/soak/run.ts", ...args], {
    cwd: REPO_ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, stdout, stderr })));
}

describe("soak - npm run soak, short schedule", () => {
  it(
    "soak - a node SIGKILL, an instance SIGKILL and a 3 s freeze under load through the gateway: 0 failed idempotent requests, every process back, no unkeyed POST run twice, a complete report",
    async () => {
      const dir = await mkdtemp(join(tmpdir(), "natsmesh-test-soak-"));
      try {
        const json = join(dir, "report.json");
        const run = await runSoak([
          ...["--seconds", "12", "--warmup", "2", "--gap", "1", "--loops", "8", "--node-down", "1000"],
          ...["--events", "node-kill,instance-kill,freeze", "--freeze", "3", "--json", json],
        ]);
        expect(run.code, run.stderr).toBe(0);
        expect(run.stdout).toContain("soak: PASS");
        const report = JSON.parse(await readFile(json, "utf8")) as SoakReport;

        const { requests, duplicates } = report;
        expect(requests.failedIdempotent).toBe(0);
        expect(requests.byKind.get.failed + requests.byKind.keyed.failed).toBe(0);
        for (const kind of ["get", "keyed", "unkeyed"] as const)
          expect(requests.byKind[kind].sent).toBeGreaterThan(0);
        expect(requests.total).toBe(
          requests.byKind.get.sent + requests.byKind.keyed.sent + requests.byKind.unkeyed.sent,
        );

        // Each event happened, in order, and what it disturbed runs again.
        expect(report.events.map((e) => [e.kind, e.restarted, e.error])).toEqual([
          ["node-kill", true, undefined],
          ["instance-kill", true, undefined],
          ["freeze", true, undefined],
        ]);
        expect(report.processes).toEqual({
          instancesStarted: 5,
          nodeRestarts: 1,
          everyTargetRestarted: true,
        });
        expect(report.deaths).toEqual([]);

        // A plain POST is never re-sent; every answered POST had been recorded as executed.
        expect(duplicates.unkeyed.duplicateKeys).toBe(0);
        expect(duplicates.unkeyed.keys).toBeGreaterThanOrEqual(requests.byKind.unkeyed.classes["201"] ?? 0);
        expect(duplicates.keyed.keys).toBe(requests.byKind.keyed.classes["201"]);

        // The report holds every figure, computed (values depend on the machine and are not asserted).
        const kill = report.events[0]!;
        expect(kill.dipMs).toBeTypeOf("number");
        expect(kill.beforeRate).toBeGreaterThan(0);
        expect(report.events[2]!.frozenRatio).toBeTypeOf("number");
        expect(report.memory.map((m) => m.role).sort()).toEqual(
          [
            "gateway",
            "instance-1",
            "instance-2",
            "instance-3",
            "instance-4",
            "nats-1",
            "nats-2",
            "nats-3",
            "soak",
          ].sort(),
        );
        for (const m of report.memory) expect(m.peakMb).toBeGreaterThan(0);
        expect(report.memory.find((m) => m.role === "nats-1")!.processes).toBe(2);
        expect(report.memory.find((m) => m.role === "instance-1")!.processes).toBe(2);
        expect(report.throughput.perSecond.length).toBeGreaterThanOrEqual(12);
        expect(report.targets.filter((t) => t.enforced).every((t) => t.pass)).toBe(true);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    SOAK_TIMEOUT_MS,
  );
});
