/**
 * Checks the request line of a public request before it is routed or sent over NATS.
 *
 * @module
 */
import { BadRequestError } from "../errors.js";

/** Printable ASCII without space, `#` and `%`; `%` must start a `%XX` escape. */
const TARGET_RE = /^\/(?:[!"$&-~]|%[0-9A-Fa-f]{2})*$/;
const ESCAPES_RE = /%(?![0-9A-Fa-f]{2})/;
/** A `.` or `..` path segment, also percent-encoded. */
const DOT_SEGMENT_RE = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i;
/** HTTP method: an RFC 9110 token without `.` (the method is a subject token). */
const METHOD_RE = /^[!#$%&'*+^_`|~0-9A-Za-z-]+$/;

/**
 * Checks the method and the request target: an origin-form path (`/a/b?q=1`) of printable ASCII,
 * with valid `%XX` escapes and no `.`/`..` segments (routing on a path the service would resolve
 * differently is how prefix rules get bypassed).
 *
 * @param method - the request method
 * @param target - the request target (`req.url`)
 * @returns the target, unchanged
 * @throws {@link BadRequestError} saying what is wrong
 * @example
 * ```ts
 * checkRequestLine("GET", "/weather/city?q=z%C3%BCrich"); // "/weather/city?q=z%C3%BCrich"
 * checkRequestLine("GET", "/a/../b");                     // throws: dot segments
 * ```
 */
export function checkRequestLine(method: string | undefined, target: string | undefined): string {
  if (!method || !METHOD_RE.test(method)) throw new BadRequestError("invalid request method");
  if (target?.charCodeAt(0) !== 47)
    throw new BadRequestError("request target must be a path starting with '/'");
  if (!TARGET_RE.test(target)) {
    throw new BadRequestError(
      ESCAPES_RE.test(target)
        ? "bad percent-encoding in the request target"
        : "request target must be printable ASCII without spaces or '#'",
    );
  }
  const q = target.indexOf("?");
  if (DOT_SEGMENT_RE.test(q < 0 ? target : target.slice(0, q)))
    throw new BadRequestError("request path must not contain '.' or '..' segments");
  return target;
}
