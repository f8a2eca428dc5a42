/**
 * Interoperability with a peer written in Go from PROTOCOL.md alone (test/interop/go/peer, the
 * standard library and nats.go). It proves the spec's claim that a Go client or service
 * interoperates with natsmesh's client and `serve()`, and with its NATS micro discovery; and that a Go
 * tap reads natsmesh's access records (§11).
 *
 * Needs `go` and the nats.go sources in GOPATH layout (Debian: `apt-get install golang-go
 * golang-github-nats-io-go-nats-dev`); skipped, saying why, without them. The peer is built offline
 * in GOPATH mode (GO111MODULE=off, GOPATH=/usr/share/gocode), once, into a temp dir.
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from "node:child_process";
import { accessSync, existsSync, constants as fsConstants } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadResponseError, createFetch, type MeshFetch, type ServiceHandle, serve } from "../src/index.js";
import { decodeResponse } from "../src/internal.js";
import { bytes, fetchApp, nodeApp } from "./support/apps.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check, type NatsServer, REPO_ROOT } from "./support/nats-server.js";

const GOPATH = "/usr/share/gocode";
const NATS_GO = path.join(GOPATH, "src", "github.com", "nats-io", "nats.go");
const PEER_SRC = "./test/interop/go/peer";

function findGo(): string | undefined {
  const dirs = (process.env.PATH ?? "").split(path.delimiter).filter(Boolean);
  for (const dir of [...dirs, "/usr/lib/go/bin", "/usr/local/go/bin"]) {
    const candidate = path.join(dir, "go");
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}

const goBin = findGo();
const skipReason = !goBin
  ? "`go` not found (apt-get install golang-go)"
  : !existsSync(path.join(NATS_GO, "nats.go")) || !existsSync(path.join(NATS_GO, "micro"))
    ? `nats.go with its micro package not found in ${NATS_GO} (apt-get install golang-github-nats-io-go-nats-dev)`
    : undefined;
const title = "interop - Go peer: behaviour";

type Pair = [string, string];
interface Answer {
  status: number;
  reason: string;
  headers: Pair[];
  body: Buffer;
}
interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const enc = new TextEncoder();

/** Values of header `name` (case-insensitive), one per line, in order. */
function values(headers: readonly (readonly [string, string])[], name: string): string[] {
  return headers.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);
}

/** A payload laid out as PROTOCOL.md §2 says, with every field overridable to break it. */
function rawFrame(
  head: string | Uint8Array,
  opts: {
    body?: string | Uint8Array;
    magic?: [number, number];
    version?: number;
    kind?: number;
    headLen?: number;
  } = {},
): Uint8Array {
  const h = typeof head === "string" ? enc.encode(head) : head;
  const body = typeof opts.body === "string" ? enc.encode(opts.body) : (opts.body ?? new Uint8Array());
  const out = Buffer.alloc(8 + h.byteLength + body.byteLength);
  out[0] = opts.magic?.[0] ?? 0x4e;
  out[1] = opts.magic?.[1] ?? 0x4d;
  out[2] = opts.version ?? 1;
  out[3] = opts.kind ?? 1;
  out.writeUInt32BE(opts.headLen ?? h.byteLength, 4);
  out.set(h, 8);
  out.set(body, 8 + h.byteLength);
  return out;
}

interface FrameCase {
  name: string;
  /** last subject token (the method token) */
  token: string;
  payload: Uint8Array;
}

const GET = rawFrame("GET /echo\n");
/** Requests that break a rule of PROTOCOL.md §2–§3: a service answers each 400 NM_ERR_MALFORMED. */
const MALFORMED: FrameCase[] = [
  { name: "empty payload", token: "get", payload: new Uint8Array() },
  { name: "7-byte payload", token: "get", payload: GET.subarray(0, 7) },
  { name: "bad magic", token: "get", payload: rawFrame("GET /echo\n", { magic: [0x4e, 0x58] }) },
  { name: "version 0", token: "get", payload: rawFrame("GET /echo\n", { version: 0 }) },
  { name: "version 2", token: "get", payload: rawFrame("GET /echo\n", { version: 2 }) },
  { name: "kind 0x02 (a response)", token: "get", payload: rawFrame("GET /echo\n", { kind: 2 }) },
  { name: "kind 0x03 (reserved for streams)", token: "get", payload: rawFrame("GET /echo\n", { kind: 3 }) },
  { name: "kind 0x10 (unknown)", token: "get", payload: rawFrame("GET /echo\n", { kind: 0x10 }) },
  { name: "head length past the end", token: "get", payload: rawFrame("GET /echo\n", { headLen: 100 }) },
  { name: "head length 0xFFFFFFFF", token: "get", payload: rawFrame("GET /echo\n", { headLen: 0xffffffff }) },
  { name: "empty head", token: "get", payload: rawFrame("") },
  { name: "head without its last \\n", token: "get", payload: rawFrame("GET /echo") },
  { name: "CRLF line end", token: "get", payload: rawFrame("GET /echo\r\n") },
  { name: "NUL in a header value", token: "get", payload: rawFrame("GET /echo\nx-a: a\0b\n") },
  { name: "DEL in the path", token: "get", payload: rawFrame("GET /ec\x7fho\n") },
  {
    name: "invalid UTF-8",
    token: "get",
    payload: rawFrame(Buffer.concat([Buffer.from("GET /echo\nx-a: "), Buffer.from([0xc3, 0x28, 0x0a])])),
  },
  { name: "first line without a space", token: "get", payload: rawFrame("GET\n") },
  { name: "method not a token", token: "g@t", payload: rawFrame("G@T /echo\n") },
  { name: "path not starting with /", token: "get", payload: rawFrame("GET echo\n") },
  { name: "space in the path", token: "get", payload: rawFrame("GET /a b\n") },
  { name: "empty line after the first", token: "get", payload: rawFrame("GET /echo\n\n") },
  { name: "header without ': '", token: "get", payload: rawFrame("GET /echo\nx-a:b\n") },
  { name: "header name not a token", token: "get", payload: rawFrame("GET /echo\nx a: b\n") },
  { name: "empty header name", token: "get", payload: rawFrame("GET /echo\n: b\n") },
  { name: "method does not match the subject token", token: "post", payload: GET },
  { name: "subject token not lower-cased", token: "GET", payload: GET },
  {
    name: "content-length larger than the body",
    token: "post",
    payload: rawFrame("POST /echo\ncontent-length: 5\n", { body: "abc" }),
  },
  {
    name: "content-length with a leading zero",
    token: "post",
    payload: rawFrame("POST /echo\ncontent-length: 03\n", { body: "abc" }),
  },
];

/** Malformed by PROTOCOL.md; natsmesh once accepted these (found by this Go peer, fixed). */
const MALFORMED_NATSMESH_DEVIATES: FrameCase[] = [
  {
    name: "a second content-length line that lies",
    token: "post",
    payload: rawFrame("POST /echo\ncontent-length: 3\ncontent-length: 5\n", { body: "abc" }),
  },
  { name: "method with a dot", token: "a", payload: rawFrame("A.B /echo\n") },
  { name: "method '*' (a wildcard subject token)", token: "*", payload: rawFrame("* /echo\n") },
];

/** Valid edge cases of §3: every service runs its handler for them. */
const VALID: FrameCase[] = [
  { name: "lower-case method", token: "get", payload: rawFrame("get /echo\n") },
  { name: "empty header value", token: "get", payload: rawFrame("GET /echo\nx-empty: \n") },
  { name: "HTAB and ': ' inside a value", token: "get", payload: rawFrame("GET /echo\nx-v: a\tb: c\n") },
  {
    name: "non-ASCII value (U+00FC, U+0085)",
    token: "get",
    payload: rawFrame("GET /echo\nx-u: zürich\u0085\n"),
  },
  { name: "repeated header, mixed case", token: "get", payload: rawFrame("GET /echo\nx-r: 1\nX-R: 2\n") },
  { name: "body without content-length", token: "post", payload: rawFrame("POST /echo\n", { body: "abc" }) },
  {
    name: "Content-Length in mixed case",
    token: "put",
    payload: rawFrame("PUT /echo\nContent-Length: 3\n", { body: "abc" }),
  },
  { name: "OPTIONS *", token: "options", payload: rawFrame("OPTIONS *\n") },
];

describe.skipIf(skipReason !== undefined)(skipReason ? `${title} (skipped: ${skipReason})` : title, () => {
  let tmp: string;
  let peerBin: string;
  let nats: NatsFixture;
  let server: NatsServer;
  let nc: NatsConnection;
  let meshFetch: MeshFetch;
  let meshFetchV2: MeshFetch;
  const svcs: Record<"fetch" | "node" | "v2", ServiceHandle> = {} as never;
  const goProcs: ChildProcessWithoutNullStreams[] = [];
  let goSvc: { instance: string; stderr: () => string };
  let goSvcV2: { instance: string };
  let goPlain: { instance: string; stdout: () => string };

  /** Runs the Go peer; NATS_PREFIX defaults to `mesh` whatever the environment says. */
  function runPeer(args: string[], env: Record<string, string> = {}): Promise<Run> {
    return new Promise((resolve) => {
      execFile(
        peerBin,
        args,
        { env: { ...process.env, NATS_PREFIX: "mesh", ...env }, timeout: 15_000, maxBuffer: 16 << 20 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  /** `peer call`: the Go client. */
  async function goCall(
    service: string,
    method: string,
    target: string,
    opts: { headers?: string[]; body?: string; prefix?: string } = {},
  ): Promise<Answer> {
    const args = [
      "call",
      ...(opts.headers ?? []).flatMap((h) => ["-H", h]),
      server.url,
      service,
      method,
      target,
    ];
    if (opts.body !== undefined) args.push(opts.body);
    const run = await runPeer(args, opts.prefix ? { NATS_PREFIX: opts.prefix } : {});
    if (run.code !== 0) throw new Error(`peer call exited ${run.code}: ${run.stdout}${run.stderr}`);
    const res = JSON.parse(run.stdout) as Omit<Answer, "body"> & { body: string };
    return { ...res, body: Buffer.from(res.body, "base64") };
  }

  /**
   * `peer serve`: a Go service instance; resolves once it printed READY. With `plain`, it implements
   * §1–§7 only (`-plain`), and `stdout()` has a `RAN <method> <path>` line per request it ran.
   */
  function startGoService(
    service: string,
    prefix = "mesh",
    plain = false,
  ): Promise<{ instance: string; stderr: () => string; stdout: () => string }> {
    const proc = spawn(peerBin, ["serve", ...(plain ? ["-plain"] : []), server.url, service], {
      env: { ...process.env, NATS_PREFIX: prefix },
    });
    goProcs.push(proc);
    let out = "";
    let err = "";
    proc.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Go service not ready: ${out}${err}`)), 10_000);
      proc.once("exit", (code) => reject(new Error(`Go service exited ${code}: ${out}${err}`)));
      proc.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /^READY (\S+) (\S+)$/m.exec(out);
        if (m) {
          clearTimeout(timer);
          expect(m[1]).toBe(`${prefix}.${service}.*`);
          resolve({ instance: m[2]!, stderr: () => err, stdout: () => out });
        }
      });
    });
  }

  /** A raw request from the natsmesh side, its answer decoded by natsmesh's codec. */
  async function rawRequest(subject: string, payload: Uint8Array) {
    const msg = await nc.request(subject, payload, { timeout: 3000 });
    return decodeResponse(msg.data);
  }

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), "natsmesh-go-interop-"));
    peerBin = path.join(tmp, "peer");
    await new Promise<void>((resolve, reject) => {
      execFile(
        goBin!,
        ["build", "-o", peerBin, PEER_SRC],
        {
          cwd: REPO_ROOT,
          timeout: 85_000,
          env: {
            ...process.env,
            GO111MODULE: "off", // GOPATH mode: imports resolve in /usr/share/gocode, no network
            GOPATH,
            GOCACHE: path.join(tmp, "gocache"),
            GOFLAGS: "",
            GOPROXY: "off",
            GOTOOLCHAIN: "local",
            CGO_ENABLED: "0",
          },
        },
        (err, _stdout, stderr) =>
          err ? reject(new Error(`go build failed: ${stderr || err.message}`)) : resolve(),
      );
    });

    nats = await natsFixture();
    ({ server, nc } = nats);
    const common = { nc, logger: silent, metrics: false as const };
    svcs.fetch = await serve(fetchApp(), {
      ...common,
      service: "interop.fetch",
      prefix: "mesh",
      version: "1.4.2",
      description: "the Fetch app",
      metadata: { lang: "ts" },
    });
    svcs.node = await serve(nodeApp(), { ...common, service: "interop.node", prefix: "mesh" });
    svcs.v2 = await serve(fetchApp(), { ...common, service: "interop.fetch", prefix: "team.v2" });
    meshFetch = createFetch({ nc, prefix: "mesh", timeout: 5000 });
    meshFetchV2 = createFetch({ nc, prefix: "team.v2", timeout: 5000 });
    goSvc = await startGoService("interop.go");
    goSvcV2 = await startGoService("interop.go", "team.v2");
    goPlain = await startGoService("interop.plain", "mesh", true);
  }, 90_000);

  afterAll(async () => {
    await Promise.all(
      goProcs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve();
            p.once("exit", () => resolve());
            p.kill("SIGTERM");
          }),
      ),
    );
    for (const s of Object.values(svcs)) await s.stop();
    await nats?.[Symbol.asyncDispose]();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  // -------------------------------------------------------------------------------------------
  // (1) natsmesh client → Go service
  // -------------------------------------------------------------------------------------------

  it("natsmesh client → Go service: every method, its body and a unicode query reach the handler", async () => {
    for (const method of ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"]) {
      const body = ["GET", "OPTIONS"].includes(method) ? undefined : `body of ${method} – ünïcødé`;
      const res = await meshFetch("http://interop.go.nats/echo?q=zürich&n=1", { method, body });
      expect(res.status).toBe(200);
      expect(res.statusText).toBe("OK");
      expect(res.headers.get("x-echo-method")).toBe(method);
      expect(res.headers.get("x-echo-path")).toBe("/echo?q=z%C3%BCrich&n=1");
      expect(res.headers.get("x-go")).toBe("1");
      expect(await res.text()).toBe(body ?? "");
    }
  });

  it("natsmesh client → Go service: binary bodies arrive byte-exact", async () => {
    const body = bytes(1024);
    const res = await meshFetch("http://interop.go.nats/echo", {
      method: "PUT",
      body,
      headers: { "content-type": "application/octet-stream" },
    });
    expect(res.headers.get("content-type")).toBe("application/octet-stream");
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(body);
  });

  it("natsmesh client → Go service: request headers in order with repeats; set-cookie lines and provenance back", async () => {
    const res = await meshFetch("http://interop.go.nats/echo", {
      headers: [
        ["X-Multi", "a"],
        ["X-Multi", "b"],
        ["x-request-id", "rid-42"],
        ["accept", "text/plain"],
      ],
    });
    const seen = JSON.parse(Buffer.from(res.headers.get("x-echo-headers")!, "base64").toString()) as Pair[];
    expect(values(seen, "x-multi").join(", ")).toBe("a, b");
    expect(values(seen, "accept")).toEqual(["text/plain"]);
    expect(res.headers.getSetCookie()).toEqual(["go1=a; Path=/", "go2=b; Path=/; HttpOnly"]);
    expect(res.headers.get("x-request-id")).toBe("rid-42");
    expect(res.headers.get("mesh-service")).toBe("interop.go");
    expect(res.headers.get("mesh-instance")).toBe(goSvc.instance);
    expect(res.headers.get("mesh-server")).toBe(server.name);
    expect(res.headers.has("mesh-cluster")).toBe(false);
    // Without a request id, the Go instance made one.
    const other = await meshFetch("http://interop.go.nats/echo");
    expect(other.headers.get("x-request-id")).toMatch(/^[A-Za-z0-9]{22}$/);
  });

  it("natsmesh client → Go service: statuses 200–599 with their reason phrases", async () => {
    for (const status of [200, 201, 204, 301, 404, 418, 500, 503, 599]) {
      const res = await meshFetch(`http://interop.go.nats/status/${status}`);
      expect(res.status).toBe(status);
      expect(res.statusText).toBe(`Go ${status}`);
      if (status === 204) expect(res.body).toBeNull();
      else expect(await res.text()).toBe(`go status ${status}`);
    }
  });

  it("natsmesh client → Go service: HEAD has headers and no body", async () => {
    const res = await meshFetch("http://interop.go.nats/echo", { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-echo-method")).toBe("HEAD");
    expect(res.headers.getSetCookie()).toHaveLength(2);
    expect(res.body).toBeNull();
  });

  it("natsmesh client → Go service: the prefix separates deployments", async () => {
    const res = await meshFetchV2("http://interop.go.nats/echo");
    expect(res.headers.get("mesh-instance")).toBe(goSvcV2.instance);
    expect((await meshFetch("http://interop.go.nats/echo")).headers.get("mesh-instance")).toBe(
      goSvc.instance,
    );
  });

  // A §3-valid response header value above U+00FF cannot enter the Fetch API's Headers: a typed 502.
  it("natsmesh client → plain Go peer (§1–§7 only, PROTOCOL.md §9): the default client waits for an answer after 3.2 s, and the peer ran the GET once", async () => {
    const fetch = createFetch({ nc, prefix: "mesh" });
    // A fast call first: the client has then heard the service, and still applies no silence rule.
    expect((await fetch("http://interop.plain/echo")).status).toBe(200);
    const res = await fetch("http://interop.plain/slow?ms=3200");
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("slow");
    expect(res.headers.get("mesh-instance")).toBe(goPlain.instance);
    expect(goPlain.stdout().match(/^RAN GET \/slow\?ms=3200$/gm)).toHaveLength(1);
  });

  it("natsmesh client → plain Go peer: a small ReadableStream body arrives as one message (the peer refuses streamed heads)", async () => {
    const fetch = createFetch({ nc, prefix: "mesh" });
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode("8 bytes!"));
        c.close();
      },
    });
    const res = await fetch("http://interop.plain/echo", {
      method: "POST",
      body,
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("8 bytes!");
  });

  it("natsmesh client → Go service: §8 heartbeats keep a slow request alive past twice the interval", async () => {
    const fetch = createFetch({ nc, prefix: "mesh", heartbeat: 200, retry: false });
    const res = await fetch("http://interop.go.nats/slow?ms=900");
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("slow");
  });

  it("natsmesh client → Go service: §8 a streamed response under credit arrives byte-exact, length checked", async () => {
    const n = 40 * 32 * 1024 + 123;
    const expected = Buffer.alloc(n);
    for (let i = 0; i < n; i++) expected[i] = (i * 7) % 251;
    const res = await meshFetch(`http://interop.go.nats/stream?n=${n}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBe(String(n));
    expect(Buffer.from(await res.arrayBuffer()).equals(expected)).toBe(true);
    // Without mesh-window the Go service answers in one message.
    const single = createFetch({ nc, prefix: "mesh", window: 0 });
    const one = await single("http://interop.go.nats/stream?n=1000");
    expect(Buffer.from(await one.arrayBuffer()).equals(expected.subarray(0, 1000))).toBe(true);
  });

  it("natsmesh client → Go service: a header value above U+00FF is a BadResponseError", async () => {
    await expect(meshFetch("http://interop.go.nats/utf8")).rejects.toBeInstanceOf(BadResponseError);
  });

  // -------------------------------------------------------------------------------------------
  // (2) Go client → natsmesh services
  // -------------------------------------------------------------------------------------------

  describe.each([
    { kind: "fetch" as const, service: "interop.fetch" },
    { kind: "node" as const, service: "interop.node" },
  ])("Go client → natsmesh $kind service", ({ kind, service }) => {
    it("echo: all 256 byte values byte-exact, method, path, headers, request id, provenance", async () => {
      const body = bytes(1024);
      const file = path.join(tmp, `body-${kind}`);
      await writeFile(file, body);
      const res = await goCall(service, "POST", "/echo?q=z%C3%BCrich", {
        headers: [
          "X-Multi: a",
          "X-Multi: b",
          "x-request-id: go-rid-1",
          "content-type: application/octet-stream",
        ],
        body: `@${file}`,
      });
      expect(res.status).toBe(200);
      expect(Buffer.compare(res.body, Buffer.from(body))).toBe(0);
      expect(values(res.headers, "x-echo-method")).toEqual(["POST"]);
      expect(values(res.headers, "x-echo-path")).toEqual(["/echo?q=z%C3%BCrich"]);
      const pairs = JSON.parse(decodeURIComponent(values(res.headers, "x-echo-headers")[0]!)) as string[];
      const seen: Pair[] = [];
      for (let i = 0; i < pairs.length; i += 2) seen.push([pairs[i]!, pairs[i + 1]!]);
      // The Fetch API joins repeated request headers; Node's rawHeaders keeps each line.
      expect(values(seen, "x-multi")).toEqual(kind === "fetch" ? ["a, b"] : ["a", "b"]);
      expect(values(seen, "content-type")).toEqual(["application/octet-stream"]);
      expect(values(res.headers, "x-request-id")).toEqual(["go-rid-1"]);
      expect(values(res.headers, "mesh-service")).toEqual([service]);
      expect(values(res.headers, "mesh-instance")).toEqual([svcs[kind].instance]);
      expect(values(res.headers, "mesh-server")).toEqual([server.name]);
    });

    it("status and reason phrase; a body-less 204", async () => {
      const res = await goCall(service, "GET", "/status/418");
      expect([res.status, res.reason, res.body.toString()]).toEqual([418, "Custom 418", "status 418"]);
      const empty = await goCall(service, "DELETE", "/status/204");
      expect([empty.status, empty.reason, empty.body.length]).toEqual([204, "Custom 204", 0]);
    });

    it("multi-valued response headers are one line per value", async () => {
      const res = await goCall(service, "GET", "/multi");
      expect(values(res.headers, "set-cookie")).toEqual(["a=1; Path=/", "b=2; Path=/"]);
      // The Fetch API's Headers join every repeated name but set-cookie.
      expect(values(res.headers, "x-multi")).toEqual(kind === "fetch" ? ["one, two"] : ["one", "two"]);
      expect(res.body.toString()).toBe("multi");
    });

    it("HEAD: headers, no body", async () => {
      const res = await goCall(service, "HEAD", "/echo");
      expect(res.status).toBe(200);
      expect(values(res.headers, "x-echo-method")).toEqual(["HEAD"]);
      expect(res.body.length).toBe(0);
    });

    it("a throwing handler: 500 NM_ERR_HANDLER with the §5 JSON body", async () => {
      const res = await goCall(service, "GET", "/throw");
      expect(res.status).toBe(500);
      expect(values(res.headers, "mesh-error")).toEqual(["NM_ERR_HANDLER"]);
      expect(values(res.headers, "content-type")).toEqual(["application/json"]);
      expect(JSON.parse(res.body.toString())).toEqual({
        error: "internal server error",
        code: "NM_ERR_HANDLER",
        status: 500,
      });
    });
  });

  const HEAD_BYTES = rawFrame("HEAD /bytes?n=10\n");
  it("natsmesh node service: a response to HEAD has no body (§3)", async () => {
    const res = await rawRequest("mesh.interop.node.head", HEAD_BYTES);
    expect([res.status, res.body.byteLength]).toEqual([200, 0]);
  });

  it("natsmesh fetch service: a response to HEAD has no body (§3)", async () => {
    const res = await rawRequest("mesh.interop.fetch.head", HEAD_BYTES);
    expect([res.status, res.body.byteLength]).toEqual([200, 0]);
  });

  it("Go client → natsmesh: NATS_PREFIX selects the deployment", async () => {
    const res = await goCall("interop.fetch", "GET", "/whoami", { prefix: "team.v2" });
    expect(values(res.headers, "mesh-instance")).toEqual([svcs.v2.instance]);
  });

  it("Go client → natsmesh: no responders is exit 3 at once, not a timeout", async () => {
    const started = Date.now();
    const run = await runPeer(["call", server.url, "interop.nobody", "GET", "/"]);
    expect(run.code).toBe(3);
    expect(run.stdout.trim()).toBe("NO_RESPONDERS");
    expect(Date.now() - started).toBeLessThan(3000);
  });

  // -------------------------------------------------------------------------------------------
  // (3) malformed frames: the Go service and natsmesh answer alike
  // -------------------------------------------------------------------------------------------

  async function expectMalformed(subject: string, payload: Uint8Array, service: string) {
    const res = await rawRequest(subject, payload);
    expect(res.status).toBe(400);
    expect(values(toPairs(res.headers), "mesh-error")).toEqual(["NM_ERR_MALFORMED"]);
    expect(values(toPairs(res.headers), "content-type")).toEqual(["application/json"]);
    expect(values(toPairs(res.headers), "mesh-service")).toEqual([service]);
    const body = JSON.parse(Buffer.from(res.body).toString()) as {
      error: string;
      code: string;
      status: number;
    };
    expect(body).toEqual({
      error: expect.stringMatching(/^malformed message: /),
      code: "NM_ERR_MALFORMED",
      status: 400,
    });
  }

  it.each([...MALFORMED, ...MALFORMED_NATSMESH_DEVIATES])(
    "malformed request to the Go service: $name → 400 NM_ERR_MALFORMED",
    async ({ token, payload }) => {
      await expectMalformed(`mesh.interop.go.${token}`, payload, "interop.go");
    },
  );

  it.each([...MALFORMED, ...MALFORMED_NATSMESH_DEVIATES])(
    "malformed request to natsmesh: $name → 400 NM_ERR_MALFORMED",
    async ({ token, payload }) => {
      await expectMalformed(`mesh.interop.node.${token}`, payload, "interop.node");
    },
  );

  it.each(VALID)(
    "valid edge request: $name → the Go and the natsmesh handlers run",
    async ({ token, payload }) => {
      for (const service of ["interop.go", "interop.fetch", "interop.node"]) {
        const res = await rawRequest(`mesh.${service}.${token}`, payload);
        expect(values(toPairs(res.headers), "mesh-error"), service).toEqual([]);
        expect([200, 404], service).toContain(res.status);
      }
    },
  );

  it("a request without a reply subject is dropped; the Go service keeps serving", async () => {
    nc.publish("mesh.interop.go.get", GET);
    nc.publish("mesh.interop.go.get", new Uint8Array([1, 2, 3]));
    const res = await rawRequest("mesh.interop.go.get", GET);
    expect(res.status).toBe(200);
    await check(() => /dropped a message without a reply subject/.test(goSvc.stderr()), 5000, {
      name: "the Go service logs the dropped messages",
    });
  });

  // -------------------------------------------------------------------------------------------
  // (4) NATS micro discovery, seen from Go
  // -------------------------------------------------------------------------------------------

  it("micro: the Go side lists the natsmesh instances with names, ids, endpoints and complete stats", async () => {
    const run = await runPeer(["micro-ls", server.url]);
    expect(run.code, run.stderr).toBe(0);
    interface Listed {
      service: string;
      name: string;
      id: string;
      version: string;
      description: string;
      metadata: Record<string, string>;
      endpoints: unknown[];
      stats: { started: string; endpoints: Record<string, unknown>[] };
      micro_1_22: {
        info: { name: string; id: string; version: string };
        stats: { name: string; started: string };
      };
      problems: string[];
    }
    const listed = JSON.parse(run.stdout) as Listed[];
    // Only natsmesh instances: the Go services are no micro services.
    expect(listed.map((l) => `${l.metadata["natsmesh.prefix"]}:${l.service}`).sort()).toEqual([
      "mesh:interop.fetch",
      "mesh:interop.node",
      "team.v2:interop.fetch",
    ]);
    const expected = [
      {
        svc: svcs.fetch,
        prefix: "mesh",
        version: "1.4.2",
        description: "the Fetch app",
        meta: { lang: "ts" },
      },
      { svc: svcs.node, prefix: "mesh", version: "0.0.0", description: "", meta: {} },
      { svc: svcs.v2, prefix: "team.v2", version: "0.0.0", description: "", meta: {} },
    ];
    for (const { svc, prefix, version, description, meta } of expected) {
      const l = listed.find((x) => x.id === svc.instance)!;
      expect(l.problems).toEqual([]);
      expect(l.service).toBe(svc.service);
      expect(l.name).toBe(svc.service.replaceAll(".", "_"));
      expect([l.version, l.description]).toEqual([version, description]);
      expect(l.metadata).toEqual({
        ...meta,
        "natsmesh.service": svc.service,
        "natsmesh.prefix": prefix,
        "natsmesh.protocol": "1",
      });
      const endpoint = { name: "http", subject: `${prefix}.${svc.service}.*`, queue_group: svc.service };
      // The one endpoint also names the subjects of one instance and every instance (PROTOCOL.md §10).
      expect(l.endpoints).toEqual([
        {
          ...endpoint,
          metadata: {
            "natsmesh.instance_subject": `${prefix}.${svc.service}.$I.${svc.instance}.*`,
            "natsmesh.every_subject": `${prefix}.${svc.service}.$ALL.*`,
          },
        },
      ]);
      // Nothing runs concurrently: the counters are exactly the instance's own.
      const stats = svc.stats();
      const ep = l.stats.endpoints[0]!;
      expect(l.stats.endpoints).toHaveLength(1);
      expect(ep).toMatchObject({
        ...endpoint,
        num_requests: stats.requests,
        num_errors: stats.errors,
        last_error: stats.lastError,
      });
      expect(ep.processing_time).toBeGreaterThanOrEqual(0);
      expect(
        Math.abs((ep.average_processing_time as number) * stats.requests - (ep.processing_time as number)),
      ).toBeLessThanOrEqual(stats.requests);
      expect(new Date(l.stats.started).getTime()).toBe(svc.started.getTime());
      // nats.go 1.22.1's own (preview) micro.Info / micro.Stats decode the identity.
      expect(l.micro_1_22.info).toMatchObject({ name: l.name, id: svc.instance, version });
      expect(l.micro_1_22.stats).toMatchObject({ name: l.name, started: l.stats.started });
    }
    expect(listed.find((l) => l.id === svcs.node.instance)!.stats.endpoints[0]!.num_requests).toBeGreaterThan(
      10,
    );
  });

  // -------------------------------------------------------------------------------------------
  // (5) one chosen instance and every instance (PROTOCOL.md §10)
  // -------------------------------------------------------------------------------------------

  it("§10 natsmesh client → Go service: a call named to the Go instance, and a gather it answers once", async () => {
    const res = await meshFetch("http://interop.go/echo", { instance: goSvc.instance });
    expect([res.status, res.headers.get("mesh-instance")]).toEqual([200, goSvc.instance]);
    const answers: string[] = [];
    for await (const r of meshFetch.all("http://interop.go/echo", { stall: 100 })) {
      answers.push(`${r.status} ${r.headers.get("mesh-instance")}`);
    }
    expect(answers).toEqual([`200 ${goSvc.instance}`]);
    await expect(meshFetch("http://interop.go/echo", { instance: "nobody" })).rejects.toMatchObject({
      code: "NM_ERR_NO_RESPONDERS",
    });
  });

  it("§10 Go client → natsmesh: call -instance reaches that instance; all gathers every instance; a gone one is exit 3", async () => {
    const named = await runPeer([
      "call",
      "-instance",
      svcs.node.instance,
      server.url,
      "interop.node",
      "GET",
      "/echo",
    ]);
    expect(named.code).toBe(0);
    const res = JSON.parse(named.stdout) as { status: number; headers: Pair[] };
    expect([res.status, values(res.headers, "mesh-instance")]).toEqual([200, [svcs.node.instance]]);
    const all = await runPeer(["all", "-stall", "100", server.url, "interop.fetch", "POST", "/echo", "hi"]);
    expect(all.code).toBe(0);
    const lines = all.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { status: number; headers: Pair[]; body: string });
    expect(
      lines.map((l) => [
        l.status,
        values(l.headers, "mesh-instance"),
        Buffer.from(l.body, "base64").toString(),
      ]),
    ).toEqual([[200, [svcs.fetch.instance], "hi"]]);
    const gone = await runPeer(["call", "-instance", "gone", server.url, "interop.node", "GET", "/echo"]);
    expect([gone.code, gone.stdout.trim()]).toEqual([3, "NO_RESPONDERS"]);
    const nobody = await runPeer(["all", server.url, "interop.nobody", "GET", "/"]);
    expect([nobody.code, nobody.stdout.trim()]).toEqual([3, "NO_RESPONDERS"]);
  });

  // -------------------------------------------------------------------------------------------
  // (6) a Go tap reads natsmesh's access records (PROTOCOL.md §11)
  // -------------------------------------------------------------------------------------------

  it("Go tap → natsmesh: the Go peer reads a natsmesh instance's access records, written from §11 alone", async () => {
    const tapped = await serve(fetchApp(), {
      nc,
      logger: silent,
      metrics: false,
      service: "interop.tapped",
      prefix: "mesh",
      accessRecords: true,
    });
    try {
      const proc = spawn(peerBin, ["tap", "-n", "2", server.url, "interop.tapped"], {
        env: { ...process.env, NATS_PREFIX: "mesh" },
      });
      goProcs.push(proc);
      let out = "";
      proc.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      const exited = new Promise<number | null>((resolve) => proc.once("close", resolve));
      await check(() => out.startsWith("READY mesh.interop.tapped.$TAP.*\n"), 10_000, {
        name: "Go tap ready",
      });
      const a = await meshFetch("http://interop.tapped/whoami?q=secret", {
        headers: { "x-request-id": "go-tap-1" },
      });
      await a.text();
      const b = await meshFetch("http://interop.tapped/nope", { method: "DELETE" });
      await b.text();
      expect(await exited).toBe(0);
      const lines = out.trim().split("\n").slice(1);
      expect(lines.every((l) => !l.startsWith("MALFORMED"))).toBe(true);
      const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(records).toEqual([
        expect.objectContaining({
          v: 1,
          service: "interop.tapped",
          instance: tapped.instance,
          method: "GET",
          path: "/whoami",
          status: a.status,
          requestId: "go-tap-1",
        }),
        expect.objectContaining({
          method: "DELETE",
          path: "/nope",
          status: b.status,
          requestId: b.headers.get("x-request-id"),
        }),
      ]);
    } finally {
      await tapped.stop();
    }
  });
});

function toPairs(list: readonly string[]): Pair[] {
  const out: Pair[] = [];
  for (let i = 0; i < list.length; i += 2) out.push([list[i]!, list[i + 1]!]);
  return out;
}
