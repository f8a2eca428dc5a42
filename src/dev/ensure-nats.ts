/**
 * Uses the NATS server at hand, or starts a local one when none answers.
 *
 * @module
 */
import { ConfigError, ENV_VARS } from "../connect/index.js";
import { type LocalServer, type LocalServerOptions, startLocalServer } from "./local-server.js";
import { acceptsTcp } from "./tcp-probe.js";

/**
 * Defaults of {@link ensureNats}.
 *
 * @example
 * ```ts
 * await ensureNats({ probeTimeout: ENSURE_NATS_DEFAULTS.probeTimeout * 2 });
 * ```
 */
export const ENSURE_NATS_DEFAULTS = {
  url: "nats://127.0.0.1:4222",
  port: 4222,
  /** Milliseconds to wait for a TCP connection to the existing server. */
  probeTimeout: 500,
} as const;

/**
 * Options of {@link ensureNats}; the {@link LocalServerOptions} apply when a server is started.
 *
 * @example
 * ```ts
 * await using nats = await ensureNats({ url: "nats://127.0.0.1:4222", probeTimeout: 500, readyTimeout: 10_000 });
 * ```
 */
export interface EnsureNatsOptions extends LocalServerOptions {
  /** Server URL(s), comma-separated (default `NATS_URL`, else `nats://127.0.0.1:4222`). */
  url?: string;
  /** Milliseconds to wait for the existing server to accept a TCP connection (default 500). */
  probeTimeout?: number;
}

/**
 * The NATS server to use, from {@link ensureNats}.
 *
 * @example
 * ```ts
 * await using nats = await ensureNats();
 * console.log(nats.url, nats.started ? `started, pid ${nats.server?.pid}` : "already running");
 * ```
 */
export interface EnsuredNats extends AsyncDisposable {
  /** URL to connect to: the one given when it answered, else the started server's. */
  readonly url: string;
  /** Whether a local server was started. */
  readonly started: boolean;
  /** The started server, if any. */
  readonly server: LocalServer | undefined;
  /** Stops the started server; does nothing when none was started. */
  stop(): Promise<void>;
  /** `stop()`, for `await using nats = await ensureNats()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

function hostPort(server: string, variable: string): { host: string; port: number } {
  const text = server.includes("://") ? server : `nats://${server}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch (err) {
    throw new ConfigError(variable, `malformed URL '${server}'`, { cause: err });
  }
  return { host: url.hostname, port: Number(url.port) || ENSURE_NATS_DEFAULTS.port };
}

/**
 * Returns a NATS server to use: when the URL (default `NATS_URL`, else `nats://127.0.0.1:4222`)
 * accepts a TCP connection within `probeTimeout` it is used as is; otherwise a local nats-server is
 * started with {@link startLocalServer}. Only TCP is probed: authentication is not checked.
 *
 * @param options - the URL, the environment, and options for a server to start
 * @returns the URL, whether a server was started, and `stop()`
 * @throws `ConfigError` (from `natsmesh`) for a malformed URL
 * @throws {@link NatsServerNotFoundError} when a server must be started and the binary is missing
 * @example
 * ```ts
 * await using nats = await ensureNats();
 * const svc = await serve(app, { service: "weather", connection: { servers: nats.url } });
 * ```
 */
export async function ensureNats(options: EnsureNatsOptions = {}): Promise<EnsuredNats> {
  const { url: given, probeTimeout = ENSURE_NATS_DEFAULTS.probeTimeout, ...start } = options;
  const env = options.env ?? process.env;
  const variable = given === undefined ? ENV_VARS.url : "url";
  const url = given ?? env[ENV_VARS.url] ?? ENSURE_NATS_DEFAULTS.url;
  const servers = url
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => hostPort(s, variable));
  const answers = await Promise.all(servers.map((s) => acceptsTcp(s.host, s.port, probeTimeout)));
  if (answers.some(Boolean)) {
    const stop = async () => {};
    return { url, started: false, server: undefined, stop, [Symbol.asyncDispose]: stop };
  }
  const server = await startLocalServer(start);
  const stop = () => server.stop();
  return { url: server.url, started: true, server, stop, [Symbol.asyncDispose]: stop };
}
