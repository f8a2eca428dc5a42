/**
 * Selects and loads a natscli context (`~/.config/nats/context/<name>.json`).
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { displayPath, expandPath, natsConfigDir } from "./config-paths.js";
import { ENV_VARS, type Env } from "./defaults.js";
import { ConfigError } from "./errors.js";
import { nonEmpty, SETTING_ORIGIN, type SettingKey, type SettingsLayer, splitServers } from "./settings.js";

/**
 * How a context was selected.
 *
 * @example
 * ```ts
 * if (selection.selectedBy === CONTEXT_SELECTED_BY.file) console.log("using the natscli selected context");
 * ```
 */
export const CONTEXT_SELECTED_BY = {
  /** The `context` option. */
  option: "option",
  /** The `NATS_CONTEXT` environment variable. */
  env: "env",
  /** The natscli selected context in `<config>/nats/context.txt`. */
  file: "context.txt",
} as const;

/** A selected natscli context. */
export interface ContextSelection {
  /** Context name (file name without `.json`). */
  name: string;
  /** Absolute path of the context JSON file. */
  path: string;
  selectedBy: (typeof CONTEXT_SELECTED_BY)[keyof typeof CONTEXT_SELECTED_BY];
}

/** natscli context JSON fields supported, mapped to {@link Settings} keys. */
const CONTEXT_FIELDS = {
  user: "user",
  password: "pass",
  token: "token",
  creds: "creds",
  nkey: "nkey",
  cert: "cert",
  key: "key",
  ca: "ca",
  inbox_prefix: "inboxPrefix",
} as const satisfies Record<string, SettingKey>;

function errnoCode(err: unknown): string {
  return (
    (err as NodeJS.ErrnoException | undefined)?.code ?? (err instanceof Error ? err.message : String(err))
  );
}

function variableFor(selection: Pick<ContextSelection, "selectedBy">): string {
  return selection.selectedBy === CONTEXT_SELECTED_BY.option ? "context" : ENV_VARS.context;
}

function isPathLike(value: string): boolean {
  return value.endsWith(".json") || value.includes("/") || value.includes("\\");
}

function fromValue(value: string, selectedBy: ContextSelection["selectedBy"], env: Env): ContextSelection {
  if (isPathLike(value)) {
    const path = expandPath(value, env);
    return { name: basename(path, ".json"), path, selectedBy };
  }
  const dir = natsConfigDir(env);
  if (!dir) {
    throw new ConfigError(
      variableFor({ selectedBy }),
      `cannot locate context '${value}': neither ${ENV_VARS.xdgConfigHome} nor ${ENV_VARS.home} is set`,
    );
  }
  return { name: value, path: join(dir, "context", `${value}.json`), selectedBy };
}

/**
 * Selects the natscli context like natscli does: the `context` option, else `NATS_CONTEXT`,
 * else the selected context in `$XDG_CONFIG_HOME/nats/context.txt` (default `~/.config/nats`)
 * when that file exists. A value ending in `.json` or containing a slash is a file path.
 *
 * @param option - the `context` option, if any
 * @param env - the environment to read
 * @returns the selection, or `undefined` when no context applies
 * @throws {@link ConfigError} naming `NATS_CONTEXT` (or `context`) when context.txt is unreadable
 * or the config directory cannot be located
 * @example
 * ```ts
 * await selectContext(undefined, { NATS_CONTEXT: "prod", HOME: "/home/me" });
 * // { name: "prod", path: "/home/me/.config/nats/context/prod.json", selectedBy: "env" }
 * ```
 */
export async function selectContext(
  option: string | undefined,
  env: Env,
): Promise<ContextSelection | undefined> {
  const fromOption = nonEmpty(option?.trim());
  if (fromOption) return fromValue(fromOption, CONTEXT_SELECTED_BY.option, env);
  const fromEnv = nonEmpty(env[ENV_VARS.context]?.trim());
  if (fromEnv) return fromValue(fromEnv, CONTEXT_SELECTED_BY.env, env);
  const dir = natsConfigDir(env);
  if (!dir) return undefined;
  const file = join(dir, "context.txt");
  let selected: string | undefined;
  try {
    selected = nonEmpty((await readFile(file, "utf8")).trim());
  } catch (err) {
    const code = errnoCode(err);
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw new ConfigError(ENV_VARS.context, `cannot read ${displayPath(file, env)} (${code})`, {
      cause: err,
    });
  }
  return selected ? fromValue(selected, CONTEXT_SELECTED_BY.file, env) : undefined;
}

/**
 * Reads a natscli context file into a settings layer. Supported fields: `url` (comma list),
 * `user`, `password`, `token`, `creds`, `nkey`, `cert`, `key`, `ca`, `inbox_prefix`;
 * empty fields count as unset, other fields are ignored.
 *
 * @param selection - the context to load, from {@link selectContext}
 * @param env - the environment (for `~` display)
 * @returns the context layer
 * @throws {@link ConfigError} naming `NATS_CONTEXT` (or `context`) when the file is missing,
 * unreadable or not a JSON object
 * @example
 * ```ts
 * const layer = await loadContext(selection, process.env);
 * layer.values.servers; // ["nats://demo.nats.io:4222"]
 * ```
 */
export async function loadContext(selection: ContextSelection, env: Env): Promise<SettingsLayer> {
  const variable = variableFor(selection);
  const where = displayPath(selection.path, env);
  const viaFile =
    selection.selectedBy === CONTEXT_SELECTED_BY.file ? " (selected in natscli context.txt)" : "";
  let text: string;
  try {
    text = await readFile(selection.path, "utf8");
  } catch (err) {
    const code = errnoCode(err);
    const problem =
      code === "ENOENT"
        ? `context '${selection.name}'${viaFile} not found in ${where}`
        : `cannot read context '${selection.name}' file ${where} (${code})`;
    throw new ConfigError(variable, problem, { cause: err });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(variable, `context file ${where} is not valid JSON (${(err as Error).message})`, {
      cause: err,
    });
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new ConfigError(variable, `context file ${where} is not a JSON object`);
  }
  const record = data as Record<string, unknown>;
  const str = (field: string) => nonEmpty(record[field]);
  const layer: SettingsLayer = {
    origin: SETTING_ORIGIN.context,
    values: { servers: splitServers(str("url")) },
    subject: (key) => {
      const field =
        key === "servers" ? "url" : Object.entries(CONTEXT_FIELDS).find(([, k]) => k === key)?.[0];
      return { variable, detail: `context '${selection.name}' field '${field ?? key}'` };
    },
  };
  for (const [field, key] of Object.entries(CONTEXT_FIELDS)) {
    layer.values[key] = str(field);
  }
  return layer;
}
