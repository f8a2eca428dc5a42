/**
 * `natsmesh fault <service>`: serves a fault subject until SIGTERM or Ctrl-C, answering with a
 * chosen status or delaying and forwarding (see `serveFault`).
 *
 * @module
 */
import { type Command, InvalidArgumentError } from "commander";
import { connect } from "../connect/index.js";
import { serveFault } from "../fault/index.js";
import { MeshError } from "../protocol/index.js";
import { CLI_NAME, CliError } from "./cli-error.js";
import type { CliContext } from "./context.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";
import { type CliIo, writeAll } from "./io.js";
import { parseMillis } from "./option-parsers.js";
import { holdOpenUntil, nextStopSignal } from "./stop-signal.js";

/** Options of `natsmesh fault`, as commander parses them. */
export interface FaultCliOptions {
  /** `--status`: answer every request with this status. */
  status?: number;
  /** `--delay`: milliseconds to wait first. */
  delay?: number;
  /** `--forward`: prefix of the real instances, where delayed requests go. */
  forward?: string;
  /** `--prefix`: prefix of the fault subject (default natsmesh-fault). */
  prefix?: string;
  /** `--timeout`: deadline of a forwarded call in milliseconds. */
  timeout?: number;
  /** `-s, --server`: NATS server URL(s). */
  server?: string;
}

const HELP_AFTER = `
Serves <prefix>.<service>.* (default prefix natsmesh-fault), the subject a canary mapping's --fault
share goes to. With --status every request there is answered with that status (after --delay, if
given); with --delay and --forward it waits, then forwards the request unchanged to
<forward>.<service>.<method> (the real instances' prefix) and relays their answer unchanged.

Examples:
  natsmesh canary weather --split v1=90 --fault 10 --write mesh-mappings.conf && nats-server --signal reload
  natsmesh fault weather --status 503                  # 10% of requests: 503
  natsmesh fault weather --delay 300 --forward v1      # 10% of requests: 300 ms slower`;

function parseStatus(text: string): number {
  const n = Number(text);
  if (!/^\d{3}$/.test(text.trim()) || n < 100 || n > 599)
    throw new InvalidArgumentError("expected an HTTP status from 100 to 599");
  return n;
}

/**
 * Runs a fault responder until SIGTERM or SIGINT, then drains it.
 *
 * @param service - the service whose fault share it answers
 * @param options - the parsed options
 * @param io - streams and environment
 * @param stop - resolves when the responder should stop (default: on SIGINT or SIGTERM)
 * @returns {@link EXIT_CODES.ok} once stopped
 * @throws {@link CliError} for neither `--status` nor `--forward`, or a bad service or prefix;
 *   `ConnectError` when NATS cannot be reached
 * @example
 * ```ts
 * process.exitCode = await runFault("weather", { status: 503 }, processIo());
 * ```
 */
export async function runFault(
  service: string,
  options: FaultCliOptions,
  io: CliIo,
  stop?: Promise<unknown>,
): Promise<ExitCode> {
  const controller = new AbortController();
  const stopped = stop ?? nextStopSignal(controller.signal);
  const mesh = await connect({
    env: io.env,
    ...(options.server !== undefined && { servers: options.server }),
  });
  try {
    let fault: Awaited<ReturnType<typeof serveFault>>;
    try {
      fault = await serveFault({
        nc: mesh.nc,
        service,
        ...(options.prefix !== undefined && { prefix: options.prefix }),
        ...(options.status !== undefined && { status: options.status }),
        ...(options.delay !== undefined && { delay: options.delay }),
        ...(options.forward !== undefined && { forward: options.forward }),
        ...(options.timeout !== undefined && { timeout: options.timeout }),
      });
    } catch (err) {
      if (err instanceof RangeError || err instanceof MeshError)
        throw new CliError(err.message, { cause: err });
      throw err;
    }
    const what =
      options.status !== undefined
        ? `answering ${options.status}${options.delay ? ` after ${options.delay} ms` : ""}`
        : `delaying ${options.delay ?? 0} ms, then forwarding to ${options.forward}.${service}.*`;
    await writeAll(io.stderr, `${CLI_NAME}: fault on ${fault.subject}: ${what}\n`);
    await holdOpenUntil(stopped);
    await fault.stop();
    await writeAll(io.stderr, `${CLI_NAME}: fault stopped after ${fault.received} requests\n`);
  } finally {
    controller.abort();
    await mesh.close();
  }
  return EXIT_CODES.ok;
}

/**
 * Adds the `fault` command to the program.
 *
 * @param program - the root command
 * @param context - streams, environment and exit code of the run
 * @returns the `fault` command
 * @example
 * ```ts
 * addFaultCommand(new Command("natsmesh"), { io: processIo(), exitCode: EXIT_CODES.ok });
 * ```
 */
export function addFaultCommand(program: Command, context: CliContext): Command {
  return program
    .command("fault")
    .description("answer a service's fault share with a status, or delay it and forward it")
    .argument("<service>", "the service, e.g. weather")
    .option("--status <code>", "answer every request with this HTTP status", parseStatus)
    .option("--delay <ms>", "wait this long before answering or forwarding", parseMillis)
    .option("--forward <prefix>", "prefix of the real instances to forward to (with --delay)")
    .option("--prefix <prefix>", "prefix of the fault subject (default natsmesh-fault)")
    .option("--timeout <ms>", "deadline of a forwarded call (default 30000)", parseMillis)
    .option("-s, --server <url>", "NATS server URL(s), comma-separated (overrides NATS_URL)")
    .addHelpText("after", HELP_AFTER)
    .action(async (service: string, options: FaultCliOptions) => {
      context.exitCode = await runFault(service, options, context.io);
    });
}
