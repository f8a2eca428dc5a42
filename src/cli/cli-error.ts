/**
 * The error type of expected CLI failures, and how any error is reported.
 *
 * @module
 */
import { brandError, ErrorCode, MeshError } from "../protocol/index.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";
import type { CliIo } from "./io.js";

/**
 * An expected failure of a command (bad input, unreadable file...): reported as one line, without
 * a stack trace. Code `NM_ERR_CLI`, status 400.
 *
 * @example
 * ```ts
 * throw new CliError("bad header 'foo' (expected 'Name: value')");
 * ```
 */
export class CliError extends MeshError {
  static {
    brandError(CliError, "CliError");
  }

  /** Exit code to report. */
  readonly exitCode: ExitCode;

  /**
   * @param message - what went wrong, one line, without the `natsmesh:` prefix
   * @param options - exit code (default {@link EXIT_CODES.failure}) and cause
   * @example
   * ```ts
   * new CliError("cannot read -d @body.json: no such file", { cause: err });
   * ```
   */
  constructor(message: string, options: { exitCode?: ExitCode; cause?: unknown } = {}) {
    super(ErrorCode.Cli, 400, message, { cause: options.cause });
    this.exitCode = options.exitCode ?? EXIT_CODES.failure;
  }
}

/** Name prefixed to every error line. */
export const CLI_NAME = "natsmesh";

/**
 * Writes an error to stderr: one `natsmesh: <message>` line for expected errors (natsmesh's typed
 * errors, {@link CliError}); unexpected errors also get their stack, as they are bugs.
 *
 * @param err - the error
 * @param io - where to write
 * @returns the exit code to use
 * @example
 * ```ts
 * process.exitCode = reportError(new CliError("'x' is not a URL (expected http://service/path)"), processIo());
 * // stderr: natsmesh: 'x' is not a URL (expected http://service/path)
 * ```
 */
export function reportError(err: unknown, io: CliIo): ExitCode {
  if (err instanceof MeshError) {
    io.stderr.write(`${CLI_NAME}: ${err.message}\n`);
    return err instanceof CliError ? err.exitCode : EXIT_CODES.failure;
  }
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  io.stderr.write(`${CLI_NAME}: unexpected error: ${detail}\n`);
  return EXIT_CODES.failure;
}
