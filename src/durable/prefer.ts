/**
 * The HTTP side of submitting durably (PROTOCOL.md §13.2): the `Prefer: respond-async` preference
 * (RFC 7240) and the path of status resources. Pure.
 *
 * @module
 */
import { ID_PATTERN } from "./names.js";

/** The path segment of status resources: `<base>/$requests/<id>`. */
export const STATUS_SEGMENT = "$requests";

/**
 * Whether a `Prefer` header asks for `respond-async` (RFC 7240: comma-separated preferences, each
 * a token with an optional value and parameters; names are case-insensitive).
 *
 * @param prefer - the header's value or values
 * @example
 * ```ts
 * prefersAsync("respond-async, wait=10"); // true
 * ```
 */
export function prefersAsync(prefer: string | readonly string[] | undefined): boolean {
  if (prefer === undefined) return false;
  const values = typeof prefer === "string" ? [prefer] : prefer;
  for (const value of values)
    for (const pref of value.split(","))
      if (pref.split(";")[0]!.split("=")[0]!.trim().toLowerCase() === "respond-async") return true;
  return false;
}

/**
 * The request id a path names when it is `<base>/$requests/<id>` (query not allowed), else undefined.
 *
 * @param base - the path status resources live under (`""`, `/orders`, `/api/orders`)
 * @param path - the request's path
 */
export function statusIdOf(base: string, path: string): string | undefined {
  const start = `${base}/${STATUS_SEGMENT}/`;
  if (!path.startsWith(start)) return undefined;
  const id = path.slice(start.length);
  return ID_PATTERN.test(id) ? id : undefined;
}
