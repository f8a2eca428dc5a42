import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    // Files run in parallel, more than one per core: they mostly wait on nats-server, child processes
    // and timers, so vitest's default (cores − 1: one file at a time on CI's 2 cores) leaves the CPU
    // idle. Not more: timing-sensitive tests (queue-group fairness, SIGSTOP detection) need the CPU
    // they wait for. VITEST_MAX_WORKERS overrides it (1: one file at a time again).
    maxWorkers: Number.parseInt(process.env.VITEST_MAX_WORKERS ?? "", 10) || 3,
    minWorkers: 1,
    globalSetup: ["test/support/global-setup.ts"],
  },
});
