/**
 * Runs a real `nats-server` child process on 127.0.0.1 for development and tests.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Env } from "../connect/index.js";
import { brandError, ErrorCode, MeshError } from "../protocol/index.js";
import { findNatsServer } from "./find-binary.js";
import { acceptsTcp } from "./tcp-probe.js";

/**
 * Defaults of {@link startLocalServer}.
 *
 * @example
 * ```ts
 * await startLocalServer({ readyTimeout: LOCAL_SERVER_DEFAULTS.readyTimeout * 2 });
 * ```
 */
export const LOCAL_SERVER_DEFAULTS = {
  host: "127.0.0.1",
  /** Milliseconds to wait for the server to accept connections. */
  readyTimeout: 10_000,
  /** Milliseconds `stop()` waits after SIGTERM before SIGKILL. */
  stopTimeout: 5_000,
  /** Delay between readiness checks, in milliseconds. */
  pollInterval: 20,
  /** Lines of the server's log kept for error messages. */
  logLines: 20,
  tmpPrefix: "natsmesh-dev-",
} as const;

/** Options of {@link startLocalServer}. */
/**
 * A local `nats-server` could not be started: the spawn failed, it exited before it was ready, or it did
 * not accept connections in time. The message ends with the tail of the server's log. Code
 * `NM_ERR_NATS_SERVER_START`, status 500.
 *
 * @example
 * ```ts
 * try { await startLocalServer(); } catch (err) { if (err instanceof NatsServerStartError) console.error(err.message); }
 * ```
 */
export class NatsServerStartError extends MeshError {
  static {
    brandError(NatsServerStartError, "NatsServerStartError");
  }

  /** The `host:port` nats-server could not listen on because it is in use, when that is what went wrong. */
  readonly addressInUse: string | undefined;

  /**
   * @param message - what went wrong, with the server's last log lines
   * @param cause - the spawn error, when there was one
   * @param addressInUse - the `host:port` that is in use, when that is why the server exited
   */
  constructor(message: string, cause?: unknown, addressInUse?: string) {
    super(ErrorCode.NatsServerStart, 500, message, { cause });
    this.addressInUse = addressInUse;
  }
}

/**
 * Options of {@link startLocalServer}.
 *
 * @example
 * ```ts
 * await using server = await startLocalServer({ port: 14222, bin: "/usr/sbin/nats-server", readyTimeout: 5_000 });
 * ```
 */
export interface LocalServerOptions {
  /** Client port (default: a free port chosen by the server). */
  port?: number;
  /** nats-server binary path or name (default `NATS_SERVER_BIN`, `nats-server` on PATH, `/usr/sbin/nats-server`). */
  bin?: string;
  /** Environment providing `NATS_SERVER_BIN` and `PATH` (default `process.env`). */
  env?: Env;
  /** Milliseconds to wait for the server to accept connections (default 10 000). */
  readyTimeout?: number;
}

/**
 * How the server process ended.
 *
 * @example
 * ```ts
 * const { code, signal } = await server.exited;
 * console.log(signal ? `killed by ${signal}` : `exited with code ${code}`);
 * ```
 */
export interface LocalServerExit {
  /** Exit code, or `null` when killed by a signal or never started. */
  code: number | null;
  /** The signal that killed it, if any. */
  signal: NodeJS.Signals | null;
}

/**
 * How a server process ended, for messages: `signal SIGTERM` or `code 1`.
 *
 * @param exit - how it ended
 * @returns the text
 * @example
 * ```ts
 * describeExit({ code: 1, signal: null }); // "code 1"
 * ```
 */
export function describeExit(exit: LocalServerExit): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}

/**
 * A running local nats-server; it is killed when this process exits.
 *
 * @example
 * ```ts
 * await using server = await startLocalServer();
 * const nc = await connect({ servers: server.url });
 * server.exited.then(({ code, signal }) => console.error(`nats-server (pid ${server.pid}) exited: ${signal ?? code}`));
 * ```
 */
export interface LocalServer extends AsyncDisposable {
  /** `nats://127.0.0.1:PORT` */
  readonly url: string;
  /** Client port. */
  readonly port: number;
  /** Process id of the server. */
  readonly pid: number;
  /** Settles when the server process ends, for any reason. */
  readonly exited: Promise<LocalServerExit>;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its temp dir; safe to call twice. */
  stop(): Promise<void>;
  /** `stop()`, for `await using server = await startLocalServer()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts `nats-server` on 127.0.0.1 and waits until its client port accepts TCP connections.
 * Without `port` the server binds a free port itself (`-p -1`) and reports it in a ports file, so
 * there is no race with other processes. The child does not keep this process alive, and is
 * killed when this process exits.
 *
 * @param options - port, binary and environment
 * @returns the running server
 * @throws {@link NatsServerNotFoundError} when the binary is missing, with installation instructions
 * @throws Error when the server exits before it is ready (the message quotes its log, e.g.
 * `address already in use`) or is not ready within `readyTimeout`
 * @example
 * ```ts
 * await using nats = await startLocalServer();
 * const fetch = createFetch({ connection: { servers: nats.url } });
 * ```
 */
export async function startLocalServer(options: LocalServerOptions = {}): Promise<LocalServer> {
  const bin = findNatsServer(options);
  const dir = await mkdtemp(join(tmpdir(), LOCAL_SERVER_DEFAULTS.tmpPrefix));
  const args = ["-a", LOCAL_SERVER_DEFAULTS.host, "-p", String(options.port ?? -1), "--ports_file_dir", dir];
  const child = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
  const server = new LocalNatsServer(child, dir);
  try {
    await server.waitReady(options.readyTimeout ?? LOCAL_SERVER_DEFAULTS.readyTimeout);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

/** nats-server's fatal log line for a port another process holds: `Error listening on port: 127.0.0.1:4222, "... address already in use"`. */
const IN_USE = /listening on port: (\S+?),.*address already in use/;

class LocalNatsServer implements LocalServer {
  readonly exited: Promise<LocalServerExit>;
  readonly #child: ChildProcess;
  readonly #dir: string;
  readonly #log: string[] = [];
  readonly #onParentExit = () => {
    this.#child.kill("SIGKILL");
    rmSync(this.#dir, { recursive: true, force: true });
  };
  #port = 0;
  #exit: LocalServerExit | undefined;
  #spawnError: Error | undefined;
  #stopping: Promise<void> | undefined;

  constructor(child: ChildProcess, dir: string) {
    this.#child = child;
    this.#dir = dir;
    this.exited = new Promise((resolve) => {
      const settle = (exit: LocalServerExit) => {
        this.#exit = exit;
        resolve(exit);
      };
      // "close" rather than "exit": by then all of the server's log has been read.
      child.once("close", (code, signal) => settle({ code, signal }));
      child.once("error", (err) => {
        this.#spawnError = err;
        if (child.pid === undefined) settle({ code: null, signal: null });
      });
    });
    child.stderr?.setEncoding("utf8").on("data", (text: string) => this.#keepLog(text));
    process.once("exit", this.#onParentExit);
    child.unref();
    (child.stderr as { unref?: () => void } | null)?.unref?.();
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `nats://${LOCAL_SERVER_DEFAULTS.host}:${this.#port}`;
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  async waitReady(timeout: number): Promise<void> {
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      if (this.#exit) throw this.#diedError();
      this.#port ||= await this.#readPortsFile();
      if (this.#port && (await acceptsTcp(LOCAL_SERVER_DEFAULTS.host, this.#port, 250))) return;
      await sleep(LOCAL_SERVER_DEFAULTS.pollInterval);
    }
    throw new NatsServerStartError(
      `nats-server did not accept connections within ${timeout} ms${this.#logTail()}`,
    );
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #stop(): Promise<void> {
    // Waiting for the exit must keep this process alive, though a running child does not.
    this.#child.ref();
    if (!this.#exit && this.#child.kill("SIGTERM")) {
      const timer = new AbortController();
      const killed = await Promise.race([
        this.exited.then(() => true),
        sleep(LOCAL_SERVER_DEFAULTS.stopTimeout, false, { signal: timer.signal }),
      ]);
      timer.abort();
      if (!killed) this.#child.kill("SIGKILL");
    }
    if (this.#child.pid !== undefined) await this.exited;
    process.removeListener("exit", this.#onParentExit);
    await rm(this.#dir, { recursive: true, force: true });
  }

  async #readPortsFile(): Promise<number> {
    try {
      const file = (await readdir(this.#dir)).find((name) => name.endsWith(".ports"));
      if (!file) return 0;
      const ports = JSON.parse(await readFile(join(this.#dir, file), "utf8")) as { nats?: string[] };
      return Number(new URL(ports.nats?.[0] ?? "nats://x:0").port) || 0;
    } catch {
      return 0; // not written yet, or half written
    }
  }

  #diedError(): NatsServerStartError {
    if (this.#spawnError) {
      return new NatsServerStartError(
        `cannot start nats-server: ${this.#spawnError.message}`,
        this.#spawnError,
      );
    }
    const how = describeExit(this.#exit ?? { code: null, signal: null });
    const inUse = this.#log.map((line) => IN_USE.exec(line)?.[1]).find((address) => address !== undefined);
    if (inUse !== undefined) {
      return new NatsServerStartError(
        `${inUse} is in use: nats-server exited with ${how} before it was ready`,
        undefined,
        inUse,
      );
    }
    return new NatsServerStartError(`nats-server exited with ${how} before it was ready${this.#logTail()}`);
  }

  #keepLog(text: string): void {
    this.#log.push(...text.split("\n").filter(Boolean));
    this.#log.splice(0, Math.max(0, this.#log.length - LOCAL_SERVER_DEFAULTS.logLines));
  }

  #logTail(): string {
    const errors = this.#log.filter((line) => /\[(FTL|ERR)\]/.test(line));
    const last = errors.at(-1) ?? this.#log.at(-1);
    return last ? `: ${last.replace(/^\[\d+\] \S+ \S+ /, "")}` : "";
  }
}
