/**
 * Locates the `nats-server` binary used by {@link startLocalServer}.
 *
 * @module
 */
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join, resolve } from "node:path";
import type { Env } from "../connect/index.js";
import { brandError, ErrorCode, MeshError } from "../protocol/index.js";

/**
 * Where the binary is looked for, in order.
 *
 * @example
 * ```ts
 * process.env[NATS_SERVER_LOOKUP.envVar] = "/opt/nats/nats-server";
 * ```
 */
export const NATS_SERVER_LOOKUP = {
  /** Environment variable naming the binary; when set, nothing else is tried. */
  envVar: "NATS_SERVER_BIN",
  /** Name searched on `PATH`. */
  name: "nats-server",
  /** Last resort, where Debian/Ubuntu install it. */
  fallback: "/usr/sbin/nats-server",
} as const;

/** How to install nats-server, quoted by {@link NatsServerNotFoundError}. */
export const NATS_SERVER_INSTALL_HINT =
  "install it with `apt-get install -y nats-server` (Debian/Ubuntu), `brew install nats-server`, " +
  "or see https://docs.nats.io/running-a-nats-service/introduction/installation";

/**
 * Raised when no executable `nats-server` can be found. Code `NM_ERR_NATS_SERVER_NOT_FOUND`, status 500.
 *
 * @example
 * ```ts
 * try { await startLocalServer(); } catch (err) { if (err instanceof NatsServerNotFoundError) console.error(err.message); }
 * ```
 */
export class NatsServerNotFoundError extends MeshError {
  static {
    brandError(NatsServerNotFoundError, "NatsServerNotFoundError");
  }

  /** The paths that were tried. */
  readonly searched: readonly string[];

  /**
   * @param searched - the paths that were tried
   * @param origin - what named the binary (`NATS_SERVER_BIN`, `bin`), when it was named explicitly
   * @example
   * ```ts
   * new NatsServerNotFoundError(["/nonexistent"], "NATS_SERVER_BIN");
   * ```
   */
  constructor(searched: readonly string[], origin?: string) {
    const looked = origin
      ? `${origin}=${searched.join(", ")} is not an executable file`
      : `looked on PATH and at ${NATS_SERVER_LOOKUP.fallback}`;
    super(
      ErrorCode.NatsServerNotFound,
      500,
      `nats-server not found: ${NATS_SERVER_INSTALL_HINT} (${looked})`,
    );
    this.searched = [...searched];
  }
}

/** Options of {@link findNatsServer}. */
export interface FindNatsServerOptions {
  /** A binary path or a name to search on `PATH`; overrides `NATS_SERVER_BIN`. */
  bin?: string;
  /** Environment providing `NATS_SERVER_BIN` and `PATH` (default `process.env`). */
  env?: Env;
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function candidatesFor(nameOrPath: string, env: Env): string[] {
  if (isAbsolute(nameOrPath) || nameOrPath.includes("/")) return [resolve(nameOrPath)];
  return (env.PATH ?? "")
    .split(delimiter)
    .filter(Boolean)
    .map((dir) => join(dir, nameOrPath));
}

/**
 * Finds the nats-server binary: the `bin` option, else `NATS_SERVER_BIN` (either one is
 * authoritative: a wrong value is an error, not a reason to look elsewhere), else `nats-server` on
 * `PATH`, else `/usr/sbin/nats-server`.
 *
 * @param options - an explicit binary and the environment to read
 * @returns the absolute path of an executable file
 * @throws {@link NatsServerNotFoundError} with installation instructions when none is found
 * @example
 * ```ts
 * findNatsServer({ env: { PATH: "/usr/bin:/usr/sbin" } }); // "/usr/sbin/nats-server"
 * ```
 */
export function findNatsServer(options: FindNatsServerOptions = {}): string {
  const env = options.env ?? process.env;
  const explicit = options.bin ?? env[NATS_SERVER_LOOKUP.envVar];
  if (explicit) {
    const candidates = candidatesFor(explicit, env);
    const found = candidates.find(isExecutableFile);
    if (found) return found;
    const origin = options.bin !== undefined ? "bin" : NATS_SERVER_LOOKUP.envVar;
    throw new NatsServerNotFoundError(candidates.length ? candidates : [explicit], origin);
  }
  const candidates = [...candidatesFor(NATS_SERVER_LOOKUP.name, env), NATS_SERVER_LOOKUP.fallback];
  const found = candidates.find(isExecutableFile);
  if (found) return found;
  throw new NatsServerNotFoundError(candidates);
}
