/**
 * `natsmesh dashboard` as users run it: the installed bin as a child process against a real
 * nats-server and a reporting instance. It serves the page, /healthz and the capacity metrics of the
 * services that report, refuses a bad --listen with exit 2, and exits 0 on SIGTERM.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServiceHandle, serve } from "../src/index.js";
import { BUILD_TIMEOUT_MS, ensureBuilt } from "./support/build.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check, REPO_ROOT } from "./support/nats-server.js";

const BIN = join(REPO_ROOT, "bin", "natsmesh");

let nats: NatsFixture;
let svc: ServiceHandle;
const children: ChildProcess[] = [];

beforeAll(async () => {
  [, nats] = await Promise.all([ensureBuilt(), natsFixture()]);
  svc = await serve(() => new Response("ok"), {
    service: "dash",
    instance: "d1",
    nc: nats.nc,
    logger: silent,
    metrics: false,
    reportInterval: 200,
  });
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  await svc?.stop();
  await nats?.[Symbol.asyncDispose]();
});

/** Starts `natsmesh dashboard ARGS` and collects its stderr. */
function dashboard(...args: string[]) {
  const child = spawn(process.execPath, [BIN, "dashboard", ...args], {
    env: { ...process.env, NATS_URL: nats.server.url, NATS_MONITOR_URL: "" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  children.push(child);
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = once(child, "exit").then(([code]) => code as number | null);
  return { child, exited, stderr: () => stderr };
}

describe("cli - natsmesh dashboard", () => {
  it("cli - dashboard serves the page, /healthz and the reporting service's capacity metrics; SIGTERM exits 0", async () => {
    const run = dashboard("--listen", "127.0.0.1:0");
    await check(() => /dashboard on (http:\/\/127\.0\.0\.1:\d+)/.test(run.stderr()), 10_000, {
      name: "dashboard listening",
    });
    const url = /dashboard on (http:\/\/127\.0\.0\.1:\d+)/.exec(run.stderr())?.[1];
    expect(url).toBeDefined();
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    await page.text();
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    let metrics = "";
    await check(
      async () => {
        metrics = await (await fetch(`${url}/metrics`)).text();
        return /^natsmesh_insight_instances\{service="dash"\} 1$/m.test(metrics);
      },
      10_000,
      { name: "the dash service in /metrics" },
    );
    expect(metrics).toMatch(/^natsmesh_insight_instances_needed\{service="dash"\} \d+$/m);
    run.child.kill("SIGTERM");
    expect(await run.exited).toBe(0);
    expect(run.stderr()).toMatch(/SIGTERM: dashboard stopped/);
  });

  it("cli - dashboard with a --listen that is not HOST:PORT exits 2 and says what to pass", async () => {
    const run = dashboard("--listen", "nowhere");
    expect(await run.exited).toBe(2);
    expect(run.stderr()).toMatch(/--listen 'nowhere': expected HOST:PORT/);
  });
});
