/**
 * Entry point of the `natsmesh` executable (`bin/natsmesh`): runs the program on `process.argv`
 * and sets `process.exitCode`, letting pending output flush before the process exits.
 *
 * @module
 */
import { runCli } from "./program.js";

// A reader that went away (`natsmesh request ... | head`) is not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code !== "EPIPE") throw err;
});

process.exitCode = await runCli(process.argv);
