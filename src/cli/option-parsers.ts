/**
 * Parsers of numeric command-line options, reporting bad values through commander.
 *
 * @module
 */
import { InvalidArgumentError } from "commander";

/**
 * Parses a duration in milliseconds (an integer ≥ 0; 0 means no deadline).
 *
 * @param text - the option value
 * @returns the number of milliseconds
 * @throws InvalidArgumentError (commander reports it as a usage error)
 * @example
 * ```ts
 * parseMillis("500"); // 500
 * ```
 */
export function parseMillis(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n)) {
    throw new InvalidArgumentError("expected a whole number of milliseconds");
  }
  return n;
}

/**
 * Parses a count: a whole number ≥ 1.
 *
 * @param text - the option value
 * @returns the count
 * @throws InvalidArgumentError (commander reports it as a usage error)
 * @example
 * ```ts
 * parseCount("3"); // 3
 * ```
 */
export function parseCount(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError("expected a whole number ≥ 1");
  }
  return n;
}

/**
 * Parses a TCP port (1 to 65535).
 *
 * @param text - the option value
 * @returns the port
 * @throws InvalidArgumentError (commander reports it as a usage error)
 * @example
 * ```ts
 * parsePort("4223"); // 4223
 * ```
 */
export function parsePort(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < 1 || n > 65_535) {
    throw new InvalidArgumentError("expected a port number from 1 to 65535");
  }
  return n;
}

/**
 * Collects a repeatable option's values.
 *
 * @param value - this occurrence's value
 * @param previous - the values so far (none for the first occurrence)
 * @returns the values, in order
 * @example
 * ```ts
 * command.option("-H, --header <header>", "repeatable", collect);
 * ```
 */
export function collect(value: string, previous: readonly string[] = []): string[] {
  return [...previous, value];
}
