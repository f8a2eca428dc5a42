/**
 * `natsmesh tap`: in process (`runTap`, --json and the table line) and as a child process
 * (`node bin/natsmesh tap`) that nats-server cuts off as a slow consumer while it is stopped
 * (SIGSTOP): it says so, reconnects, shows records again, and exits 0 on Ctrl-C (SIGINT).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runTap } from "../src/cli/index.js";
import { createFetch, type MeshFetch, type ServiceHandle, serve } from "../src/index.js";
import { encodeAccessRecord } from "../src/internal.js";
import { BUILD_TIMEOUT_MS, ensureBuilt } from "./support/build.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check, REPO_ROOT } from "./support/nats-server.js";

const BIN = join(REPO_ROOT, "bin", "natsmesh");

let nats: NatsFixture;
let svc: ServiceHandle;
let fetch: MeshFetch;

beforeAll(async () => {
  // A small max_pending and write_deadline, so that a tap which stops reading is cut off as a slow
  // consumer soon (max_payload must not exceed max_pending).
  [, nats] = await Promise.all([
    ensureBuilt(),
    natsFixture({ max_pending: 1024 * 1024, max_payload: 64 * 1024, write_deadline: "500ms" }),
  ]);
  svc = await serve((req: Request) => new Response(new URL(req.url).pathname), {
    service: "flood",
    instance: "f1",
    nc: nats.nc,
    logger: silent,
    metrics: false,
    discovery: false,
    accessRecords: true,
  });
  fetch = createFetch({ nc: nats.nc, timeout: 10_000 });
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  await svc?.stop();
  await nats?.[Symbol.asyncDispose]();
});

/** Collects a stream's text and waits for a pattern in it. */
function watch(stream: NodeJS.ReadableStream) {
  let text = "";
  stream.on("data", (chunk: Buffer | string) => {
    text += chunk.toString();
  });
  return {
    get text() {
      return text;
    },
    until: (pattern: RegExp, ms = 10_000) =>
      check(() => pattern.test(text), ms, { name: `output matching ${pattern}` }),
  };
}

describe("cli - natsmesh tap", () => {
  it("cli - tap --json prints one record per line; the table line has time, method, path, status, duration, instance, request id", async () => {
    for (const json of [true, false]) {
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      const out = watch(stdout);
      const err = watch(stderr);
      let stop!: () => void;
      const stopped = new Promise<void>((resolve) => {
        stop = resolve;
      });
      const io = { stdout, stderr, stdin: new PassThrough(), env: { NATS_URL: nats.server.url } };
      const run = runTap("flood", { json }, io, stopped);
      await err.until(/tap on mesh\.flood\.\$TAP\.\* \(Ctrl-C to stop\)/);
      await fetch("http://flood/a?secret=1", { headers: { "x-request-id": "r-a" } });
      await out.until(/\n$/);
      stop();
      expect(await run).toBe(0);
      const line = out.text.trim();
      if (json) {
        expect(JSON.parse(line)).toMatchObject({
          v: 1,
          method: "GET",
          path: "/a",
          status: 200,
          requestId: "r-a",
        });
      } else {
        expect(line).toMatch(
          /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z {2}GET {5}\/a {2}200 {2}\d+\.\d{3} ms {2}f1 {2}r-a$/,
        );
      }
      expect(err.text).toMatch(/tap stopped: 1 records\n$/);
    }
  });

  it("cli - tap refuses a bad service name or instance id with one line", async () => {
    const io = {
      stdout: new PassThrough(),
      stderr: new PassThrough(),
      stdin: new PassThrough(),
      env: { NATS_URL: nats.server.url },
    };
    await expect(runTap("Bad Name", {}, io, new Promise(() => {}))).rejects.toMatchObject({
      name: "CliError",
      message: expect.stringMatching(/^invalid service name 'Bad Name'/),
    });
    await expect(runTap("flood", { instance: "a.b" }, io, new Promise(() => {}))).rejects.toMatchObject({
      name: "CliError",
      message: expect.stringMatching(/^invalid instance id 'a\.b'/),
    });
  });

  it("cli - cut off as a slow consumer, tap says so and reconnects; Ctrl-C exits 0", async () => {
    const child: ChildProcess = spawn(process.execPath, [BIN, "tap", "flood"], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH, HOME: REPO_ROOT, NATS_URL: nats.server.url },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out = watch(child.stdout!);
    const err = watch(child.stderr!);
    const exited = new Promise<number | null>((resolve) => child.once("close", resolve));
    try {
      await err.until(/Ctrl-C to stop/);
      await fetch("http://flood/before");
      await out.until(/ \/before /);

      child.kill("SIGSTOP");
      // A tap that reads nothing never holds the service up.
      expect((await fetch("http://flood/during")).status).toBe(200);
      const record = encodeAccessRecord({
        time: Date.now(),
        service: "flood",
        instance: "bulk",
        method: "GET",
        path: `/${"x".repeat(200)}`,
        status: 200,
        ms: 0,
        requestId: "bulk",
      });
      const batch = `${Array(100).fill(record).join("\n")}\n`; // ~30 KB
      const before = (await nats.server.varz()).slow_consumers as number;
      await check(
        async () => {
          for (let i = 0; i < 64; i++) nats.nc.publish("mesh.flood.$TAP.bulk", batch);
          await nats.nc.flush();
          return ((await nats.server.varz()).slow_consumers as number) > before;
        },
        20_000,
        { name: "nats-server cut the stopped tap off as a slow consumer" },
      );
      child.kill("SIGCONT");

      await err.until(/tap: disconnected from .*slow consumer.*; reconnecting/);
      await err.until(/tap: reconnected to .*records published while disconnected are lost/);
      await fetch("http://flood/after");
      await out.until(/ \/after /);

      child.kill("SIGINT");
      expect(await exited).toBe(0);
      expect(err.text).toMatch(/tap stopped: \d+ records/);
    } finally {
      if (child.exitCode === null) {
        child.kill("SIGCONT");
        child.kill("SIGKILL");
      }
    }
  });
});
