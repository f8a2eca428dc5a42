/**
 * Test harness that runs REAL nats-server processes (never mocks).
 *
 * Every server lives in its own temp dir (`os.tmpdir()/natsmesh-test-*`) holding its config file,
 * its log (stdout+stderr) and its ports file. Ports are allocated by nats-server itself (`-1`) and
 * read back from the ports file / `/varz`, then pinned: `restart()` rewrites the config with the
 * actual ports, so the server comes back on the same ones. (The config file of the *running* process
 * keeps the ports it was started with, because nats-server refuses to reload e.g. `http: -1` -> port.) Every spawned pid is recorded in {@link PID_DIR} so that an interrupted run can
 * be cleaned up by the vitest global setup.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import {
  accessSync,
  closeSync,
  constants as fsConstants,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createUser } from "@nats-io/nkeys";

const execFileAsync = promisify(execFile);

// ---------------------------------------------------------------------------------------------
// config rendering
// ---------------------------------------------------------------------------------------------

/**
 * A nats-server configuration as a plain object. Nested objects render as `{}` blocks, arrays as
 * `[]`, strings are quoted (JSON.stringify), numbers/booleans are bare; `undefined`/`null` entries
 * are omitted. Use {@link raw} for a bare token (e.g. `64MB`, `$VAR`).
 *
 * The typed keys are only hints; any nats-server option may be given.
 */
export interface ServerConfig {
  [key: string]: unknown;
  server_name?: string;
  listen?: string;
  host?: string;
  port?: number;
  http?: string | number;
  max_payload?: number;
  debug?: boolean;
  trace?: boolean;
  authorization?: Record<string, unknown>;
  accounts?: Record<string, unknown>;
  mappings?: Record<string, unknown>;
  cluster?: Record<string, unknown>;
  gateway?: Record<string, unknown>;
  leafnodes?: Record<string, unknown>;
  tls?: Record<string, unknown>;
  jetstream?: boolean | Record<string, unknown>;
}

/** A value rendered verbatim (unquoted) by {@link toConf}. Create with {@link raw}. */
export class RawConfValue {
  /** @param value the exact text to emit */
  constructor(readonly value: string) {}
}

/** Marks `value` to be emitted verbatim (unquoted) in the rendered config, e.g. `raw("64MB")`. */
export function raw(value: string): RawConfValue {
  return new RawConfValue(value);
}

/** An `include` directive rendered by {@link toConf}. Create with {@link include}. */
export class IncludeConf {
  /** @param file the included file, relative to the config file's directory or absolute */
  constructor(readonly file: string) {}
}

/**
 * An `include "file"` directive at this place of the config; its key only orders it and is not
 * rendered, e.g. `{ mesh_mappings: include("mesh-mappings.conf") }`.
 */
export function include(file: string): IncludeConf {
  return new IncludeConf(file);
}

const BARE_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const RESERVED_KEYS = new Set(["include", "true", "false", "yes", "no", "on", "off"]);

function renderKey(key: string): string {
  return BARE_KEY.test(key) && !RESERVED_KEYS.has(key.toLowerCase()) ? key : JSON.stringify(key);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return (
    typeof v === "object" &&
    v !== null &&
    !Array.isArray(v) &&
    !(v instanceof RawConfValue) &&
    !(v instanceof IncludeConf)
  );
}

function renderValue(v: unknown, indent: string): string {
  if (v instanceof RawConfValue) return v.value;
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Error(`toConf: cannot render number ${v}`);
    return String(v);
  }
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "boolean") return v ? "true" : "false";
  if (Array.isArray(v)) {
    const items = v.filter((x) => x !== undefined && x !== null);
    if (items.length === 0) return "[]";
    const inner = `${indent}  `;
    return `[\n${items.map((x) => `${inner}${renderValue(x, inner)}`).join(",\n")}\n${indent}]`;
  }
  if (isPlainObject(v)) {
    const body = renderBody(v, `${indent}  `);
    return body ? `{\n${body}\n${indent}}` : "{}";
  }
  throw new Error(`toConf: cannot render value of type ${typeof v}`);
}

function renderBody(obj: Record<string, unknown>, indent: string): string {
  const lines: string[] = [];
  for (const [key, v] of Object.entries(obj)) {
    if (v === undefined || v === null) continue;
    if (v instanceof IncludeConf) {
      lines.push(`${indent}include ${JSON.stringify(v.file)}`);
      continue;
    }
    const k = renderKey(key);
    if (isPlainObject(v)) lines.push(`${indent}${k} ${renderValue(v, indent)}`);
    else lines.push(`${indent}${k}: ${renderValue(v, indent)}`);
  }
  return lines.join("\n");
}

/** Renders a config object to nats-server config syntax (top level without braces). */
export function toConf(obj: Record<string, unknown>): string {
  return `${renderBody(obj, "")}\n`;
}

/** Deep-merges plain objects (arrays and scalars of `b` replace those of `a`); returns a new object. */
export function mergeConfig(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = isPlainObject(prev) && isPlainObject(v) ? mergeConfig(prev, v) : v;
  }
  return out;
}

function clone<T>(v: T): T {
  if (Array.isArray(v)) return v.map(clone) as T;
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = clone(x);
    return out as T;
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// polling
// ---------------------------------------------------------------------------------------------

/** Options of {@link check}. */
export interface CheckOptions {
  /** Name used in the timeout error. */
  name?: string;
  /** Delay between attempts in ms (default 25). */
  interval?: number;
}

const PENDING = Symbol("pending");

function describeError(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/**
 * Polls `fn` until it returns a truthy value without throwing and returns that value. Throws an
 * Error naming `name` (and the last error or falsy value) once `timeoutMs` elapsed. An attempt that
 * hangs is abandoned at the deadline.
 */
export async function check<T>(
  fn: () => T | Promise<T>,
  timeoutMs = 5000,
  { name = "condition", interval = 25 }: CheckOptions = {},
): Promise<T> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  let lastErr: unknown;
  let lastValue: unknown;
  let attempts = 0;
  let pendingAtDeadline = false;
  for (;;) {
    attempts++;
    let timer: NodeJS.Timeout | undefined;
    try {
      const attempt = Promise.resolve().then(fn);
      attempt.catch(() => {});
      const remaining = Math.max(1, deadline - Date.now());
      const value = await Promise.race([
        attempt,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(PENDING), remaining);
        }),
      ]);
      if (value) return value;
      lastValue = value;
      lastErr = undefined;
    } catch (err) {
      if (err === PENDING) pendingAtDeadline = true;
      else lastErr = err;
    } finally {
      clearTimeout(timer);
    }
    const now = Date.now();
    if (now >= deadline) {
      const detail = lastErr !== undefined ? describeError(lastErr) : `last value: ${String(lastValue)}`;
      const pending = pendingAtDeadline ? " (last attempt still pending)" : "";
      throw new Error(
        `check "${name}" timed out after ${now - started} ms (${attempts} attempts${pending}); ${detail}`,
        lastErr !== undefined ? { cause: lastErr } : undefined,
      );
    }
    await new Promise((r) => setTimeout(r, Math.min(interval, deadline - now)));
  }
}

// ---------------------------------------------------------------------------------------------
// process hygiene
// ---------------------------------------------------------------------------------------------

/** Repository root (two levels up from this file). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Directory holding one `<pid>.json` file per running nats-server spawned by the harness. */
export const PID_DIR = path.join(REPO_ROOT, ".tmp", "nats-pids");

/** Prefix (under `os.tmpdir()`) of every temp dir the harness creates. */
export const TMP_PREFIX = "natsmesh-test-";

/** Content of a pid file in {@link PID_DIR}. */
export interface PidRecord {
  /** nats-server pid */
  pid: number;
  /** pid of the process that spawned it */
  owner: number;
  /** parent pid of the owner (the vitest main process when running in a forks worker) */
  ownerParent: number;
  name: string;
  dir: string;
  configPath: string;
  /** whether the harness created `dir` and may remove it */
  ownsDir: boolean;
  startedAt: string;
}

/** Path of the nats-server binary: `$NATS_SERVER_BIN`, `/usr/sbin/nats-server` or PATH; undefined if none. */
export function findNatsServerBinary(): string | undefined {
  const candidates = [process.env.NATS_SERVER_BIN, "/usr/sbin/nats-server"];
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir) candidates.push(path.join(dir, "nats-server"));
  }
  for (const c of candidates) {
    if (!c) continue;
    try {
      accessSync(c, fsConstants.X_OK);
      return c;
    } catch {
      // try next
    }
  }
  return undefined;
}

function natsServerBinary(): string {
  const bin = findNatsServerBinary();
  if (!bin)
    throw new Error(
      "nats-server binary not found (looked at $NATS_SERVER_BIN, /usr/sbin/nats-server and PATH); " +
        "install nats-server: apt-get install -y nats-server",
    );
  return bin;
}

/** True when a process with this pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Reads `/proc/<pid>/cmdline` (NUL separators replaced by spaces); "" if unavailable. */
export function procCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
}

/** True when `pid` is alive and its cmdline contains `nats-server`. */
export function isNatsServerPid(pid: number): boolean {
  return isAlive(pid) && procCmdline(pid).includes("nats-server");
}

/** All pid records currently in {@link PID_DIR} (unparseable files are returned as minimal records). */
export function readPidRecords(): PidRecord[] {
  let names: string[];
  try {
    names = readdirSync(PID_DIR);
  } catch {
    return [];
  }
  const out: PidRecord[] = [];
  for (const n of names) {
    const m = /^(\d+)\.json$/.exec(n);
    if (!m) continue;
    const pid = Number(m[1]);
    try {
      out.push({ ...JSON.parse(readFileSync(path.join(PID_DIR, n), "utf8")), pid });
    } catch {
      out.push({
        pid,
        owner: 0,
        ownerParent: 0,
        name: "?",
        dir: "",
        configPath: "",
        ownsDir: false,
        startedAt: "",
      });
    }
  }
  return out;
}

function pidFile(pid: number): string {
  return path.join(PID_DIR, `${pid}.json`);
}

function removePidFile(pid: number): void {
  try {
    unlinkSync(pidFile(pid));
  } catch {
    // already gone
  }
}

function removeTmpDirSync(dir: string): void {
  if (!dir || !path.basename(dir).startsWith(TMP_PREFIX)) return;
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // best effort
  }
}

/**
 * Synchronously SIGKILLs every recorded nats-server matching `filter` (verifying via
 * /proc/<pid>/cmdline that it really is a nats-server), removes its pid file and its temp dir.
 * Records of dead processes matching the filter are cleaned up too. Returns the killed pids.
 */
export function reapRecorded(filter: (r: PidRecord) => boolean = () => true): number[] {
  const killed: number[] = [];
  for (const r of readPidRecords()) {
    if (!filter(r)) continue;
    if (isNatsServerPid(r.pid)) {
      try {
        process.kill(r.pid, "SIGKILL");
        killed.push(r.pid);
      } catch {
        // raced with exit
      }
    }
    removePidFile(r.pid);
    if (r.ownsDir) removeTmpDirSync(r.dir);
  }
  return killed;
}

const live = new Set<NatsServer>();
let hooksInstalled = false;

function killAllSync(): void {
  for (const s of live) s.killSync();
  live.clear();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", killAllSync);
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    const handler = () => {
      killAllSync();
      process.off(sig, handler);
      // re-raise with the default disposition unless somebody else handles it
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

function portOf(url: unknown): number | undefined {
  if (typeof url !== "string") return undefined;
  const m = /:(\d+)\/?$/.exec(url);
  return m ? Number(m[1]) : undefined;
}

function tcpProbe(port: number, host = "127.0.0.1", timeoutMs = 1000): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host });
    sock.setTimeout(timeoutMs, () => sock.destroy(new Error(`tcp connect to ${host}:${port} timed out`)));
    sock.once("connect", () => {
      sock.destroy();
      resolve();
    });
    sock.once("error", reject);
  });
}

type Query = Record<string, string | number | boolean>;

function getJson<T>(port: number, route: string, query?: Query, timeoutMs = 3000): Promise<T> {
  const qs = query
    ? `?${new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString()}`
    : "";
  return new Promise<T>((resolve, reject) => {
    const req = http.get(
      { host: "127.0.0.1", port, path: `${route}${qs}`, agent: false, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8");
          if (res.statusCode !== 200) {
            reject(new Error(`GET ${route} on :${port} -> ${res.statusCode}: ${body.slice(0, 200)}`));
            return;
          }
          try {
            resolve(JSON.parse(body) as T);
          } catch (err) {
            reject(err);
          }
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`GET ${route} on :${port} timed out`)));
    req.on("error", reject);
  });
}

/** Splits "host:port" / ":port" / port into parts. */
function parseHostPort(v: unknown): { host?: string; port?: number } {
  if (typeof v === "number") return { port: v };
  if (typeof v !== "string") return {};
  const i = v.lastIndexOf(":");
  if (i < 0) return /^-?\d+$/.test(v) ? { port: Number(v) } : { host: v };
  const host = v.slice(0, i) || undefined;
  const port = Number(v.slice(i + 1));
  return Number.isFinite(port) ? { host, port } : { host };
}

const FORBIDDEN_PORT = 4222;

/** Normalizes listen/host/port of a block into `listen: "host:port"` (pinned port wins). */
function normalizeListen(block: Record<string, unknown>, pinned: number | undefined, what: string): void {
  const parsed = parseHostPort(block.listen);
  const host = (typeof block.host === "string" ? block.host : undefined) ?? parsed.host ?? "127.0.0.1";
  const port = pinned ?? (typeof block.port === "number" ? block.port : undefined) ?? parsed.port ?? -1;
  if (port === FORBIDDEN_PORT) throw new Error(`${what} port ${FORBIDDEN_PORT} is reserved (shared server)`);
  delete block.host;
  delete block.port;
  block.listen = `${host}:${port}`;
}

const serverCounter = { n: 0 };
const clusterCounter = { n: 0 };

async function tailFile(file: string, lines = 30): Promise<string> {
  try {
    const text = await readFile(file, "utf8");
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

// ---------------------------------------------------------------------------------------------
// monitoring types
// ---------------------------------------------------------------------------------------------

/** Subset of nats-server `/varz`. */
export interface Varz {
  [key: string]: unknown;
  server_id: string;
  server_name: string;
  version: string;
  port: number;
  max_payload: number;
  config_load_time: string;
  connections: number;
  routes: number;
  remotes: number;
  cluster?: { name?: string; addr?: string; cluster_port?: number; urls?: string[] };
  gateway?: { name?: string; host?: string; port?: number; gateways?: unknown[] };
  leaf?: { host?: string; port?: number };
}

/** Subset of nats-server `/routez`. */
export interface Routez {
  [key: string]: unknown;
  server_id: string;
  num_routes: number;
  routes?: Array<{
    [key: string]: unknown;
    rid: number;
    remote_id: string;
    did_solicit: boolean;
    port: number;
  }>;
}

/** A gateway connection in `/gatewayz`. */
export interface GatewayConnz {
  [key: string]: unknown;
  configured: boolean;
  connection?: { [key: string]: unknown; cid: number; ip: string; port: number; name: string };
}

/** Subset of nats-server `/gatewayz`. */
export interface Gatewayz {
  [key: string]: unknown;
  server_id: string;
  name?: string;
  port?: number;
  outbound_gateways?: Record<string, GatewayConnz>;
  inbound_gateways?: Record<string, GatewayConnz[]>;
}

/** Subset of nats-server `/connz`. */
export interface Connz {
  [key: string]: unknown;
  num_connections: number;
  total: number;
  connections?: Array<{ [key: string]: unknown; cid: number; name?: string; subscriptions_list?: string[] }>;
}

/** Subset of nats-server `/subsz`. */
export interface Subsz {
  [key: string]: unknown;
  num_subscriptions: number;
  total?: number;
  subscriptions_list?: Array<{ [key: string]: unknown; subject: string; qgroup?: string; account?: string }>;
}

// ---------------------------------------------------------------------------------------------
// NatsServer
// ---------------------------------------------------------------------------------------------

/** Options of {@link NatsServer.start}. */
export interface StartOptions {
  /** server_name (default `n<counter>`) */
  name?: string;
  /** working dir (config, log, ports file); default: a fresh `os.tmpdir()/natsmesh-test-*` */
  dir?: string;
  /** remove `dir` on stop() (default: true when the harness created it) */
  removeDir?: boolean;
  /** harness-managed config deep-merged over `config` (wins), e.g. cluster routes */
  overlay?: ServerConfig;
  /** additionally wait until `/routez` shows at least this many routes */
  waitRoutes?: number;
  /** readiness timeout in ms (default 10000) */
  timeoutMs?: number;
}

interface PinnedPorts {
  client: number;
  monitor: number;
  cluster?: number;
  gateway?: number;
  leaf?: number;
}

/** A running nats-server process. */
export class NatsServer implements AsyncDisposable {
  /** server_name */
  readonly name: string;
  /** working dir (config, log, ports files) */
  readonly dir: string;
  /** path of the rendered config file */
  readonly configPath: string;
  /** path of the captured stdout+stderr */
  readonly logPath: string;
  /** the binary used */
  readonly bin: string;

  private userConfig: ServerConfig;
  private overlay: ServerConfig;
  /** actual ports, known after the first start */
  private pinned: PinnedPorts | undefined;
  /** ports the current process was started with (undefined: `-1`, i.e. first start) */
  private processPinned: PinnedPorts | undefined;
  private child: ChildProcess | undefined;
  private exitPromise: Promise<void> = Promise.resolve();
  private readonly removeDir: boolean;
  private stopped = false;
  private readonly cleanups: Array<() => Promise<void> | void> = [];

  private constructor(
    name: string,
    dir: string,
    removeDir: boolean,
    userConfig: ServerConfig,
    overlay: ServerConfig,
  ) {
    this.name = name;
    this.dir = dir;
    this.removeDir = removeDir;
    this.configPath = path.join(dir, "nats-server.conf");
    this.logPath = path.join(dir, "nats-server.log");
    this.userConfig = clone(userConfig);
    this.overlay = clone(overlay);
    this.bin = natsServerBinary();
  }

  /**
   * Starts a nats-server with `config` (rendered by {@link toConf}) on free 127.0.0.1 ports
   * (client, monitoring, and cluster/gateway/leafnode listeners when those blocks are present),
   * and waits until it is ready (ports file written and the client port accepts TCP).
   */
  static async start(config: ServerConfig = {}, opts: StartOptions = {}): Promise<NatsServer> {
    const name = opts.name ?? `n${++serverCounter.n}`;
    let dir = opts.dir;
    let removeDir = opts.removeDir ?? false;
    if (dir) await mkdir(dir, { recursive: true });
    else {
      dir = await mkdtemp(path.join(os.tmpdir(), TMP_PREFIX));
      removeDir = opts.removeDir ?? true;
    }
    const server = new NatsServer(name, dir, removeDir, config, opts.overlay ?? {});
    try {
      await server.spawnAndWait(opts.timeoutMs ?? 10_000);
      if (opts.waitRoutes) await server.waitForRoutes(opts.waitRoutes);
    } catch (err) {
      await server.stop().catch(() => {});
      throw err;
    }
    return server;
  }

  /** The effective config object (user config + harness overlay + defaults) with the actual ports. */
  get config(): ServerConfig {
    return this.buildConfig(this.pinned);
  }

  /** Client port. */
  get port(): number {
    return this.ports.client;
  }

  /** Monitoring (http) port. */
  get monitorPort(): number {
    return this.ports.monitor;
  }

  /** Cluster (route) port, when a `cluster` block is configured. */
  get clusterPort(): number | undefined {
    return this.ports.cluster;
  }

  /** Gateway port, when a `gateway` block is configured. */
  get gatewayPort(): number | undefined {
    return this.ports.gateway;
  }

  /** Leafnode port, when a `leafnodes` block with a listener is configured. */
  get leafPort(): number | undefined {
    return this.ports.leaf;
  }

  /** "127.0.0.1:PORT" */
  get hostport(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** "nats://127.0.0.1:PORT" */
  get url(): string {
    return `nats://${this.hostport}`;
  }

  /** "nats-route://127.0.0.1:CLUSTERPORT" (throws without a cluster block) */
  get routeUrl(): string {
    if (!this.clusterPort) throw new Error(`server ${this.name} has no cluster port`);
    return `nats-route://127.0.0.1:${this.clusterPort}`;
  }

  /** "nats://127.0.0.1:GATEWAYPORT" (throws without a gateway block) */
  get gatewayUrl(): string {
    if (!this.gatewayPort) throw new Error(`server ${this.name} has no gateway port`);
    return `nats://127.0.0.1:${this.gatewayPort}`;
  }

  /** pid of the current process (-1 when not running). */
  get pid(): number {
    return this.child?.pid ?? -1;
  }

  /** True while the process is running. */
  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  private get ports(): PinnedPorts {
    if (!this.pinned) throw new Error(`server ${this.name} has not started`);
    return this.pinned;
  }

  /** Registers a cleanup run by stop() after the process exited (e.g. removing cert dirs). */
  onStop(fn: () => Promise<void> | void): void {
    this.cleanups.push(fn);
  }

  /**
   * Replaces the harness overlay (deep-merged over the user config) and rewrites the config file.
   * Does not signal the server; call {@link reload} or {@link restart} to apply.
   */
  async setOverlay(overlay: ServerConfig): Promise<void> {
    this.overlay = clone(overlay);
    await this.writeConfig();
  }

  /**
   * Replaces the user config (harness overlay and pinned ports are kept) and rewrites the config
   * file without signalling the server; apply it with {@link restart} (or {@link reload}).
   */
  async setConfig(config: ServerConfig): Promise<void> {
    this.userConfig = clone(config);
    await this.writeConfig();
  }

  /** The harness overlay currently applied. */
  getOverlay(): ServerConfig {
    return clone(this.overlay);
  }

  private buildConfig(p: PinnedPorts | undefined): ServerConfig {
    const c = mergeConfig(
      mergeConfig({ server_name: this.name }, this.userConfig),
      this.overlay,
    ) as ServerConfig;
    normalizeListen(c, p?.client, "client");
    // monitoring: always on 127.0.0.1, pinned after the first start
    const hp = parseHostPort(c.http ?? c.http_port);
    const httpPort = p?.monitor ?? hp.port ?? -1;
    if (httpPort === FORBIDDEN_PORT) throw new Error(`http port ${FORBIDDEN_PORT} is reserved`);
    delete c.http_port;
    c.http = `${hp.host ?? "127.0.0.1"}:${httpPort}`;
    if (isPlainObject(c.cluster)) normalizeListen(c.cluster, p?.cluster, "cluster");
    if (isPlainObject(c.gateway)) normalizeListen(c.gateway, p?.gateway, "gateway");
    if (isPlainObject(c.leafnodes) && (c.leafnodes.listen !== undefined || c.leafnodes.port !== undefined)) {
      normalizeListen(c.leafnodes, p?.leaf, "leafnodes");
    }
    if (c.jetstream === true) c.jetstream = {};
    if (isPlainObject(c.jetstream) && c.jetstream.store_dir === undefined) {
      c.jetstream.store_dir = path.join(this.dir, "jetstream");
    }
    return c;
  }

  /** Writes the config file; `ports` defaults to those the running process was started with. */
  private async writeConfig(ports = this.processPinned): Promise<void> {
    await writeFile(this.configPath, toConf(this.buildConfig(ports)));
  }

  private async spawnAndWait(timeoutMs: number): Promise<void> {
    if (this.stopped) throw new Error(`server ${this.name} was stopped`);
    await this.writeConfig(this.pinned);
    this.processPinned = this.pinned;
    installHooks();
    mkdirSync(PID_DIR, { recursive: true });
    const logFd = openSync(this.logPath, "a");
    let child: ChildProcess;
    try {
      child = spawn(this.bin, ["-c", this.configPath, "--ports_file_dir", this.dir], {
        cwd: this.dir,
        stdio: ["ignore", logFd, logFd],
      });
    } finally {
      closeSync(logFd);
    }
    const pid = child.pid;
    if (pid === undefined) {
      const err = await new Promise<Error>((r) => child.once("error", r));
      throw new Error(`failed to spawn ${this.bin}: ${err.message}`);
    }
    this.child = child;
    live.add(this);
    const record: PidRecord = {
      pid,
      owner: process.pid,
      ownerParent: process.ppid,
      name: this.name,
      dir: this.dir,
      configPath: this.configPath,
      ownsDir: this.removeDir,
      startedAt: new Date().toISOString(),
    };
    writeFileSync(pidFile(pid), `${JSON.stringify(record)}\n`);
    this.exitPromise = new Promise<void>((resolve) => {
      child.once("exit", () => {
        removePidFile(pid);
        resolve();
      });
    });
    child.on("error", () => {});

    type Ready = { exited: true } | { ports: Record<string, string[] | undefined> };
    let ready: Ready;
    try {
      ready = await check<Ready | false>(
        async () => {
          if (child.exitCode !== null || child.signalCode !== null) return { exited: true };
          const f = (await readdir(this.dir)).find((n) => n.endsWith(`_${pid}.ports`));
          if (!f) return false;
          const ports = JSON.parse(await readFile(path.join(this.dir, f), "utf8"));
          const client = portOf(ports.nats?.[0]);
          if (!client) return false;
          await tcpProbe(client);
          return { ports };
        },
        timeoutMs,
        { name: `nats-server ${this.name} ready` },
      ).then((r) => r as Ready);
    } catch (err) {
      throw new Error(
        `nats-server ${this.name} did not become ready: ${describeError(err)}\n--- ${this.logPath} ---\n${await tailFile(this.logPath)}`,
      );
    }
    if ("exited" in ready) {
      await this.exitPromise;
      throw new Error(
        `nats-server ${this.name} exited during start (code ${child.exitCode}, signal ${child.signalCode})\n--- ${this.logPath} ---\n${await tailFile(this.logPath)}`,
      );
    }
    if (!this.pinned) {
      const ports = ready.ports;
      const client = portOf(ports.nats?.[0]);
      const monitor = portOf(ports.monitoring?.[0]);
      if (!client || !monitor)
        throw new Error(`nats-server ${this.name}: bad ports file ${JSON.stringify(ports)}`);
      const pinned: PinnedPorts = { client, monitor };
      const cluster = portOf(ports.cluster?.[0]);
      if (cluster) pinned.cluster = cluster;
      const eff = this.buildConfig(undefined);
      if (isPlainObject(eff.gateway) || isPlainObject(eff.leafnodes)) {
        const v = await getJson<Varz>(monitor, "/varz");
        if (isPlainObject(eff.gateway) && v.gateway?.port) pinned.gateway = v.gateway.port;
        if (v.leaf?.port && v.leaf.port > 0) pinned.leaf = v.leaf.port;
      }
      // restart() writes these into the config so that the server comes back on the same ports
      this.pinned = pinned;
    }
  }

  /** Waits until `/routez` reports at least `n` routes. */
  async waitForRoutes(n: number, timeoutMs = 10_000): Promise<void> {
    await check(async () => (await this.routez()).num_routes >= n, timeoutMs, {
      name: `${this.name} has ${n} routes`,
    });
  }

  /** Sends `signal` (default SIGKILL) and waits until the process exited. Keeps dir/config for restart(). */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (!this.running) return this.exitPromise;
    this.child?.kill(signal);
    await this.exitPromise;
  }

  /** @internal synchronous SIGKILL used by the process exit hook. */
  killSync(): void {
    const pid = this.child?.pid;
    if (pid !== undefined && this.running) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    if (pid !== undefined) removePidFile(pid);
    if (this.removeDir) removeTmpDirSync(this.dir);
  }

  private async terminate(): Promise<void> {
    if (!this.running) return this.exitPromise;
    this.child?.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.exitPromise.then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), 2000);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) await this.kill("SIGKILL");
  }

  /** SIGTERM (SIGKILL after 2 s), waits for exit, then removes the temp dir. Idempotent, final. */
  async stop(): Promise<void> {
    await this.terminate();
    if (this.stopped) return;
    this.stopped = true;
    live.delete(this);
    for (const fn of this.cleanups.splice(0)) await fn();
    if (this.removeDir) await rm(this.dir, { recursive: true, force: true });
  }

  /** Stops the process if running and starts it again on the same ports with the same config; waits ready. */
  async restart(timeoutMs = 10_000): Promise<void> {
    if (this.stopped) throw new Error(`server ${this.name} was stopped; it cannot be restarted`);
    await this.terminate();
    await this.spawnAndWait(timeoutMs);
  }

  /**
   * Rewrites the config (replacing the user config with `newConfig` when given; harness overlay and
   * pinned ports are kept), sends SIGHUP and waits until `/varz` `config_load_time` changes.
   * Fails fast with the log tail when the server reports a reload error.
   */
  async reload(newConfig?: ServerConfig, timeoutMs = 5000): Promise<void> {
    const before = (await this.varz()).config_load_time;
    const previous = this.userConfig;
    if (newConfig) this.userConfig = clone(newConfig);
    try {
      await this.writeConfig();
    } catch (err) {
      this.userConfig = previous;
      throw err;
    }
    const logSize = (await readFile(this.logPath)).length;
    this.child?.kill("SIGHUP");
    const result = await check<string | boolean>(
      async () => {
        const v = await this.varz();
        if (v.config_load_time !== before) return true;
        const log = (await readFile(this.logPath)).subarray(logSize).toString("utf8");
        const failure = log.split("\n").find((l) => /\[(ERR|FTL)\].*reload/i.test(l));
        return failure ?? false;
      },
      timeoutMs,
      { name: `${this.name} config reloaded` },
    ).catch(async (err: unknown) => {
      throw new Error(`${describeError(err)}\n--- ${this.logPath} ---\n${await tailFile(this.logPath)}`);
    });
    if (result !== true) throw new Error(`nats-server ${this.name} failed to reload config: ${result}`);
  }

  /** GET a JSON monitoring endpoint (e.g. "/varz") with optional query params. */
  monitor<T = Record<string, unknown>>(route: string, query?: Query): Promise<T> {
    return getJson<T>(this.monitorPort, route, query);
  }

  /** `/varz` */
  varz(): Promise<Varz> {
    return this.monitor<Varz>("/varz");
  }

  /** `/routez` (query e.g. `{ subs: 1 }`) */
  routez(query?: Query): Promise<Routez> {
    return this.monitor<Routez>("/routez", query);
  }

  /** `/gatewayz` (query e.g. `{ accs: 1 }`) */
  gatewayz(query?: Query): Promise<Gatewayz> {
    return this.monitor<Gatewayz>("/gatewayz", query);
  }

  /** `/connz` (query e.g. `{ subs: 1, auth: true }`) */
  connz(query?: Query): Promise<Connz> {
    return this.monitor<Connz>("/connz", query);
  }

  /** `/subsz` (default query `{ subs: 1 }`) */
  subsz(query: Query = { subs: 1 }): Promise<Subsz> {
    return this.monitor<Subsz>("/subsz", query);
  }

  /** Last `lines` lines of the server log. */
  logTail(lines = 30): Promise<string> {
    return tailFile(this.logPath, lines);
  }

  /** = stop() */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// clusters
// ---------------------------------------------------------------------------------------------

/** A set of routed servers forming one cluster. */
export class NatsCluster implements AsyncDisposable {
  /**
   * @param name cluster name
   * @param servers the nodes, in start order
   */
  constructor(
    readonly name: string,
    readonly servers: NatsServer[],
  ) {}

  /** Client urls of all nodes. */
  get urls(): string[] {
    return this.servers.map((s) => s.url);
  }

  /** Waits until every node's `/routez` shows exactly n-1 distinct routes. */
  async waitForMesh(timeoutMs = 10_000): Promise<void> {
    await waitMesh(this.servers, timeoutMs, this.name);
  }

  /** Stops all nodes. */
  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop()));
  }

  /** = stop() */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

async function waitMesh(servers: NatsServer[], timeoutMs: number, name: string): Promise<void> {
  const want = servers.length - 1;
  if (want <= 0) return;
  await check(
    async () => {
      for (const s of servers) {
        const r = await s.routez();
        const remotes = new Set((r.routes ?? []).map((x) => x.remote_id));
        if (r.num_routes !== want || remotes.size !== want) return false;
      }
      return true;
    },
    timeoutMs,
    { name: `cluster ${name} routes formed` },
  );
}

/** Options of {@link cluster}. */
export interface ClusterOptions {
  /** cluster name (default `c<counter>`); nodes are named `<name>-<i>` */
  name?: string;
  /** readiness timeout (default 15000 ms) */
  timeoutMs?: number;
}

async function startCluster(
  n: number,
  config: ServerConfig,
  name: string,
  extraOverlay: (routes: string[]) => ServerConfig,
  timeoutMs: number,
): Promise<NatsCluster> {
  if (n < 1) throw new Error("cluster size must be >= 1");
  const overlayFor = (routes: string[]): ServerConfig =>
    mergeConfig(extraOverlay(routes), { cluster: { name, ...(routes.length ? { routes } : {}) } });
  const servers: NatsServer[] = [];
  try {
    const first = await NatsServer.start(config, { name: `${name}-1`, overlay: overlayFor([]) });
    servers.push(first);
    const rest = await Promise.allSettled(
      Array.from({ length: n - 1 }, (_, i) =>
        NatsServer.start(config, { name: `${name}-${i + 2}`, overlay: overlayFor([first.routeUrl]) }),
      ),
    );
    for (const r of rest) if (r.status === "fulfilled") servers.push(r.value);
    const failed = rest.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    // fully mesh the configs so that any node can be restarted on its own
    await Promise.all(
      servers.map((s) =>
        s.setOverlay(
          mergeConfig(s.getOverlay(), {
            cluster: { routes: servers.filter((o) => o !== s).map((o) => o.routeUrl) },
          }),
        ),
      ),
    );
    await waitMesh(servers, timeoutMs, name);
    return new NatsCluster(name, servers);
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop().catch(() => {})));
    throw err;
  }
}

/**
 * Starts `n` routed servers (`cluster { name, listen 127.0.0.1:-1, routes [...] }`): the first node,
 * then the others with a route to it; rewrites every node's config with routes to all others
 * (for restarts) and waits until every node's `/routez` shows n-1 routes.
 */
export async function cluster(
  n = 3,
  config: ServerConfig = {},
  opts: ClusterOptions = {},
): Promise<NatsCluster> {
  const name = opts.name ?? `c${++clusterCounter.n}`;
  return startCluster(n, config, name, () => ({}), opts.timeoutMs ?? 15_000);
}

/** One cluster of a {@link superCluster}. */
export interface SuperClusterSpec {
  name: string;
  size: number;
}

/** Options of {@link superCluster}. */
export interface SuperClusterOptions {
  /** default: east(2) + west(2) */
  clusters?: SuperClusterSpec[];
  /** config applied to every node */
  config?: ServerConfig;
  /** readiness timeout (default 20000 ms) */
  timeoutMs?: number;
}

/** Clusters joined by gateways. */
export interface SuperCluster extends AsyncDisposable {
  clusters: Record<string, NatsCluster>;
  /** all nodes of all clusters */
  servers: NatsServer[];
  stop(): Promise<void>;
}

/**
 * Starts clusters joined by gateways (`gateway { name, listen 127.0.0.1:-1, gateways [...] }`).
 * The first cluster starts without remote gateways; every other cluster gets one explicit gateway
 * to the first cluster (the rest is gossiped). Afterwards every node's config is rewritten with
 * explicit gateways to all other clusters (for restarts). Waits until `/gatewayz` on every node shows
 * outbound gateways to every other cluster.
 */
export async function superCluster(opts: SuperClusterOptions = {}): Promise<SuperCluster> {
  const specs = opts.clusters ?? [
    { name: "east", size: 2 },
    { name: "west", size: 2 },
  ];
  const [firstSpec, ...otherSpecs] = specs;
  if (!firstSpec) throw new Error("superCluster needs at least one cluster");
  const names = new Set(specs.map((s) => s.name));
  if (names.size !== specs.length) throw new Error("superCluster cluster names must be unique");
  const config = opts.config ?? {};
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const clusters: Record<string, NatsCluster> = {};
  const all = () => Object.values(clusters).flatMap((c) => c.servers);
  try {
    const first = await startCluster(
      firstSpec.size,
      config,
      firstSpec.name,
      () => ({ gateway: { name: firstSpec.name } }),
      timeoutMs,
    );
    clusters[firstSpec.name] = first;
    const seed = first.servers[0]!.gatewayUrl;
    const rest = await Promise.allSettled(
      otherSpecs.map((spec) =>
        startCluster(
          spec.size,
          config,
          spec.name,
          () => ({ gateway: { name: spec.name, gateways: [{ name: firstSpec.name, urls: [seed] }] } }),
          timeoutMs,
        ),
      ),
    );
    for (const r of rest) if (r.status === "fulfilled") clusters[r.value.name] = r.value;
    const failed = rest.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;

    const servers = all();
    await Promise.all(
      Object.values(clusters).flatMap((c) =>
        c.servers.map((s) =>
          s.setOverlay(
            mergeConfig(s.getOverlay(), {
              gateway: {
                name: c.name,
                gateways: Object.values(clusters)
                  .filter((o) => o !== c)
                  .map((o) => ({ name: o.name, urls: o.servers.map((x) => x.gatewayUrl) })),
              },
            }),
          ),
        ),
      ),
    );
    await check(
      async () => {
        for (const c of Object.values(clusters)) {
          for (const s of c.servers) {
            const g = await s.gatewayz();
            const out = g.outbound_gateways ?? {};
            for (const other of names) {
              if (other !== c.name && !out[other]?.connection) return false;
            }
          }
        }
        return true;
      },
      timeoutMs,
      { name: `super-cluster ${[...names].join("/")} gateways formed` },
    );
    const stop = async () => {
      await Promise.all(Object.values(clusters).map((c) => c.stop()));
    };
    return { clusters, servers, stop, [Symbol.asyncDispose]: stop };
  } catch (err) {
    await Promise.all(all().map((s) => s.stop().catch(() => {})));
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------------

/** Paths of generated certificate material. */
export interface CertFiles {
  dir: string;
  ca: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** A cert/key pair (file paths). */
export interface CertPair {
  cert: string;
  key: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileAsync("openssl", args, { cwd });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args.join(" ")} failed: ${e.stderr || e.message}`);
  }
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** Creates a self-signed EC P-256 CA `<dir>/<name>.pem` + `<name>-key.pem`. */
export async function createCa(dir: string, name = "ca"): Promise<CertPair> {
  await mkdir(dir, { recursive: true });
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}-key.pem`);
  await openssl(
    [
      "req",
      "-x509",
      ...EC_KEY,
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "2",
      "-subj",
      `/CN=natsmesh test ${name}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
    dir,
  );
  return { cert, key };
}

/** Options of {@link createCert}. */
export interface CreateCertOptions {
  /** CA used to sign */
  ca: CertPair;
  /** file base name */
  name: string;
  /** subject CN (default: name) */
  cn?: string;
  /** "server" (SAN IP:127.0.0.1, DNS:localhost) or "client" */
  kind: "server" | "client";
  /** produce an already expired certificate */
  expired?: boolean;
}

/** Creates an EC P-256 leaf cert signed by `ca` in `dir`. */
export async function createCert(dir: string, opts: CreateCertOptions): Promise<CertPair> {
  const cert = path.join(dir, `${opts.name}.pem`);
  const key = path.join(dir, `${opts.name}-key.pem`);
  const csr = path.join(dir, `${opts.name}.csr`);
  const ext = path.join(dir, `${opts.name}.ext`);
  const lines = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment"];
  if (opts.kind === "server") {
    lines.push("extendedKeyUsage=serverAuth,clientAuth", "subjectAltName=IP:127.0.0.1,DNS:localhost");
  } else {
    lines.push("extendedKeyUsage=clientAuth");
  }
  await writeFile(ext, `${lines.join("\n")}\n`);
  await openssl(["req", ...EC_KEY, "-keyout", key, "-out", csr, "-subj", `/CN=${opts.cn ?? opts.name}`], dir);
  await openssl(
    [
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      opts.ca.cert,
      "-CAkey",
      opts.ca.key,
      "-set_serial",
      `0x${Date.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`,
      "-out",
      cert,
      // a negative validity yields notAfter = now - 1 day: expired
      "-days",
      opts.expired ? "-1" : "2",
      "-extfile",
      ext,
    ],
    dir,
  );
  await rm(csr, { force: true });
  await rm(ext, { force: true });
  return { cert, key };
}

/** Generates a CA, a server cert (127.0.0.1/localhost) and a client cert signed by it in `dir`. */
export async function generateCerts(dir: string): Promise<CertFiles> {
  const ca = await createCa(dir, "ca");
  const [server, client] = await Promise.all([
    createCert(dir, { ca, name: "server", cn: "localhost", kind: "server" }),
    createCert(dir, { ca, name: "client", kind: "client" }),
  ]);
  return {
    dir,
    ca: ca.cert,
    caKey: ca.key,
    serverCert: server.cert,
    serverKey: server.key,
    clientCert: client.cert,
    clientKey: client.key,
  };
}

/** Creates an already EXPIRED client cert signed by the CA of `certs` (in `certs.dir`). */
export function createExpiredClientCert(certs: CertFiles, name = "client-expired"): Promise<CertPair> {
  return createCert(certs.dir, {
    ca: { cert: certs.ca, key: certs.caKey },
    name,
    kind: "client",
    expired: true,
  });
}

/**
 * Creates a different ("wrong") CA in `dir` and a client cert signed by it; a server trusting only
 * the original CA must reject it.
 */
export async function createWrongCaClientCert(
  dir: string,
  name = "rogue",
): Promise<CertPair & { ca: string }> {
  const ca = await createCa(dir, `${name}-ca`);
  const pair = await createCert(dir, { ca, name: `${name}-client`, kind: "client" });
  return { ...pair, ca: ca.cert };
}

/**
 * The `tls` block of a server presenting the server certificate of `certs` (see {@link generateCerts});
 * with `verify`, clients must present a certificate from the same CA.
 */
export function tlsConfig(certs: CertFiles, verify = false): ServerConfig {
  return {
    tls: { cert_file: certs.serverCert, key_file: certs.serverKey, ca_file: certs.ca, verify, timeout: 2 },
  };
}

/** Options of {@link tlsServer}. */
export interface TlsServerOptions {
  /** require and verify client certificates */
  verify?: boolean;
  /** extra server config */
  config?: ServerConfig;
  /** server name */
  name?: string;
}

/** Result of {@link tlsServer}: the server plus generated cert files. */
export interface TlsServer extends CertFiles {
  server: NatsServer;
}

/**
 * Generates certs (see {@link generateCerts}) in the server's temp dir and starts a server with
 * `tls { cert_file, key_file, ca_file, verify }`. The certs are removed with the server on stop().
 */
export async function tlsServer(opts: TlsServerOptions = {}): Promise<TlsServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), TMP_PREFIX));
  try {
    const certs = await generateCerts(path.join(dir, "certs"));
    const config = mergeConfig(opts.config ?? {}, tlsConfig(certs, opts.verify));
    const server = await NatsServer.start(config, { dir, removeDir: true, name: opts.name });
    return { server, ...certs };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// auth helpers
// ---------------------------------------------------------------------------------------------

/** Starts a server requiring `user`/`pass` (`authorization { user, password }`). */
export function userPassServer(user: string, pass: string, config: ServerConfig = {}): Promise<NatsServer> {
  return NatsServer.start(mergeConfig(config, { authorization: { user, password: pass } }));
}

/** Starts a server requiring `token` (`authorization { token }`). */
export function tokenServer(token: string, config: ServerConfig = {}): Promise<NatsServer> {
  return NatsServer.start(mergeConfig(config, { authorization: { token } }));
}

/** Result of {@link nkeyServer}. */
export interface NkeyServer {
  server: NatsServer;
  /** user seed ("SU...") */
  seed: string;
  /** user public key ("U...") */
  publicKey: string;
}

/** Generates a user nkey and starts a server with `authorization { users: [{ nkey }] }`. */
export async function nkeyServer(config: ServerConfig = {}): Promise<NkeyServer> {
  const kp = createUser();
  const publicKey = kp.getPublicKey();
  const seed = new TextDecoder().decode(kp.getSeed());
  const server = await NatsServer.start(
    mergeConfig(config, { authorization: { users: [{ nkey: publicKey }] } }),
  );
  return { server, seed, publicKey };
}
