/**
 * Byte sizes written as numbers or as strings such as `64kb` and `1mb`.
 *
 * @module
 */

/** Multipliers of the size units (binary: 1 kb = 1024 bytes). */
const UNITS = { b: 1, kb: 1024, k: 1024, mb: 1024 ** 2, m: 1024 ** 2, gb: 1024 ** 3, g: 1024 ** 3 } as const;
type Unit = keyof typeof UNITS;

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/;

/**
 * Parses a size: a whole number of bytes, or a string with a unit `b`, `kb`/`k`, `mb`/`m`, `gb`/`g`
 * (case-insensitive, binary multiples).
 *
 * @param value - `65536`, `"64kb"`, `"1.5mb"`
 * @returns the number of bytes (whole), or `undefined` when `value` is not a size
 * @example
 * ```ts
 * parseSize("64kb"); // 65536
 * parseSize(1024);   // 1024
 * parseSize("lots"); // undefined
 * ```
 */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== "string") return undefined;
  const m = SIZE_RE.exec(value.trim().toLowerCase());
  if (!m) return undefined;
  const unit = (m[2] || "b") as Unit;
  if (!Object.hasOwn(UNITS, unit)) return undefined;
  const bytes = Math.floor(Number(m[1]) * UNITS[unit]);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
