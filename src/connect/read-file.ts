/**
 * Reads a settings-referenced file, turning failures into {@link ConfigError}s.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { expandPath } from "./config-paths.js";
import type { Env } from "./defaults.js";
import { type SettingSubject, settingError } from "./settings.js";

/** A file read by {@link readSettingFile}. */
export interface SettingFile {
  /** Absolute path (after `~` expansion). */
  path: string;
  bytes: Uint8Array;
}

/**
 * Reads a file named by a setting; `~/` is expanded and relative paths resolve against the cwd.
 *
 * @param path - the path as given
 * @param what - what the file is, for messages (e.g. `"credentials file"`)
 * @param subject - the setting naming the file
 * @param env - the environment providing `HOME`
 * @returns the absolute path and the contents
 * @throws {@link ConfigError} like `NATS_CREDS: cannot read credentials file /x/y.creds (ENOENT)`
 * @example
 * ```ts
 * const { bytes } = await readSettingFile("~/a.creds", "credentials file", { variable: "NATS_CREDS" }, env);
 * ```
 */
export async function readSettingFile(
  path: string,
  what: string,
  subject: SettingSubject,
  env: Env,
): Promise<SettingFile> {
  const absolute = expandPath(path, env);
  try {
    return { path: absolute, bytes: await readFile(absolute) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw settingError(subject, `cannot read ${what} ${absolute} (${code})`, err);
  }
}
