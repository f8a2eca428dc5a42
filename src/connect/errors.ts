/**
 * Error classes raised by the connect module.
 *
 * @module
 */

import { brandError, ErrorCode, MeshError } from "../protocol/index.js";

/**
 * Stable machine-readable codes carried by the errors of this module (a subset of {@link ErrorCode}).
 *
 * @example
 * ```ts
 * if (err.code === ERROR_CODES.config) process.exitCode = 2;
 * ```
 */
export const ERROR_CODES = {
  config: ErrorCode.Config,
  connect: ErrorCode.Connect,
} as const;

/**
 * Raised when the connection settings (options, `NATS_*` environment variables or a natscli
 * context) are invalid: a malformed URL, an unreadable credentials file, an unknown context...
 * `status` is 500: a misconfigured process cannot serve.
 *
 * The message always starts with the offending variable, e.g.
 * `NATS_CREDS: cannot read credentials file /x/y.creds (ENOENT)`.
 *
 * @example
 * ```ts
 * throw new ConfigError("NATS_PREFIX", "invalid prefix 'a b'");
 * ```
 */
export class ConfigError extends MeshError {
  static {
    brandError(ConfigError, "ConfigError");
  }

  /** The environment variable (`NATS_CREDS`) or option name (`creds`) that is wrong. */
  readonly variable: string;

  /**
   * @param variable - the environment variable or option name at fault
   * @param problem - what is wrong, without the variable name
   * @param options - optional underlying cause
   * @example
   * ```ts
   * new ConfigError("NATS_URL", "malformed URL 'nats://:::'", { cause: err });
   * ```
   */
  constructor(variable: string, problem: string, options?: { cause?: unknown }) {
    super(ErrorCode.Config, 500, `${variable}: ${problem}`, { cause: options?.cause });
    this.variable = variable;
  }
}

/**
 * Raised when the initial connection to the NATS servers fails (refused, timed out,
 * authorization violation...). Maps to HTTP 503 (`status`).
 *
 * @example
 * ```ts
 * try { await connect(); } catch (err) { if (err instanceof ConnectError) console.error(err.message); }
 * ```
 */
export class ConnectError extends MeshError {
  static {
    brandError(ConnectError, "ConnectError");
  }

  /** The servers that were tried, without credentials. */
  readonly servers: readonly string[];

  /**
   * @param servers - the server URLs that were tried (credentials stripped)
   * @param cause - the underlying error
   * @example
   * ```ts
   * new ConnectError(["nats://127.0.0.1:4223"], new Error("connection refused"));
   * ```
   */
  constructor(servers: readonly string[], cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(ErrorCode.Connect, 503, `cannot connect to NATS at ${servers.join(",")}: ${reason}`, { cause });
    this.servers = [...servers];
  }
}
