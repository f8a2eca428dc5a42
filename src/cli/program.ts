/**
 * The `natsmesh` command line program: `request`, `dev`, `gateway`, `services`, `canary`, `fault`,
 * `tap`, `dashboard`, `top` and `requests`.
 *
 * @module
 */
import { Command, CommanderError } from "commander";
import { packageVersion } from "../version.js";
import { addCanaryCommand } from "./canary.js";
import { CLI_NAME, reportError } from "./cli-error.js";
import type { CliContext } from "./context.js";
import { addDashboardCommand } from "./dashboard.js";
import { addDevCommand } from "./dev.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";
import { addFaultCommand } from "./fault.js";
import { addGatewayCommand } from "./gateway.js";
import { type CliIo, processIo } from "./io.js";
import { addRequestCommand } from "./request.js";
import { addRequestsCommand } from "./requests.js";
import { addServicesCommand } from "./services.js";
import { addTapCommand } from "./tap.js";
import { addTopCommand } from "./top.js";

/**
 * Builds the `natsmesh` program with its subcommands. It never exits the process: usage errors
 * and help throw a `CommanderError` (see {@link runCli}).
 *
 * @param context - streams, environment and exit code of the run
 * @returns the commander program
 * @example
 * ```ts
 * const context = { io: processIo(), exitCode: EXIT_CODES.ok };
 * await createProgram(context).parseAsync(["request", "http://weather.nats/"], { from: "user" });
 * ```
 */
export function createProgram(context: CliContext): Command {
  const { io } = context;
  const program = new Command(CLI_NAME)
    .description("HTTP microservices over NATS")
    .version(packageVersion(), "-V, --version")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: (text, write) => write(`${CLI_NAME}: ${text.replace(/^error: /, "")}`),
    });
  addRequestCommand(program, context);
  addDevCommand(program, context);
  addGatewayCommand(program, context);
  addServicesCommand(program, context);
  addCanaryCommand(program, context);
  addFaultCommand(program, context);
  addTapCommand(program, context);
  addDashboardCommand(program, context);
  addTopCommand(program, context);
  addRequestsCommand(program, context);
  return program;
}

/**
 * Runs `natsmesh` with node-style arguments and reports errors on stderr (one line for expected
 * ones, see {@link reportError}).
 *
 * @param argv - `process.argv`: node, the script, then the arguments
 * @param io - streams and environment (default: this process's)
 * @returns the exit code: 0 ok, 1 HTTP status ≥ 400, 2 failure or usage error
 * @example
 * ```ts
 * process.exitCode = await runCli(process.argv);
 * ```
 */
export async function runCli(argv: readonly string[], io: CliIo = processIo()): Promise<ExitCode> {
  const context: CliContext = { io, exitCode: EXIT_CODES.ok };
  try {
    await createProgram(context).parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.failure;
    return reportError(err, io);
  }
  return context.exitCode;
}
