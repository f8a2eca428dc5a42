/**
 * Validation of the mesh subject prefix.
 *
 * @module
 */
import { type SettingSubject, settingError } from "./settings.js";

/**
 * A valid prefix: dot-separated tokens of letters, digits, `_` and `-` (no wildcards, no spaces).
 *
 * @example
 * ```ts
 * PREFIX_PATTERN.test("mesh.prod"); // true
 * ```
 */
export const PREFIX_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/**
 * Checks that a prefix is a safe NATS subject token sequence.
 *
 * @param value - the prefix
 * @param subject - the setting (e.g. `NATS_PREFIX`)
 * @returns the prefix unchanged
 * @throws {@link ConfigError} naming the setting when the prefix is invalid
 * @example
 * ```ts
 * validatePrefix("mesh.dev", { variable: "NATS_PREFIX" }); // "mesh.dev"
 * ```
 */
export function validatePrefix(value: string, subject: SettingSubject): string {
  if (!PREFIX_PATTERN.test(value)) {
    throw settingError(
      subject,
      `invalid prefix '${value}' (expected dot-separated tokens of letters, digits, '_' or '-', e.g. 'mesh.prod')`,
    );
  }
  return value;
}
