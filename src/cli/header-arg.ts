/**
 * Parses `-H 'Name: value'` arguments.
 *
 * @module
 */
import { CliError } from "./cli-error.js";

/** An HTTP field name (RFC 9110 token). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Characters no header value may contain. */
const FORBIDDEN_IN_VALUE = /[\r\n\0]/;

/**
 * Parses one `-H` argument, `Name: value` (the value may be empty, surrounding spaces are dropped).
 *
 * @param text - the argument
 * @returns the name and the value
 * @throws {@link CliError} `bad header 'foo' (expected 'Name: value')` for anything else
 * @example
 * ```ts
 * parseHeader("Accept: application/json"); // ["Accept", "application/json"]
 * ```
 */
export function parseHeader(text: string): [name: string, value: string] {
  const colon = text.indexOf(":");
  const name = text.slice(0, Math.max(colon, 0));
  const value = text.slice(colon + 1).trim();
  if (colon < 0 || !TOKEN.test(name) || FORBIDDEN_IN_VALUE.test(value)) {
    throw new CliError(`bad header '${text}' (expected 'Name: value')`);
  }
  return [name, value];
}
