/**
 * `natsmesh services ls | ping | info | stats`, run as a child process (`node bin/natsmesh`) against a
 * real nats-server with three services served by this process.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFetch, type MeshFetch, type ServiceHandle, serve } from "../src/index.js";
import type { MicroInfoResponse, MicroStatsResponse } from "../src/internal.js";
import { fetchApp } from "./support/apps.js";
import { BUILD_TIMEOUT_MS, ensureBuilt } from "./support/build.js";
import {
  closedPort,
  type NatsServerFixture,
  natsFixture,
  silentLogger as silent,
} from "./support/helpers.js";
import { check, type NatsServer, REPO_ROOT } from "./support/nats-server.js";

const BIN = join(REPO_ROOT, "bin", "natsmesh");

let baseEnv: NodeJS.ProcessEnv = {};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `natsmesh <args>` to completion. */
function natsmesh(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: { ...baseEnv, ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Table rows (header first), cells split on runs of two or more spaces. */
function rows(stdout: string): string[][] {
  return stdout
    .trimEnd()
    .split("\n")
    .map((line) => line.split(/ {2,}/));
}

let nats: NatsServerFixture;
let server: NatsServer;
let tmp: string;
let fetch: MeshFetch;
let weather: ServiceHandle[];
let invoices: ServiceHandle;
let maps: ServiceHandle;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "natsmesh-cli-services-"));
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("NATS_")));
  [, nats] = await Promise.all([ensureBuilt(), natsFixture({}, { connect: false })]);
  ({ server } = nats);
  baseEnv = { ...clean, XDG_CONFIG_HOME: join(tmp, "xdg"), HOME: tmp, NATS_URL: server.url };
  const connection = { servers: server.url };
  const common = { connection, logger: silent, metrics: false as const };
  weather = [
    await serve(fetchApp(), {
      service: "weather",
      version: "1.4.0",
      description: "the weather API",
      ...common,
    }),
    await serve(fetchApp(), {
      service: "weather",
      version: "1.4.0",
      description: "the weather API",
      ...common,
    }),
  ];
  invoices = await serve(fetchApp(), { service: "billing.invoices", version: "2.0.0", ...common });
  maps = await serve(fetchApp(), { service: "maps", ...common });
  fetch = createFetch({ connection });
  // Known traffic: 3 answers from the weather service, one of them a 500, and one request cancelled
  // by its caller's timeout (the instance learns of it with its first heartbeat).
  for (const path of ["/echo", "/echo", "/status/500"]) await fetch(`http://weather${path}`);
  await fetch("http://weather/slow?ms=2000", { timeout: 100 }).catch(() => undefined);
  await check(() => weather.reduce((n, w) => n + w.stats().cancelled, 0) === 1, 5000, {
    name: "the instance counted the cancellation",
  });
}, 60_000);

afterAll(async () => {
  await fetch?.close();
  for (const svc of [...(weather ?? []), invoices, maps]) await svc?.stop();
  await nats?.[Symbol.asyncDispose]();
  if (tmp) await rm(tmp, { recursive: true, force: true });
}, BUILD_TIMEOUT_MS);

describe("cli - natsmesh services", () => {
  it("cli services - ls lists each service with its version, instances and description", async () => {
    const run = await natsmesh(["services", "ls", "--timeout", "300"]);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    expect(rows(run.stdout)).toEqual([
      ["NAME", "VERSION", "INSTANCES", "DESCRIPTION"],
      ["billing.invoices", "2.0.0", "1"],
      ["maps", "0.0.0", "1"],
      ["weather", "1.4.0", "2", "the weather API"],
    ]);
  });

  it("cli services - ls --json for scripts", async () => {
    const run = await natsmesh(["services", "ls", "--json", "--timeout", "300"]);
    expect(run.code).toBe(0);
    const listed = JSON.parse(run.stdout) as Array<{ name: string; instances: number; ids: string[] }>;
    expect(listed.map((s) => [s.name, s.instances])).toEqual([
      ["billing.invoices", 1],
      ["maps", 1],
      ["weather", 2],
    ]);
    expect(listed[2]!.ids.sort()).toEqual(weather.map((w) => w.instance).sort());
  });

  it("cli services - ping NAME: name, id, version and round-trip time of each instance", async () => {
    const run = await natsmesh(["services", "ping", "weather", "--timeout", "300"]);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    const [header, ...body] = rows(run.stdout);
    expect(header).toEqual(["NAME", "ID", "VERSION", "RTT"]);
    expect(body.map((r) => r[1]).sort()).toEqual(weather.map((w) => w.instance).sort());
    for (const r of body) {
      expect(r[0]).toBe("weather");
      expect(r[2]).toBe("1.4.0");
      expect(r[3]).toMatch(/^\d+(\.\d+)? (ns|µs|ms|s)$/);
    }
  });

  it("cli services - ping --json gives the micro documents with rtt in ms", async () => {
    const run = await natsmesh(["services", "ping", "billing.invoices", "--json", "--timeout", "300"]);
    expect(run.code).toBe(0);
    const [doc, ...rest] = JSON.parse(run.stdout) as Array<{ id: string; name: string; rtt: number }>;
    expect(rest).toEqual([]);
    expect(doc).toMatchObject({
      type: "io.nats.micro.v1.ping_response",
      name: "billing_invoices",
      id: invoices.instance,
    });
    expect(doc!.rtt).toBeGreaterThan(0);
  });

  it("cli services - info NAME shows each instance's endpoint", async () => {
    const run = await natsmesh(["services", "info", "billing.invoices", "--timeout", "300"]);
    expect(run.code).toBe(0);
    expect(rows(run.stdout)).toEqual([
      ["NAME", "ID", "VERSION", "ENDPOINT", "SUBJECT", "QUEUE GROUP"],
      ["billing.invoices", invoices.instance, "2.0.0", "http", "mesh.billing.invoices.*", "billing.invoices"],
    ]);
    const json = await natsmesh(["services", "info", "maps", "--json", "--timeout", "300"]);
    const [info] = JSON.parse(json.stdout) as MicroInfoResponse[];
    expect(info!.endpoints).toEqual([
      {
        name: "http",
        subject: "mesh.maps.*",
        queue_group: "maps",
        metadata: {
          "natsmesh.instance_subject": `mesh.maps.$I.${maps.instance}.*`,
          "natsmesh.every_subject": "mesh.maps.$ALL.*",
        },
      },
    ]);
  });

  it("cli services - stats NAME: requests, errors, cancelled, average time and last error per instance", async () => {
    const run = await natsmesh(["services", "stats", "weather", "--timeout", "300"]);
    expect(run.code).toBe(0);
    const [header, ...body] = rows(run.stdout);
    expect(header).toEqual(["NAME", "ID", "REQUESTS", "ERRORS", "CANCELLED", "AVG TIME", "LAST ERROR"]);
    expect(body).toHaveLength(2);
    // The cancelled request counts as a request, never as an error.
    expect(body.reduce((n, r) => n + Number(r[2]), 0)).toBe(4);
    expect(body.reduce((n, r) => n + Number(r[3]), 0)).toBe(1);
    expect(body.reduce((n, r) => n + Number(r[4]), 0)).toBe(1);
    expect(body.map((r) => r[6] ?? "").filter(Boolean)).toEqual(["500 Custom 500"]);

    const json = await natsmesh(["services", "stats", "weather", "--json", "--timeout", "300"]);
    const docs = JSON.parse(json.stdout) as MicroStatsResponse[];
    expect(docs.reduce((n, d) => n + d.endpoints[0]!.num_requests, 0)).toBe(4);
    expect(docs.reduce((n, d) => n + (d.endpoints[0]!.data?.cancelled ?? 0), 0)).toBe(1);
  });

  it("cli services - --id narrows to one instance", async () => {
    const id = weather[1]!.instance;
    const run = await natsmesh(["services", "stats", "weather", "--id", id, "--json", "--timeout", "300"]);
    expect((JSON.parse(run.stdout) as MicroStatsResponse[]).map((d) => d.id)).toEqual([id]);
  });

  it("cli services - an unknown NAME exits 2 and says nobody answered", async () => {
    const run = await natsmesh(["services", "ping", "nope", "--timeout", "200"]);
    expect(run).toEqual({
      code: 2,
      stdout: "",
      stderr: "natsmesh: no instance of service 'nope' answered within 200 ms\n",
    });
    const json = await natsmesh(["services", "ping", "nope", "--json", "--timeout", "200"]);
    expect(json).toMatchObject({ code: 2, stdout: "[]\n" });
  });

  it("cli services - --server overrides NATS_URL; an unreachable server exits 2", async () => {
    const port = await closedPort();
    const bad = `nats://127.0.0.1:${port}`;
    const ok = await natsmesh(["services", "ls", "--server", server.url, "--timeout", "200"], {
      NATS_URL: bad,
    });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("weather");
    const down = await natsmesh(["services", "ls", "--timeout", "200"], { NATS_URL: bad });
    expect(down.code).toBe(2);
    expect(down.stderr).toBe(`natsmesh: cannot connect to NATS at ${bad}: connection refused\n`);
  });

  it("cli services - usage errors: --timeout must be ≥ 1 ms, --id needs a NAME", async () => {
    const zero = await natsmesh(["services", "ping", "--timeout", "0"]);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toMatch(/--timeout <ms>.*expected at least 1 millisecond/);
    const id = await natsmesh(["services", "ping", "--id", "x", "--timeout", "200"]);
    expect(id).toMatchObject({ code: 2, stderr: "natsmesh: --id needs a service NAME\n" });
  });
});
