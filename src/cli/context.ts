/**
 * State shared by the commands of one `natsmesh` run.
 *
 * @module
 */
import type { ExitCode } from "./exit-codes.js";
import type { CliIo } from "./io.js";

/** What a command gets: its streams and environment, and where to leave its exit code. */
export interface CliContext {
  readonly io: CliIo;
  /** Set by the command that ran; {@link EXIT_CODES.ok} until then. */
  exitCode: ExitCode;
}
