/**
 * The `natsmesh` executable, run as a child process (`node bin/natsmesh ...`) against a real
 * nats-server, with the test API served as service `weather` by this process.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServiceHandle, serve } from "../src/index.js";
import { acceptsTcp } from "../src/internal.js";
import { fetchApp } from "./support/apps.js";
import { BUILD_TIMEOUT_MS, ensureBuilt } from "./support/build.js";
import {
  closedPort,
  type NatsServerFixture,
  natsFixture,
  silentLogger as silent,
} from "./support/helpers.js";
import { type NatsServer, REPO_ROOT } from "./support/nats-server.js";

const BIN = join(REPO_ROOT, "bin", "natsmesh");

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

let baseEnv: NodeJS.ProcessEnv = {};

function start(args: readonly string[], env: NodeJS.ProcessEnv = {}, detached = false): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], {
    cwd: REPO_ROOT,
    env: { ...baseEnv, ...env },
    stdio: ["pipe", "pipe", "pipe"],
    detached,
  });
}

function collect(child: ChildProcess, input?: string | Buffer): Promise<Run> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on("data", (chunk: Buffer) => out.push(chunk));
  child.stderr?.on("data", (chunk: Buffer) => err.push(chunk));
  child.stdin?.end(input);
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) =>
      resolve({
        code,
        stdout: Buffer.concat(out),
        stderr: Buffer.concat(err).toString(),
      }),
    );
  });
}

/** Runs `natsmesh <args>` to completion. */
function natsmesh(args: readonly string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}) {
  return collect(start(args, options.env), options.input);
}

/** Splits `-i` output into the head lines and the body. */
function splitHead(stdout: Buffer): { lines: string[]; body: string } {
  const text = stdout.toString("latin1");
  const end = text.indexOf("\r\n\r\n");
  return { lines: text.slice(0, end).split("\r\n"), body: text.slice(end + 4) };
}

function echoedHeaders(lines: readonly string[]): string[] {
  const raw = lines.find((l) => l.startsWith("x-echo-headers: "))?.slice("x-echo-headers: ".length);
  return JSON.parse(decodeURIComponent(raw ?? "[]")) as string[];
}

let nats: NatsServerFixture;
let server: NatsServer;
let svc: ServiceHandle;
let prefixed: ServiceHandle;
let tmp: string;
/** `/slow` requests the service has answered. */
let slowAnswered = 0;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "natsmesh-cli-test-"));
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("NATS_")));
  [, nats] = await Promise.all([ensureBuilt(), natsFixture({}, { connect: false })]);
  ({ server } = nats);
  // No natscli context of the developer's machine can leak in.
  baseEnv = { ...clean, XDG_CONFIG_HOME: join(tmp, "xdg"), HOME: tmp, NATS_URL: server.url };
  const app = fetchApp();
  const counting = async (req: Request) => {
    const res = await app(req);
    if (new URL(req.url).pathname === "/slow") slowAnswered++;
    return res;
  };
  svc = await serve(counting, {
    service: "weather",
    kind: "fetch",
    connection: { servers: server.url },
    logger: silent,
  });
  prefixed = await serve(fetchApp("prefixed"), {
    service: "weather",
    prefix: "other",
    connection: { servers: server.url },
    logger: silent,
  });
}, 60_000);

afterAll(async () => {
  await Promise.all([svc?.stop(), prefixed?.stop()]);
  await nats?.[Symbol.asyncDispose]();
  if (tmp) await rm(tmp, { recursive: true, force: true });
}, BUILD_TIMEOUT_MS);

describe("cli - behaviour: natsmesh request", () => {
  it("cli - GET prints the body and exits 0", async () => {
    const run = await natsmesh(["request", "http://weather.nats/whoami"]);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    expect(run.stdout.toString()).toBe("fetch");
  });

  it("cli - the scheme may be omitted", async () => {
    const run = await natsmesh(["request", "weather.nats/whoami"]);
    expect(run.code).toBe(0);
    expect(run.stdout.toString()).toBe("fetch");
  });

  it("cli - -i prints the status line and headers before the body", async () => {
    const run = await natsmesh(["request", "-i", "http://weather.nats/multi"]);
    expect(run.code).toBe(0);
    const { lines, body } = splitHead(run.stdout);
    expect(lines[0]).toBe("HTTP/1.1 200 OK");
    expect(lines).toContain("x-multi: one, two");
    expect(lines.filter((l) => l.startsWith("set-cookie: "))).toEqual([
      "set-cookie: a=1; Path=/",
      "set-cookie: b=2; Path=/",
    ]);
    expect(lines).toContain("mesh-service: weather");
    expect(body).toBe("multi");
  });

  it("cli - -X, repeated -H and -d reach the handler", async () => {
    const run = await natsmesh([
      "request",
      "-i",
      "-X",
      "PUT",
      "-H",
      "X-A: 1",
      "-H",
      "X-A: 2",
      "-d",
      "hello",
      "http://weather.nats/echo?q=1",
    ]);
    expect(run.code).toBe(0);
    const { lines, body } = splitHead(run.stdout);
    expect(lines).toContain("x-echo-method: PUT");
    expect(lines).toContain("x-echo-path: /echo?q=1");
    const pairs = echoedHeaders(lines);
    expect(pairs).toEqual(expect.arrayContaining(["x-a", "1, 2"]));
    expect(pairs).toEqual(expect.arrayContaining(["content-type", "application/x-www-form-urlencoded"]));
    expect(body).toBe("hello");
  });

  it("cli - -d @file sends the file's bytes, as a POST when -X is not given", async () => {
    const bytes = Buffer.from([0x68, 0x69, 0x0a, 0x00, 0xff, 0x0d, 0x0a]);
    const file = join(tmp, "body.bin");
    await writeFile(file, bytes);
    const run = await natsmesh([
      "request",
      "-i",
      "-H",
      "Content-Type: application/octet-stream",
      "-d",
      `@${file}`,
      "http://weather.nats/echo",
    ]);
    expect(run.code).toBe(0);
    const { lines, body } = splitHead(run.stdout);
    expect(lines).toContain("x-echo-method: POST");
    expect(echoedHeaders(lines)).toEqual(
      expect.arrayContaining(["content-type", "application/octet-stream"]),
    );
    expect(Buffer.from(body, "latin1")).toEqual(bytes);
  });

  it("cli - -d @- reads the body from stdin", async () => {
    const run = await natsmesh(["request", "-d", "@-", "http://weather.nats/echo"], { input: "from stdin" });
    expect(run.code).toBe(0);
    expect(run.stdout.toString()).toBe("from stdin");
  });

  it("cli - a missing -d @file is one clear line, exit 2", async () => {
    const file = join(tmp, "missing.json");
    const run = await natsmesh(["request", "-d", `@${file}`, "http://weather.nats/echo"]);
    expect(run).toMatchObject({ code: 2, stderr: `natsmesh: cannot read -d @${file}: no such file\n` });
  });

  it("cli - 404 exits 1 and still prints the body", async () => {
    const run = await natsmesh(["request", "http://weather.nats/nothing"]);
    expect(run).toMatchObject({ code: 1, stderr: "" });
    expect(run.stdout.toString()).toBe("not found");
  });

  it("cli - 500 exits non-zero with the body and status text", async () => {
    const run = await natsmesh(["request", "-i", "http://weather.nats/status/500"]);
    expect(run.code).toBe(1);
    const { lines, body } = splitHead(run.stdout);
    expect(lines[0]).toBe("HTTP/1.1 500 Custom 500");
    expect(body).toBe("status 500");
  });

  it("cli - no responders exits 2 with one line naming service and subject", async () => {
    const run = await natsmesh(["request", "http://nobody.nats/x"]);
    expect(run).toMatchObject({
      code: 2,
      stderr: "natsmesh: no responders for service 'nobody' on subject 'mesh.nobody.get'\n",
    });
    expect(run.stdout.length).toBe(0);
  });

  it("cli - --timeout bounds the wait and the message says so", async () => {
    const run = await natsmesh(["request", "--timeout", "200", "http://weather.nats/slow?ms=2000"]);
    expect(run).toMatchObject({
      code: 2,
      stderr: "natsmesh: service 'weather' timed out after 200 ms on subject 'mesh.weather.get'\n",
    });
    // The CLI gave up on its own deadline, long before the handler answered.
    expect(slowAnswered).toBe(0);
  });

  it("cli - an unreachable server is one 'cannot connect' line, exit 2", async () => {
    const port = await closedPort();
    const run = await natsmesh(["request", "--server", `nats://127.0.0.1:${port}`, "http://weather.nats/x"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      new RegExp(`^natsmesh: cannot connect to NATS at nats://127\\.0\\.0\\.1:${port}: [^\\n]+\\n$`),
    );
  });

  it("cli - -s overrides NATS_URL", async () => {
    const port = await closedPort();
    const run = await natsmesh(["request", "-s", server.url, "http://weather.nats/whoami"], {
      env: { NATS_URL: `nats://127.0.0.1:${port}` },
    });
    expect(run.code).toBe(0);
    expect(run.stdout.toString()).toBe("fetch");
  });

  it("cli - --prefix selects the mesh", async () => {
    const run = await natsmesh(["request", "--prefix", "other", "http://weather.nats/whoami"]);
    expect(run.stdout.toString()).toBe("prefixed");
  });

  it("cli - a malformed header is one clear line, exit 2", async () => {
    const run = await natsmesh(["request", "-H", "foo", "http://weather.nats/echo"]);
    expect(run).toMatchObject({ code: 2, stderr: "natsmesh: bad header 'foo' (expected 'Name: value')\n" });
  });

  it("cli - a NATS_* configuration error names the variable, exit 2", async () => {
    const creds = join(tmp, "nope.creds");
    const run = await natsmesh(["request", "http://weather.nats/x"], { env: { NATS_CREDS: creds } });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`natsmesh: NATS_CREDS: cannot read credentials file ${creds} (ENOENT)\n`);
  });

  it("cli - a word that is not a URL is one line, exit 2, not a call to a service of that name", async () => {
    const word = await natsmesh(["request", "not-a-url"]);
    expect(word).toMatchObject({
      code: 2,
      stderr: "natsmesh: 'not-a-url' is not a URL (expected http://service/path)\n",
    });
    const ftp = await natsmesh(["request", "ftp://weather/whoami"]);
    expect(ftp).toMatchObject({
      code: 2,
      stderr: "natsmesh: 'ftp://weather/whoami' is not a URL (expected http://service/path)\n",
    });
    // The documented forms still work: with a scheme even without a path, and service/path without one.
    expect((await natsmesh(["request", "http://weather.nats"])).code).toBe(1);
    expect((await natsmesh(["request", "weather/whoami"])).stdout.toString()).toBe("fetch");
  });

  it("cli - a malformed NATS_NKEY seed is reported as a bad seed, not as a missing file", async () => {
    const short = await natsmesh(["request", "http://weather.nats/x"], {
      env: { NATS_NKEY: "SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHT" },
    });
    expect(short).toMatchObject({
      code: 2,
      stderr:
        "natsmesh: NATS_NKEY: not a valid nkey seed (expected a user seed, 'SU' and 56 base32 characters, or the path of a file holding one)\n",
    });
    const checksum = await natsmesh(["request", "http://weather.nats/x"], {
      env: { NATS_NKEY: `SU${"A".repeat(56)}` },
    });
    expect(checksum.code).toBe(2);
    expect(checksum.stderr).toMatch(
      /^natsmesh: NATS_NKEY: not a valid nkey seed: the literal seed does not decode \([^\n]*\)\n$/,
    );
  });

  it("cli - usage errors are one line, exit 2", async () => {
    const bad = await natsmesh(["request", "--timeout", "soon", "http://weather.nats/x"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^natsmesh: option '--timeout <ms>' argument 'soon' is invalid\.[^\n]*\n$/);
    const missing = await natsmesh(["request"]);
    expect(missing).toMatchObject({ code: 2, stderr: "natsmesh: missing required argument 'url'\n" });
  });
});

describe("cli - behaviour: natsmesh dev", () => {
  /** Starts `natsmesh dev` and waits for its NATS_URL line. */
  async function startDev(detached: boolean) {
    const child = start(["dev"], {}, detached);
    const done = collect(child);
    const url = await new Promise<string>((resolve, reject) => {
      let text = "";
      child.stdout?.on("data", (chunk: Buffer) => {
        text += chunk.toString();
        const m = /^NATS_URL=(nats:\/\/127\.0\.0\.1:\d+)$/m.exec(text);
        if (m) resolve(m[1]!);
      });
      done.then((run) => reject(new Error(`natsmesh dev exited ${run.code}: ${run.stderr}`)), reject);
    });
    return { child, done, url, port: Number(new URL(url).port) };
  }

  it("cli - dev prints NATS_URL, serves requests, and Ctrl-C stops it with exit 0", async () => {
    const dev = await startDev(true);
    const call = await natsmesh(["request", "-s", dev.url, "http://nobody.nats/"]);
    expect(call.stderr).toBe("natsmesh: no responders for service 'nobody' on subject 'mesh.nobody.get'\n");
    // Ctrl-C signals the whole process group: natsmesh and its nats-server.
    process.kill(-dev.child.pid!, "SIGINT");
    const run = await dev.done;
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(`export NATS_URL=${dev.url}`);
    expect(run.stderr).toContain("nats-server stopped");
    expect(await acceptsTcp("127.0.0.1", dev.port, 300)).toBe(false);
  });

  it("cli - dev stops its nats-server on SIGTERM", async () => {
    const dev = await startDev(false);
    expect(await acceptsTcp("127.0.0.1", dev.port, 300)).toBe(true);
    dev.child.kill("SIGTERM");
    expect((await dev.done).code).toBe(0);
    expect(await acceptsTcp("127.0.0.1", dev.port, 300)).toBe(false);
  });

  it("cli - dev --port on a port in use is one line naming the port, exit 2", async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const { port } = holder.address() as net.AddressInfo;
    try {
      const run = await natsmesh(["dev", "--port", String(port)]);
      expect(run).toMatchObject({
        code: 2,
        stderr: `natsmesh: port ${port} is in use (127.0.0.1:${port}): choose another --port, or leave it out for a free one\n`,
      });
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it("cli - dev without nats-server says how to install it, exit 2", async () => {
    const run = await natsmesh(["dev"], { env: { NATS_SERVER_BIN: "/nonexistent" } });
    expect(run.code).toBe(2);
    expect(run.stderr.split("\n")).toHaveLength(2);
    expect(run.stderr).toMatch(
      /^natsmesh: nats-server not found: install it with `apt-get install -y nats-server`/,
    );
    expect(run.stderr).toContain("https://docs.nats.io/running-a-nats-service/introduction/installation");
  });
});
