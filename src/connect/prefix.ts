/**
 * Validation of the mesh subject prefix.
 *
 * @module
 */
import { PREFIX_PATTERN } from "../protocol/index.js";
import { type SettingSubject, settingError } from "./settings.js";

export { PREFIX_PATTERN };

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
