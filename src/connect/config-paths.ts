/**
 * Path helpers for natscli configuration: config directory, `~` expansion and display.
 *
 * @module
 */
import { join, resolve, sep } from "node:path";
import { ENV_VARS, type Env } from "./defaults.js";

/**
 * Returns the natscli configuration directory: `$XDG_CONFIG_HOME/nats`, else `$HOME/.config/nats`
 * (like Go's `os.UserConfigDir`, only the given environment is consulted).
 *
 * @param env - the environment to read
 * @returns the directory, or `undefined` when neither `XDG_CONFIG_HOME` nor `HOME` is set
 * @example
 * ```ts
 * natsConfigDir({ HOME: "/home/me" }); // "/home/me/.config/nats"
 * ```
 */
export function natsConfigDir(env: Env): string | undefined {
  const xdg = env[ENV_VARS.xdgConfigHome];
  if (xdg) return join(xdg, "nats");
  const home = env[ENV_VARS.home];
  return home ? join(home, ".config", "nats") : undefined;
}

/**
 * Expands a leading `~` to `$HOME` and makes the path absolute.
 *
 * @param path - a file path, possibly starting with `~/`
 * @param env - the environment providing `HOME`
 * @returns the absolute path
 * @example
 * ```ts
 * expandPath("~/nats/user.creds", { HOME: "/home/me" }); // "/home/me/nats/user.creds"
 * ```
 */
export function expandPath(path: string, env: Env): string {
  const home = env[ENV_VARS.home];
  if (home && (path === "~" || path.startsWith("~/"))) return join(home, path.slice(1));
  return resolve(path);
}

/**
 * Abbreviates a path under `$HOME` with `~` for messages.
 *
 * @param path - an absolute path
 * @param env - the environment providing `HOME`
 * @returns the display form of the path
 * @example
 * ```ts
 * displayPath("/home/me/.config/nats/context/a.json", { HOME: "/home/me" }); // "~/.config/nats/context/a.json"
 * ```
 */
export function displayPath(path: string, env: Env): string {
  const home = env[ENV_VARS.home];
  if (home && home !== sep && path.startsWith(home + sep)) return `~${path.slice(home.length)}`;
  return path;
}
