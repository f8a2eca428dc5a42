/**
 * Loading a gateway's configuration: reading the file (or taking the object), resolving it with the
 * options' overrides, and reading the TLS files it names.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { GatewayConfigError } from "../errors.js";
import { readConfigFile } from "./config-file.js";
import type { GatewayConfig, RouteConfig, TlsConfig } from "./config-types.js";
import { type HostPort, parseHostPort } from "./host-port.js";
import { type ResolvedConfig, type ResolveOptions, resolveConfig, resolveRoute } from "./resolve-config.js";

/** Where the configuration comes from: an object or a file, not both (the gateway's options). */
export interface ConfigChoice {
  /** The configuration as an object (same schema as the file). */
  config?: GatewayConfig;
  /** A YAML or JSON configuration file. */
  configFile?: string;
}

/** What the gateway's options override in the configuration. */
export interface ConfigOverrides {
  /** Public listen address `HOST:PORT`. */
  listen?: string;
  /** Admin listen address `HOST:PORT`. */
  admin?: string;
  /** TLS files, relative to the working directory. */
  tls?: TlsConfig;
  /** Routes added after the configuration's. */
  routes?: RouteConfig[];
  /** `limits.drainDelay` in milliseconds. */
  drainDelay?: number;
}

/**
 * A configuration as read, before it is resolved: the parsed file (or the `config` object), the name
 * it has in errors and the directory its relative paths start from. Worker processes are handed this,
 * not the file name, so a worker started later serves what the others serve even if the file changed.
 */
export interface ConfigSource {
  /** The parsed file or the `config` object (`undefined` for none). */
  raw: unknown;
  /** Its name in errors: the file path, or `config`. */
  source: string;
  /** Directory relative paths (TLS files, JWKS files) start from. */
  baseDir: string;
}

/**
 * Reads the configuration file, if one is given (syntax only).
 *
 * @param options - `config` or `configFile`
 * @returns what to resolve
 * @throws {@link GatewayConfigError} when both are given, or the file cannot be read or parsed
 * @example
 * ```ts
 * const from = readConfigSource({ configFile: "gateway.yaml" });
 * ```
 */
export function readConfigSource(options: ConfigChoice): ConfigSource {
  if (options.config !== undefined && options.configFile !== undefined)
    throw new GatewayConfigError("options", "give either 'config' or 'configFile', not both");
  const file = options.configFile;
  return file !== undefined
    ? { raw: readConfigFile(file), source: file, baseDir: dirname(resolve(file)) }
    : { raw: options.config, source: "config", baseDir: process.cwd() };
}

/**
 * Resolves a configuration with the options' overrides (routes, addresses, TLS files) applied.
 *
 * @param options - the overrides (the gateway's options)
 * @param from - the configuration as read
 * @param policies - the auth hook and its error reporter
 * @returns the resolved configuration
 * @throws {@link GatewayConfigError}, `PolicyConfigError` as `createGateway`
 * @example
 * ```ts
 * const config = loadConfig({ listen: "127.0.0.1:0" }, readConfigSource({}), {});
 * ```
 */
export function loadConfig(
  options: ConfigOverrides,
  from: ConfigSource,
  policies: ResolveOptions["policies"],
): ResolvedConfig {
  const cwd = process.cwd();
  const config = resolveConfig(from.raw, { source: from.source, baseDir: from.baseDir, policies });
  const extra = { source: "options", baseDir: cwd, policies };
  (options.routes ?? []).forEach((route, i) => {
    const resolved = resolveRoute(route, `options: routes[${i}]`, config.defaults, extra);
    if (config.routes.some((r) => r.name === resolved.name))
      throw new GatewayConfigError(
        `options: routes[${i}]`,
        `name '${resolved.name}' is already used by another route`,
      );
    config.routes.push(resolved);
  });
  const address = (field: "listen" | "admin", value: string): HostPort => {
    const parsed = parseHostPort(value);
    if (!parsed)
      throw new GatewayConfigError(
        "options",
        `${field} must be HOST:PORT, e.g. 127.0.0.1:8080 (got '${value}')`,
      );
    return parsed;
  };
  if (options.listen !== undefined) config.listen = address("listen", options.listen);
  if (options.admin !== undefined) config.admin = address("admin", options.admin);
  if (options.drainDelay !== undefined) {
    if (!Number.isInteger(options.drainDelay) || options.drainDelay < 0)
      throw new GatewayConfigError(
        "options",
        `drainDelay must be an integer of milliseconds, 0 or more (got ${options.drainDelay})`,
      );
    config.limits.drainDelay = options.drainDelay;
  }
  if (options.tls !== undefined) {
    if (!options.tls.cert || !options.tls.key)
      throw new GatewayConfigError("options", "tls needs both 'cert' and 'key'");
    config.tls = { cert: resolve(cwd, options.tls.cert), key: resolve(cwd, options.tls.key) };
  }
  return config;
}

/**
 * Reads the TLS certificate and key files.
 *
 * @param tls - absolute paths
 * @returns their bytes
 * @throws {@link GatewayConfigError} `tls.cert: cannot read /x.pem (ENOENT)` when one cannot be read
 * @example
 * ```ts
 * const { cert, key } = await readTls({ cert: "/etc/gw/cert.pem", key: "/etc/gw/key.pem" });
 * ```
 */
export async function readTls(tls: { cert: string; key: string }): Promise<{ cert: Buffer; key: Buffer }> {
  const read = async (field: string, path: string) => {
    try {
      return await readFile(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new GatewayConfigError(`tls.${field}`, `cannot read ${path} (${code})`, { cause: err });
    }
  };
  return { cert: await read("cert", tls.cert), key: await read("key", tls.key) };
}
