/**
 * The layered settings model: each source (option, env, context) yields a layer, and the
 * highest-priority layer that defines a setting wins.
 *
 * @module
 */
import { ConfigError } from "./errors.js";

/**
 * Where a resolved setting came from.
 *
 * @example
 * ```ts
 * if (source.settings.servers === SETTING_ORIGIN.default) console.warn("using 127.0.0.1:4222");
 * ```
 */
export const SETTING_ORIGIN = {
  option: "option",
  env: "env",
  context: "context",
  /** user/password or token embedded in a server URL. */
  url: "url",
  default: "default",
} as const;

/** One of the {@link SETTING_ORIGIN} values. */
export type SettingOrigin = (typeof SETTING_ORIGIN)[keyof typeof SETTING_ORIGIN];

/** The connection settings a single source may define. File settings are paths. */
export interface Settings {
  servers?: string[];
  user?: string;
  pass?: string;
  token?: string;
  creds?: string;
  nkey?: string;
  cert?: string;
  key?: string;
  ca?: string;
  inboxPrefix?: string;
  prefix?: string;
}

/** A key of {@link Settings}. */
export type SettingKey = keyof Settings;

/** How to name a setting in a {@link ConfigError}. */
export interface SettingSubject {
  /** Environment variable or option name, e.g. `NATS_CREDS` or `creds`. */
  variable: string;
  /** Extra location detail, e.g. `context 'prod' field 'creds'`. */
  detail?: string;
}

/** The settings defined by one source. */
export interface SettingsLayer {
  origin: SettingOrigin;
  values: Settings;
  subject(key: SettingKey): SettingSubject;
}

/** A setting value together with where it came from. */
export interface PickedSetting<T> {
  value: T;
  origin: SettingOrigin;
  subject: SettingSubject;
}

/**
 * Returns the value of `key` from the first layer (highest priority first) that defines it.
 *
 * @param layers - layers ordered from highest to lowest priority
 * @param key - the setting to look up
 * @returns the picked setting, or `undefined` when no layer defines it
 * @example
 * ```ts
 * const creds = pickSetting([optionLayer, envLayer, contextLayer], "creds");
 * ```
 */
export function pickSetting<K extends SettingKey>(
  layers: readonly SettingsLayer[],
  key: K,
): PickedSetting<NonNullable<Settings[K]>> | undefined {
  for (const layer of layers) {
    const value = layer.values[key];
    if (value !== undefined) {
      return { value: value as NonNullable<Settings[K]>, origin: layer.origin, subject: layer.subject(key) };
    }
  }
  return undefined;
}

/**
 * Builds a {@link ConfigError} for a setting, prefixing the problem with the subject detail.
 *
 * @param subject - the variable (and location detail) at fault
 * @param problem - what is wrong
 * @param cause - optional underlying error
 * @returns the error, ready to throw
 * @example
 * ```ts
 * throw settingError({ variable: "NATS_CA" }, "cannot read CA certificate /ca.pem (ENOENT)");
 * ```
 */
export function settingError(subject: SettingSubject, problem: string, cause?: unknown): ConfigError {
  const text = subject.detail ? `${subject.detail}: ${problem}` : problem;
  return new ConfigError(subject.variable, text, { cause });
}

/**
 * Returns `value` unless it is empty or blank (natscli writes unset context fields as `""`).
 * The value is not trimmed: passwords may legitimately contain spaces.
 *
 * @param value - a raw string value
 * @returns the value, or `undefined` when missing, empty or blank
 * @example
 * ```ts
 * nonEmpty("  "); // undefined
 * ```
 */
export function nonEmpty(value: unknown): string | undefined {
  if (typeof value !== "string" || value.trim() === "") return undefined;
  return value;
}

/**
 * Splits a comma-separated server list, dropping blank entries.
 *
 * @param value - a string like `"nats://a:4222, nats://b:4222"` or an array of such strings
 * @returns the list, or `undefined` when it is empty
 * @example
 * ```ts
 * splitServers("a:1,b:2"); // ["a:1", "b:2"]
 * ```
 */
export function splitServers(value: string | readonly string[] | undefined | null): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  const parts = (typeof value === "string" ? [value] : value).flatMap((v) => v.split(","));
  const list = parts.map((s) => s.trim()).filter((s) => s !== "");
  return list.length === 0 ? undefined : list;
}
