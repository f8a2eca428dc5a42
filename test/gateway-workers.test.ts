/**
 * `natsmesh gateway --workers N` (node:cluster), run as a child process against a real nats-server:
 * every worker answers, the admin port reports on all of them, SIGTERM lets each finish its
 * in-flight requests, a killed worker is started again, and bad settings are reported before
 * anything is forked or listens.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Counter, Gauge, Registry } from "prom-client";
import { Pool, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveConfig } from "../src/gateway/config/resolve-config.js";
import { MAX_WORKERS, parseWorkers } from "../src/gateway/config/workers-setting.js";
import { ClusterMetrics } from "../src/gateway/workers/cluster-metrics.js";
import type { ServiceHandle } from "../src/index.js";
import { BUILD_TIMEOUT_MS } from "./support/build.js";
import { startGatewayCliEnv, stopGatewayCliEnv } from "./support/gateway-cli.js";
import { closedPort, type NatsServerFixture } from "./support/helpers.js";
import { check, type NatsServer, REPO_ROOT } from "./support/nats-server.js";

const BIN = join(REPO_ROOT, "bin", "natsmesh");

let nats: NatsServerFixture;
let server: NatsServer;
let echo: ServiceHandle;
let tmp: string;
let childEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  // Access lines at info: they name the worker (pid) that answered.
  ({ nats, server, echo, tmp, childEnv } = await startGatewayCliEnv("gw-workers", "info"));
}, BUILD_TIMEOUT_MS);

afterAll(() => stopGatewayCliEnv({ nats, echo, tmp }));

interface Running {
  child: ChildProcess;
  url: string;
  adminUrl: string;
  pids: number[];
  /** Resolves with the exit and everything written to stdout (the access log). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** Starts `natsmesh gateway ...args` and waits for its listening line. */
async function startGateway(args: string[]): Promise<Running> {
  const child = spawn(
    process.execPath,
    [BIN, "gateway", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--server", server.url, ...args],
    { cwd: REPO_ROOT, env: childEnv, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Buffer) => {
    stdout += c.toString();
  });
  const lines = createInterface({ input: child.stderr! });
  // 'close': exited, and its stdout and stderr read to the end.
  const exit = once(child, "close") as Promise<[number | null, NodeJS.Signals | null]>;
  const listening = new Promise<string>((resolve, reject) => {
    lines.on("line", (line) => {
      stderr += `${line}\n`;
      if (line.includes("gateway listening on")) resolve(line);
    });
    void exit.then(() => reject(new Error(`the gateway exited before listening:\n${stderr}`)));
  });
  const exited = exit.then(([code, signal]) => ({ code, signal, stdout, stderr }));
  try {
    const line = await listening;
    const m = /listening on (\S+) \(admin (\S+)\), (\d+) workers \(pids ([\d, ]+)\)/.exec(line);
    if (!m) throw new Error(`unexpected listening line: ${line}`);
    return { child, url: m[1]!, adminUrl: m[2]!, pids: m[4]!.split(", ").map(Number), exited };
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
}

async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await request(url);
  return { status: res.statusCode, text: await res.body.text() };
}

/** The value of a metric line, e.g. `natsmesh_gateway_workers 2` → "2". */
function metric(text: string, name: string): string | undefined {
  return text
    .split("\n")
    .find((l) => l.startsWith(`${name} `))
    ?.slice(name.length + 1);
}

/** Access log lines (message `request`) of the answers to `path`, as pid → count. */
function answeredBy(stdout: string, path: RegExp): Map<number, number> {
  const by = new Map<number, number>();
  for (const line of stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    const entry = JSON.parse(line) as { msg?: string; pid: number; path?: string; status?: number };
    if (entry.msg === "request" && path.test(entry.path ?? "") && entry.status === 200)
      by.set(entry.pid, (by.get(entry.pid) ?? 0) + 1);
  }
  return by;
}

describe("gateway - workers", () => {
  it("gateway - --workers 2: both workers answer, /readyz and /metrics cover both, SIGTERM finishes in-flight requests in each and exits 0", async () => {
    const gw = await startGateway(["--workers", "2", "--route", "/nobody=nobody"]);
    try {
      expect(gw.pids).toHaveLength(2);
      expect(gw.pids).not.toContain(gw.child.pid);
      expect(await get(`${gw.adminUrl}/healthz`)).toEqual({ status: 200, text: '{"status":"ok"}' });
      const ready = await get(`${gw.adminUrl}/readyz`);
      expect(ready.status).toBe(200);
      expect(JSON.parse(ready.text)).toEqual({
        status: "ready",
        workers: gw.pids.map((pid, i) => ({ worker: i + 1, pid, ready: true })),
      });

      // 8 connections, handed out by the primary round-robin: 40 requests over both workers.
      const pool = new Pool(gw.url, { connections: 8 });
      try {
        const answers = await Promise.all(
          Array.from({ length: 40 }, async (_, i) => {
            const res = await pool.request({ path: `/echo/whoami?i=${i}`, method: "GET" });
            return `${res.statusCode} ${await res.body.text()}`;
          }),
        );
        expect(answers).toEqual(Array.from({ length: 40 }, () => "200 echo"));
        // A service nobody serves: the workers' no-responders reach the primary's aggregator in
        // their callers' reports ($NM.CALLERS.<id>), as a rate on its /metrics.
        await check(
          async () => {
            const misses = await Promise.all(
              Array.from({ length: 8 }, async () => {
                const res = await pool.request({ path: "/nobody/x", method: "GET" });
                await res.body.arrayBuffer();
                return res.statusCode;
              }),
            );
            expect(misses).toEqual(Array.from({ length: 8 }, () => 503));
            const text = (await get(`${gw.adminUrl}/metrics`)).text;
            return Number(metric(text, 'natsmesh_insight_no_responder_rate{service="nobody"}') ?? 0) > 0;
          },
          5000,
          { name: "the workers' no-responders in the primary's /metrics", interval: 100 },
        );
      } finally {
        await pool.close();
      }
      const metrics = (await get(`${gw.adminUrl}/metrics`)).text;
      const labels = 'route="default",service="echo",method="GET"';
      expect(metric(metrics, `natsmesh_gateway_requests_total{${labels},status="200"}`)).toBe("40");
      // The misses, counted by the workers and summed by the primary.
      expect(metrics).toMatch(
        /^natsmesh_gateway_no_responders_total\{route="[^"]+",service="nobody"\} [1-9]/m,
      );
      expect(metric(metrics, `natsmesh_gateway_request_duration_seconds_count{${labels}}`)).toBe("40");
      expect(metric(metrics, "natsmesh_gateway_workers")).toBe("2");
      expect(metric(metrics, "natsmesh_gateway_worker_restarts_total")).toBe("0");
      // The primary's own aggregator: the mesh dashboard and the capacity metrics on the admin port.
      await check(
        async () =>
          metric((await get(`${gw.adminUrl}/metrics`)).text, 'natsmesh_insight_instances{service="echo"}') ===
          "1",
        5000,
        { name: "echo in the primary's capacity metrics" },
      );
      expect((await get(`${gw.adminUrl}/`)).status).toBe(200);

      // 6 slow requests on 6 new connections (3 per worker), in flight at the service when SIGTERM comes.
      const before = echo.stats().inFlight;
      const slow = Array.from({ length: 6 }, () =>
        request(`${gw.url}/echo/slow?ms=600`).then(async (r) => `${r.statusCode} ${await r.body.text()}`),
      );
      await check(() => echo.stats().inFlight - before === 6, 5000, { name: "6 requests at the service" });
      gw.child.kill("SIGTERM");
      expect(await Promise.all(slow)).toEqual(Array.from({ length: 6 }, () => "200 slow"));
      const { code, signal, stdout, stderr } = await gw.exited;
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      expect(stderr).toContain("natsmesh: gateway stopped");
      // The access log (flushed by each worker as it stops) names who answered.
      const whoami = answeredBy(stdout, /^\/echo\/whoami$/);
      expect([...whoami.keys()].sort()).toEqual([...gw.pids].sort());
      expect([...whoami.values()].reduce((a, b) => a + b, 0)).toBe(40);
      const drained = answeredBy(stdout, /^\/echo\/slow$/);
      expect([...drained.keys()].sort()).toEqual([...gw.pids].sort());
      expect([...drained.values()].reduce((a, b) => a + b, 0)).toBe(6);
    } finally {
      if (gw.child.exitCode === null) gw.child.kill("SIGKILL");
    }
  });

  it("gateway - --workers 2 --drain-delay: on SIGTERM /readyz is 503 for every worker while requests are still answered (Connection: close), then it exits 0", async () => {
    const gw = await startGateway(["--workers", "2", "--drain-delay", "3000"]);
    try {
      expect((await get(`${gw.adminUrl}/readyz`)).status).toBe(200);
      gw.child.kill("SIGTERM");
      await check(async () => (await get(`${gw.adminUrl}/readyz`)).status === 503, 5000, {
        name: "/readyz 503 during the drain",
      });
      const ready = JSON.parse((await get(`${gw.adminUrl}/readyz`)).text) as {
        workers: { ready: boolean }[];
      };
      expect(ready.workers.map((w) => w.ready)).toEqual([false, false]);
      // Still served during the drain, each on a new connection (the primary hands them round-robin).
      for (let i = 0; i < 2; i++) {
        const res = await request(`${gw.url}/echo/whoami`, { reset: true });
        expect([res.statusCode, res.headers.connection, await res.body.text()]).toEqual([
          200,
          "close",
          "echo",
        ]);
      }
      const { code, signal } = await gw.exited;
      expect({ code, signal }).toEqual({ code: 0, signal: null });
    } finally {
      if (gw.child.exitCode === null) gw.child.kill("SIGKILL");
    }
  });

  it("gateway - workers: 2 in the config file; a killed worker is started again (logged) and traffic goes on", async () => {
    const file = join(tmp, "workers.yaml");
    await writeFile(file, "workers: 2\n");
    const gw = await startGateway(["-c", file]);
    try {
      expect(gw.pids).toHaveLength(2);
      const [killed, kept] = gw.pids as [number, number];
      process.kill(killed, "SIGKILL");
      const ready = (await check(
        async () => {
          const r = await get(`${gw.adminUrl}/readyz`);
          const body = JSON.parse(r.text) as { workers: { pid: number | null }[] };
          const pids = body.workers.map((w) => w.pid);
          return r.status === 200 && !pids.includes(killed) && pids.includes(kept) ? pids : undefined;
        },
        10_000,
        { name: "a new worker in place of the killed one, ready" },
      ))!;
      const replacement = ready.find((pid) => pid !== kept)!;
      const metrics = (await get(`${gw.adminUrl}/metrics`)).text;
      expect(metric(metrics, "natsmesh_gateway_worker_restarts_total")).toBe("1");
      expect(metric(metrics, "natsmesh_gateway_workers")).toBe("2");

      const pool = new Pool(gw.url, { connections: 4 });
      try {
        const answers = await Promise.all(
          Array.from({ length: 20 }, async () => {
            const res = await pool.request({ path: "/echo/whoami", method: "GET" });
            return `${res.statusCode} ${await res.body.text()}`;
          }),
        );
        expect(answers).toEqual(Array.from({ length: 20 }, () => "200 echo"));
      } finally {
        await pool.close();
      }
      gw.child.kill("SIGTERM");
      const { code, stdout } = await gw.exited;
      expect(code).toBe(0);
      expect([...answeredBy(stdout, /^\/echo\/whoami$/).keys()].sort()).toEqual([kept, replacement].sort());
      const restartLine = stdout
        .split("\n")
        .find((l) => l.includes(`gateway worker 1 (pid ${killed}) exited unexpectedly (signal SIGKILL)`));
      expect(restartLine).toBeDefined();
      expect(JSON.parse(restartLine!)).toMatchObject({ pid: gw.child.pid, workerPid: killed, level: 40 });
    } finally {
      if (gw.child.exitCode === null) gw.child.kill("SIGKILL");
    }
  });

  it("gateway - a bad --workers or config is reported before anything is forked or listens, a worker's failure as in one process; exit 2", async () => {
    const run = async (args: string[], nats = server.url) => {
      const child = spawn(process.execPath, [BIN, "gateway", "--server", nats, ...args], {
        cwd: REPO_ROOT,
        env: childEnv,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout!.on("data", (c: Buffer) => {
        out += c.toString();
      });
      child.stderr!.on("data", (c: Buffer) => {
        out += c.toString();
      });
      const [code] = await once(child, "exit");
      return { code, out };
    };
    const expected = `a whole number from 1 to ${MAX_WORKERS}, or 'auto'`;
    expect(await run(["--workers", "0"])).toEqual({
      code: 2,
      out: `natsmesh: --workers '0': expected ${expected}\n`,
    });
    const many = join(tmp, "many.yaml");
    await writeFile(many, "workers: many\n");
    expect(await run(["-c", many])).toEqual({
      code: 2,
      out: `natsmesh: ${many}: workers must be ${expected} (got 'many')\n`,
    });
    const badRoute = join(tmp, "bad-route.yaml");
    await writeFile(badRoute, "workers: 2\nroutes:\n  - { prefix: /b, service: Bad Name }\n");
    expect(await run(["-c", badRoute])).toEqual({
      code: 2,
      out: `natsmesh: ${badRoute}: routes[0]: service 'Bad Name' is not a valid service name (use lower-case letters, digits, '_' and '-', with '.' between parts)\n`,
    });
    expect(
      await run(["--workers", "2", "--tls-cert", join(tmp, "none.pem"), "--tls-key", join(tmp, "none.key")]),
    ).toEqual({
      code: 2,
      out: `natsmesh: tls.cert: cannot read ${join(tmp, "none.pem")} (ENOENT)\n`,
    });
    // Past the checks, a worker that cannot start stops the others; its error is the one line.
    const port = await closedPort();
    expect(await run(["--workers", "2", "--listen", "127.0.0.1:0"], `nats://127.0.0.1:${port}`)).toEqual({
      code: 2,
      out: `natsmesh: cannot connect to NATS at nats://127.0.0.1:${port}: connection refused\n`,
    });
  });
});

describe("gateway - workers setting", () => {
  it("gateway - parseWorkers and the config's workers: whole numbers 1..256 or auto", () => {
    expect(parseWorkers("auto")).toBe(availableParallelism());
    expect([parseWorkers(1), parseWorkers(2), parseWorkers("3"), parseWorkers(MAX_WORKERS)]).toEqual([
      1,
      2,
      3,
      MAX_WORKERS,
    ]);
    for (const bad of [0, -1, 1.5, MAX_WORKERS + 1, "x", "", "2.0", null, true])
      expect(parseWorkers(bad), String(bad)).toBeUndefined();
    const resolve = (raw: unknown) => resolveConfig(raw, { source: "gw.yaml", baseDir: "." }).workers;
    expect([resolve({}), resolve({ workers: 4 }), resolve({ workers: "auto" })]).toEqual([
      1,
      4,
      availableParallelism(),
    ]);
    expect(() => resolve({ workers: 0 })).toThrow(
      "gw.yaml: workers must be a whole number from 1 to 256, or 'auto' (got 0)",
    );
  });
});

describe("gateway - cluster metrics", () => {
  it("gateway - workers' counters are summed, circuit states by their maximum, with the primary's own", async () => {
    const worker = (requests: number, circuit: number) => {
      const registry = new Registry();
      new Counter({
        name: "natsmesh_gateway_requests_total",
        help: "h",
        labelNames: ["route"],
        registers: [registry],
      }).inc({ route: "a" }, requests);
      new Gauge({
        name: "natsmesh_gateway_circuit_state",
        help: "h",
        labelNames: ["service"],
        registers: [registry],
      }).set({ service: "s" }, circuit);
      return registry.getMetricsAsJSON();
    };
    const metrics = new ClusterMetrics();
    metrics.workers.set(2);
    metrics.restarts.inc();
    const text = await metrics.aggregate(await Promise.all([worker(3, 1), worker(4, 2)]));
    expect(metric(text, 'natsmesh_gateway_requests_total{route="a"}')).toBe("7");
    expect(metric(text, 'natsmesh_gateway_circuit_state{service="s"}')).toBe("2");
    expect(metric(text, "natsmesh_gateway_workers")).toBe("2");
    expect(metric(text, "natsmesh_gateway_worker_restarts_total")).toBe("1");
  });
});
