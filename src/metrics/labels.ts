/**
 * Bounded label values: the HTTP method label of natsmesh metrics.
 *
 * @module
 */

/** Method label values: the standard methods (upper-case) and `OTHER` for every other method. */
export const METHOD_LABELS = [
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "CONNECT",
  "OPTIONS",
  "TRACE",
  "PATCH",
  "OTHER",
] as const;
/** One of {@link METHOD_LABELS}. */
export type MethodLabel = (typeof METHOD_LABELS)[number];

/** Index of `OTHER` in {@link METHOD_LABELS}. */
export const OTHER_METHOD = METHOD_LABELS.length - 1;

function upperIndex(method: string): number {
  const i = (METHOD_LABELS as readonly string[]).indexOf(method.toUpperCase());
  return i < 0 ? OTHER_METHOD : i;
}

/**
 * The index in {@link METHOD_LABELS} of a request method, without allocating for upper-case
 * standard methods. Standard methods in another case count as the standard method; anything else
 * is `OTHER`, so the label never takes more than ten values.
 *
 * @param method - the request method as sent (`GET`, `patch`, `PROPFIND`)
 * @returns an index into {@link METHOD_LABELS}
 * @example
 * ```ts
 * METHOD_LABELS[methodIndex("PROPFIND")]; // "OTHER"
 * ```
 */
export function methodIndex(method: string): number {
  switch (method) {
    case "GET":
      return 0;
    case "HEAD":
      return 1;
    case "POST":
      return 2;
    case "PUT":
      return 3;
    case "DELETE":
      return 4;
    case "CONNECT":
      return 5;
    case "OPTIONS":
      return 6;
    case "TRACE":
      return 7;
    case "PATCH":
      return 8;
    default:
      return method.length <= 7 ? upperIndex(method) : OTHER_METHOD;
  }
}
