/**
 * Default values and environment variable names used to resolve connection settings.
 *
 * @module
 */

/**
 * Defaults applied by {@link resolveOptions} unless overridden.
 *
 * @example
 * ```ts
 * CONNECT_DEFAULTS.prefix; // "mesh"
 * ```
 */
export const CONNECT_DEFAULTS = {
  servers: "127.0.0.1:4222",
  prefix: "mesh",
  name: "natsmesh",
  /** Reconnect forever once connected. */
  maxReconnectAttempts: -1,
  reconnectJitter: 100,
  reconnectJitterTLS: 1000,
  /** Skips capturing async stack traces on every request: a large speedup. */
  noAsyncTraces: true,
} as const;

/**
 * Environment variables read by {@link resolveOptions} (same names as natscli / nats.go).
 *
 * @example
 * ```ts
 * process.env[ENV_VARS.url] = "nats://127.0.0.1:4223";
 * ```
 */
export const ENV_VARS = {
  url: "NATS_URL",
  user: "NATS_USER",
  password: "NATS_PASSWORD",
  token: "NATS_TOKEN",
  creds: "NATS_CREDS",
  nkey: "NATS_NKEY",
  cert: "NATS_CERT",
  key: "NATS_KEY",
  ca: "NATS_CA",
  prefix: "NATS_PREFIX",
  context: "NATS_CONTEXT",
  xdgConfigHome: "XDG_CONFIG_HOME",
  home: "HOME",
} as const;

/** An environment, such as `process.env`. */
export type Env = Readonly<Record<string, string | undefined>>;
