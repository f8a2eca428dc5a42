/**
 * `natsmesh dashboard [--listen ADDR]`: the mesh's live web page and its capacity metrics, served
 * from the instances' insight reports until SIGINT/SIGTERM.
 *
 * @module
 */
import { type Command, InvalidArgumentError } from "commander";
import { connect } from "../connect/index.js";
import { monitorUrlsFrom, serveDashboard } from "../dashboard/index.js";
import { parseHostPort } from "../gateway/config/host-port.js";
import { CLI_NAME, CliError } from "./cli-error.js";
import type { CliContext } from "./context.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";
import { type CliIo, writeAll } from "./io.js";
import { holdOpenUntil, nextStopSignal } from "./stop-signal.js";

/** Options of `natsmesh dashboard`, as commander parses them. */
export interface DashboardCliOptions {
  /** `--listen`: HOST:PORT (default 127.0.0.1:8090). */
  listen: string;
  /** `--target`: target utilisation of the capacity signal. */
  target: number;
  /** `--window`: seconds the figures cover. */
  window: number;
  /** `--monitor`: NATS monitoring URL(s); NATS_MONITOR_URL otherwise. */
  monitor?: string;
  /** `-s`: NATS server URL(s). */
  server?: string;
}

/** Parses a target utilisation in (0, 1], or a percentage such as `70%`. */
export function parseTarget(text: string): number {
  const n = text.endsWith("%") ? Number(text.slice(0, -1)) / 100 : Number(text);
  if (!(n > 0 && n <= 1)) throw new InvalidArgumentError("expected a share in (0, 1], e.g. 0.7 or 70%");
  return n;
}

/** Parses a window in whole seconds ≥ 1. */
export function parseSeconds(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected whole seconds ≥ 1");
  return n;
}

const HELP_AFTER = `
Every serve() instance publishes a report on $NM.REPORT.<service>.<instance> each second; this
command aggregates them and serves the page, /metrics (natsmesh_insight_*: saturation, rate, p99 and
instances needed per service, for an HPA or KEDA) and /healthz. It binds loopback unless told
otherwise. With NATS_MONITOR_URL (or --monitor, e.g. http://127.0.0.1:8222) the page adds the NATS
servers' facts. The connection comes from NATS_URL and the other NATS_* variables.

Examples:
  natsmesh dashboard
  natsmesh dashboard --listen 0.0.0.0:8090 --target 0.6 --monitor http://127.0.0.1:8222`;

/**
 * Runs the dashboard until SIGINT or SIGTERM.
 *
 * @param options - the parsed options
 * @param io - streams and environment
 * @returns {@link EXIT_CODES.ok} once stopped
 * @throws {@link CliError} for a bad `--listen` or monitoring URL; `ConnectError` when NATS cannot be reached
 * @example
 * ```ts
 * await runDashboard({ listen: "127.0.0.1:8090", target: 0.7, window: 10 }, processIo());
 * ```
 */
export async function runDashboard(options: DashboardCliOptions, io: CliIo): Promise<ExitCode> {
  const address = parseHostPort(options.listen);
  if (!address) throw new CliError(`--listen '${options.listen}': expected HOST:PORT, e.g. 127.0.0.1:8090`);
  const monitorUrls = options.monitor
    ? options.monitor
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
    : monitorUrlsFrom(io.env);
  const controller = new AbortController();
  const stopped = nextStopSignal(controller.signal);
  const mesh = await connect({
    env: io.env,
    ...(options.server !== undefined && { servers: options.server }),
  });
  try {
    let server: Awaited<ReturnType<typeof serveDashboard>>;
    try {
      server = await serveDashboard({
        nc: mesh.nc,
        host: address.host,
        port: address.port,
        target: options.target,
        window: options.window,
        monitorUrls,
      });
    } catch (err) {
      if (err instanceof TypeError) throw new CliError(err.message, { cause: err });
      throw err;
    }
    await writeAll(io.stderr, `${CLI_NAME}: dashboard on ${server.url} (metrics ${server.url}/metrics)\n`);
    const signal = await holdOpenUntil(stopped);
    await writeAll(io.stderr, `${CLI_NAME}: ${signal}: dashboard stopped\n`);
    await server.close();
  } finally {
    controller.abort();
    await mesh.close();
  }
  return EXIT_CODES.ok;
}

/**
 * Adds the `dashboard` command to the program.
 *
 * @param program - the root command
 * @param context - streams, environment and exit code of the run
 * @returns the `dashboard` command
 * @example
 * ```ts
 * addDashboardCommand(new Command("natsmesh"), { io: processIo(), exitCode: EXIT_CODES.ok });
 * ```
 */
export function addDashboardCommand(program: Command, context: CliContext): Command {
  return program
    .command("dashboard")
    .description("serve the mesh's live web dashboard and its capacity metrics")
    .option("--listen <host:port>", "address to serve on (loopback unless told otherwise)", "127.0.0.1:8090")
    .option("--target <share>", "target utilisation of the instances-needed signal", parseTarget, 0.7)
    .option("--window <seconds>", "seconds the rates and percentiles cover", parseSeconds, 10)
    .option("--monitor <url>", "NATS monitoring URL(s), comma-separated (default NATS_MONITOR_URL)")
    .option("-s, --server <url>", "NATS server URL(s), comma-separated (overrides NATS_URL)")
    .addHelpText("after", HELP_AFTER)
    .action(async (options: DashboardCliOptions) => {
      context.exitCode = await runDashboard(options, context.io);
    });
}
