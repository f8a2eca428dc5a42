/**
 * Exit codes of the `natsmesh` command.
 *
 * @module
 */

/**
 * Exit codes of `natsmesh`: 0 success (2xx/3xx), 1 an HTTP error status (≥ 400), 2 no response at
 * all (transport, configuration or usage error).
 *
 * @example
 * ```ts
 * process.exitCode = res.status >= 400 ? EXIT_CODES.httpError : EXIT_CODES.ok;
 * ```
 */
export const EXIT_CODES = {
  ok: 0,
  httpError: 1,
  failure: 2,
} as const;

/** One of {@link EXIT_CODES}. */
export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];
