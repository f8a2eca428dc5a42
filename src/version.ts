/**
 * The version of the installed natsmesh package.
 *
 * @module
 */
import { readFileSync } from "node:fs";

/**
 * Reads the `version` of natsmesh's package.json (one level above this module, in `src/` and in
 * `dist/` alike).
 *
 * @returns the version, or `"unknown"` when package.json cannot be read
 * @example
 * ```ts
 * program.version(packageVersion());
 * ```
 */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return pkg.version ?? "unknown";
  } catch {
    return "unknown";
  }
}
