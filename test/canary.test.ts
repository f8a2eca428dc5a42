/**
 * Canary splits and fault injection through nats-server subject mappings, on a real server whose
 * configuration includes the file `natsmesh canary --write` maintains; weights change by reload.
 */
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, runFault } from "../src/cli/index.js";
import { FAULT_HEADER, serveFault } from "../src/fault/index.js";
import { createFetch, MeshError, type MeshFetch, type ServiceHandle, serve } from "../src/index.js";
import { fetchApp } from "./support/apps.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check, include, type NatsServer, TMP_PREFIX } from "./support/nats-server.js";

const N = 2000;

/** Runs `natsmesh <args>` in this process; resolves to its exit code and output. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on("data", (c: Buffer) => out.push(c));
  stderr.on("data", (c: Buffer) => err.push(c));
  const code = await runCli(["node", "natsmesh", ...args], {
    stdout,
    stderr,
    stdin: new PassThrough(),
    env: {},
  });
  return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

/** Sends `n` GETs, `concurrency` at a time; counts answers by body (or `status <code>` / the error's code). */
async function tally(fetch: MeshFetch, n: number, concurrency = 100): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const one = async () => {
    let key: string;
    try {
      const res = await fetch("http://weather/whoami");
      key = res.status === 200 ? await res.text() : `status ${res.status}`;
    } catch (err) {
      key = err instanceof MeshError ? `${err.status} ${err.code}` : String(err);
    }
    counts.set(key, (counts.get(key) ?? 0) + 1);
  };
  let started = 0;
  const worker = async () => {
    while (started < n) {
      started++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return counts;
}

/** Percent of `n` counted under `key`. */
const share = (counts: Map<string, number>, key: string, n = N) => ((counts.get(key) ?? 0) * 100) / n;

/**
 * Asserts that each key's share is within 3 points of its weight, naming all counts on failure.
 * (At 2000 requests one standard deviation is at most 1.1 points; the weights below keep each
 * bound beyond 3 standard deviations.)
 */
function expectSplit(counts: Map<string, number>, weights: Record<string, number>): void {
  const seen = Object.fromEntries(counts);
  for (const [key, weight] of Object.entries(weights))
    expect(Math.abs(share(counts, key) - weight), `${key}: ${JSON.stringify(seen)}`).toBeLessThanOrEqual(3);
  expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(N);
  expect(Object.keys(seen).sort(), JSON.stringify(seen)).toEqual(Object.keys(weights).sort());
}

describe("canary - weighted subject mappings on a real nats-server", () => {
  let nats: NatsFixture;
  let server: NatsServer;
  let file: string;
  let nc: NatsConnection;
  let fetch: MeshFetch;
  const services: ServiceHandle[] = [];

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), TMP_PREFIX));
    file = join(dir, "mesh-mappings.conf");
    const written = await cli(["canary", "weather", "--split", "v1=90", "--split", "v2=10", "--write", file]);
    expect(written).toMatchObject({ code: 0, stderr: "" });
    nats = await natsFixture({ mesh_mappings: include("mesh-mappings.conf") }, {}, { dir, removeDir: true });
    ({ server, nc } = nats);
    for (const prefix of ["v1", "v2"])
      services.push(await serve(fetchApp(prefix), { service: "weather", prefix, nc, logger: silent }));
    // Dropped shares must show as 503s here, not be hidden by the client's retries.
    fetch = createFetch({ nc, timeout: 2000, retry: false });
  });

  afterAll(async () => {
    for (const s of services) await s.stop();
    await nats?.[Symbol.asyncDispose]();
  });

  it("canary - 2000 requests split 90/10 within 3 points between the v1 and v2 instances", async () => {
    expect(await readFile(file, "utf8")).toContain('"mesh.weather.*": [');
    expectSplit(await tally(fetch, N), { v1: 90, v2: 10 });
  });

  it("canary - new weights written and reloaded (SIGHUP) hold for the next 2000 requests; the fault share answers 503 at once", async () => {
    const written = await cli([
      "canary",
      "weather",
      "--split",
      "v1=20",
      "--split",
      "v2=75",
      "--fault",
      "5",
      "--write",
      file,
    ]);
    expect(written.code).toBe(0);
    await server.reload(); // rewrites the main config unchanged and sends SIGHUP
    expectSplit(await tally(fetch, N), { v1: 20, v2: 75, "503 NM_ERR_NO_RESPONDERS": 5 });
  });

  it("canary - weights below 100% leave the rest on the callers' subject (served here by nobody: 503)", async () => {
    expect((await cli(["canary", "weather", "--split", "v2=85", "--write", file])).code).toBe(0);
    await server.reload();
    expectSplit(await tally(fetch, N), { v2: 85, "503 NM_ERR_NO_RESPONDERS": 15 });
  });

  it("canary - with the client's default retries, a dropped share is sent again (503s fall from 15% to about 0.3%)", async () => {
    await using retrying = createFetch({ nc, timeout: 2000 });
    const counts = await tally(retrying, N);
    // Three attempts each landing on the 15% share: 0.15^3 = 0.34%, 7 of 2000 expected.
    expect(
      counts.get("503 NM_ERR_NO_RESPONDERS") ?? 0,
      JSON.stringify(Object.fromEntries(counts)),
    ).toBeLessThan(40);
  });

  it("fault - a natsmesh fault responder answers the fault share with the chosen status", async () => {
    expect(
      (await cli(["canary", "weather", "--split", "v1=90", "--fault", "10", "--write", file])).code,
    ).toBe(0);
    await server.reload();
    const fault = await serveFault({ nc, service: "weather", status: 418 });
    try {
      const counts = await tally(fetch, N);
      expectSplit(counts, { v1: 90, "status 418": 10 });
      expect(fault.received).toBe(counts.get("status 418"));
      const res = await check(
        async () => {
          const r = await fetch("http://weather/whoami");
          return r.status === 418 ? r : undefined;
        },
        2000,
        { name: "a fault answer" },
      );
      expect(res!.headers.get(FAULT_HEADER)).toBe("status=418");
      expect(res!.headers.get("mesh-instance")).toBe(fault.instance);
    } finally {
      await fault.stop();
    }
  });

  it("fault - a share delayed past the callers' deadline shows as that rate of 504s", async () => {
    // The mapping is still v1 90% / fault 10%.
    const fault = await serveFault({ nc, service: "weather", delay: 500, forward: "v1" });
    try {
      // 50 in flight keep the direct answers far below the 250 ms deadline even on a loaded machine.
      await using impatient = createFetch({ nc, timeout: 250, retry: false });
      expectSplit(await tally(impatient, N, 50), { v1: 90, "504 NM_ERR_TIMEOUT": 10 });
    } finally {
      await fault.stop();
    }
  });

  it("fault - a delaying responder forwards its share unchanged to the v1 instances after the delay", async () => {
    const delay = 150;
    const n = 400;
    const fault = await serveFault({ nc, service: "weather", delay, forward: "v1" });
    try {
      const durations: number[] = [];
      const bodies = new Map<string, number>();
      await Promise.all(
        Array.from({ length: n }, async () => {
          const started = performance.now();
          const res = await fetch("http://weather/echo", { method: "POST", body: "ping" });
          durations.push(performance.now() - started);
          const key = `${res.status} ${await res.text()} ${res.headers.get("mesh-service")}`;
          bodies.set(key, (bodies.get(key) ?? 0) + 1);
        }),
      );
      // Every request was answered by the real service, the forwarded ones byte for byte.
      expect([...bodies]).toEqual([["200 ping weather", n]]);
      // 10% of 400: one standard deviation is 1.5 points.
      expect(Math.abs((fault.received * 100) / n - 10)).toBeLessThanOrEqual(6);
      // Each forwarded request took at least the delay.
      expect(durations.filter((d) => d >= delay).length).toBeGreaterThanOrEqual(fault.received);
    } finally {
      await fault.stop();
    }
  });

  it("fault - while it delays or forwards, the responder sends the caller's heartbeats: a 400 ms delay and a 400 ms handler outlast a 100 ms heartbeat", async () => {
    // The caller gives up after 2 × 100 ms without a message (NM_ERR_INSTANCE_LOST).
    await using direct = createFetch({ nc, prefix: "natsmesh-fault", retry: false, heartbeat: 100 });
    const fault = await serveFault({ nc, service: "weather", delay: 400, forward: "v1" });
    try {
      const started = performance.now();
      const res = await direct("http://weather/whoami");
      expect(await res.text()).toBe("v1");
      expect(performance.now() - started).toBeGreaterThanOrEqual(400);
    } finally {
      await fault.stop();
    }
    const forwarding = await serveFault({ nc, service: "weather", forward: "v1" });
    try {
      const res = await direct("http://weather/slow?ms=400");
      expect([res.status, await res.text()]).toEqual([200, "slow"]);
    } finally {
      await forwarding.stop();
    }
  });

  it("fault - natsmesh fault serves the fault subject until stopped, and refuses to start with nothing to inject", async () => {
    const stderr = new PassThrough();
    const lines: string[] = [];
    stderr.on("data", (c: Buffer) => lines.push(c.toString()));
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => {
      stop = resolve;
    });
    const io = { stdout: new PassThrough(), stderr, stdin: new PassThrough(), env: {} };
    const running = runFault("weather", { status: 503, delay: 10, server: server.url }, io, stopped);
    await using direct = createFetch({ nc, prefix: "natsmesh-fault", retry: false });
    const res = await check(
      async () => {
        const r = await direct("http://weather/whoami").catch(() => undefined);
        return r?.status === 503 ? r : undefined;
      },
      3000,
      { name: "natsmesh fault answers 503" },
    );
    expect(res!.headers.get(FAULT_HEADER)).toBe("status=503");
    stop();
    expect(await running).toBe(0);
    expect(lines.join("")).toMatch(
      /fault on natsmesh-fault\.weather\.\*: answering 503 after 10 ms\n.*fault stopped after \d+ requests\n/s,
    );
    const bad = await cli(["fault", "weather", "--server", server.url]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("needs a status to answer or a prefix to forward to");
  });
});

describe("canary - natsmesh canary output and refusals", () => {
  it("canary - prints the mappings block, the remainder explained", async () => {
    const out = await cli(["canary", "weather", "--split", "v2=10", "--fault", "5"]);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain(
      [
        "mappings {",
        "  # begin natsmesh canary mesh.weather.*",
        "  # 85% stays on mesh.weather.* (served by instances with that prefix, or no responders)",
        '  "mesh.weather.*": [',
        '    { destination: "v2.weather.{{wildcard(1)}}", weight: 10% }',
        '    { destination: "natsmesh-fault.weather.{{wildcard(1)}}", weight: 5% }',
        "  ]",
        "  # end natsmesh canary mesh.weather.*",
        "}",
      ].join("\n"),
    );
  });

  it("canary - refuses per-cluster splits for nats-server 2.9 and explains why; allows them for 2.10", async () => {
    const refused = await cli(["canary", "weather", "--split", "v2=10@east"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("per-cluster splits need nats-server 2.10 or later");
    expect(refused.stderr).toContain("2.9 sums the weights of cluster-scoped destinations");
    const old = await cli(["canary", "weather", "--split", "v2=10@east", "--server-version", "2.9.10"]);
    expect(old.code).toBe(2);
    const ok = await cli(["canary", "weather", "--split", "v2=10@east", "--server-version", "2.10.1"]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(
      '{ destination: "v2.weather.{{wildcard(1)}}", weight: 10%, cluster: "east" }',
    );
  });

  it("canary - refuses weights over 100%, a bad split flag, and the callers' own prefix as a destination", async () => {
    const over = await cli(["canary", "weather", "--split", "v1=90", "--split", "v2=20"]);
    expect(over).toMatchObject({ code: 2, stderr: "natsmesh: weights sum to 110%, more than 100%\n" });
    const bad = await cli(["canary", "weather", "--split", "v1"]);
    expect(bad.stderr).toContain("expected PREFIX=WEIGHT");
    const self = await cli(["canary", "weather", "--split", "mesh=50"]);
    expect(self.stderr).toContain("leave its share as the remainder");
  });

  it("canary - --write keeps other services' mappings, --remove takes one out, a foreign file is refused", async () => {
    const dir = await mkdtemp(join(tmpdir(), TMP_PREFIX));
    const file = join(dir, "m.conf");
    await cli(["canary", "weather", "--split", "v2=10", "--write", file]);
    await cli(["canary", "billing", "--split", "v3=50", "--write", file]);
    await cli(["canary", "weather", "--split", "v2=20", "--write", file]);
    let text = await readFile(file, "utf8");
    expect(text).toContain('"mesh.billing.*"');
    expect(text).toContain('{ destination: "v2.weather.{{wildcard(1)}}", weight: 20% }');
    expect(text).not.toContain("weight: 10%");
    expect((await cli(["canary", "weather", "--remove", "--write", file])).code).toBe(0);
    text = await readFile(file, "utf8");
    expect(text).not.toContain("mesh.weather");
    expect(text).toContain('"mesh.billing.*"');
    const foreign = join(dir, "server.conf");
    await import("node:fs/promises").then((fs) => fs.writeFile(foreign, "port: 4223\n"));
    const refused = await cli(["canary", "weather", "--split", "v2=10", "--write", foreign]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("did not write: 'port: 4223'");
  });
});
