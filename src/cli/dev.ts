/**
 * `natsmesh dev`: runs a local nats-server until Ctrl-C.
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Command } from "commander";
import {
  type LocalServer,
  type LocalServerExit,
  NatsServerStartError,
  startLocalServer,
} from "../dev/index.js";
import { describeExit } from "../dev/local-server.js";
import { CliError } from "./cli-error.js";
import type { CliContext } from "./context.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";
import { type CliIo, writeAll } from "./io.js";
import { parsePort } from "./option-parsers.js";
import { holdOpenUntil, nextStopSignal } from "./stop-signal.js";

/** Options of `natsmesh dev`, as commander parses them. */
export interface DevOptions {
  /** `--port`: client port (default: a free one). */
  port?: number;
}

/**
 * Ctrl-C reaches nats-server too (same process group), and it may exit before our handler runs:
 * an exit this soon before a stop signal is not a crash.
 */
const SIGNAL_GRACE_MS = 250;

function usage(url: string): string {
  return [
    `nats-server is running at ${url}. In another shell:`,
    `  export NATS_URL=${url}`,
    "  node my-service.js                          # serve(app, { service: 'weather' })",
    "  natsmesh request http://weather.nats/city   # call it",
    "Press Ctrl-C to stop.",
    "",
  ].join("\n");
}

/** The first stop signal received, listened for until `dispose()`. */
interface StopSignal {
  readonly received: Promise<NodeJS.Signals>;
  /** Whether a stop signal came. */
  readonly fired: boolean;
  dispose(): void;
}

function listenForStop(): StopSignal {
  const controller = new AbortController();
  let fired = false;
  const received = nextStopSignal(controller.signal).then((name) => {
    fired = true;
    return name;
  });
  received.catch(() => {}); // rejects with an AbortError on dispose
  return {
    received,
    get fired() {
      return fired;
    },
    dispose: () => controller.abort(),
  };
}

/** Waits for a stop signal; returns how the server ended if it ended on its own first. */
async function waitForStop(server: LocalServer, stop: StopSignal): Promise<LocalServerExit | undefined> {
  // The server child is unref'd: nothing else keeps the event loop alive.
  const first = await holdOpenUntil(Promise.race([stop.received, server.exited]));
  if (typeof first === "string" || stop.fired) return undefined;
  await sleep(SIGNAL_GRACE_MS);
  return stop.fired ? undefined : first;
}

/**
 * Starts a local nats-server, prints `NATS_URL=...` on stdout and how to use it on stderr, and
 * waits for SIGINT or SIGTERM to stop it.
 *
 * @param options - the parsed options
 * @param io - streams and environment (`NATS_SERVER_BIN`, `PATH`)
 * @returns {@link EXIT_CODES.ok} once stopped by a signal
 * @throws `NatsServerNotFoundError` when nats-server is not installed; {@link CliError} when the
 * `--port` is in use (exit 2), or when the server exits on its own
 * @example
 * ```ts
 * process.exitCode = await runDev({ port: 4333 }, processIo());
 * ```
 */
export async function runDev(options: DevOptions, io: CliIo): Promise<ExitCode> {
  // Listen first: a signal that comes while the server starts still stops it cleanly.
  const stop = listenForStop();
  try {
    const port = options.port !== undefined ? { port: options.port } : {};
    let server: LocalServer;
    try {
      server = await startLocalServer({ env: io.env, ...port });
    } catch (err) {
      // Ctrl-C while starting also reaches nats-server, which then dies before it is ready.
      if (stop.fired) return EXIT_CODES.ok;
      if (
        err instanceof NatsServerStartError &&
        err.addressInUse !== undefined &&
        options.port !== undefined
      ) {
        throw new CliError(
          `port ${options.port} is in use (${err.addressInUse}): choose another --port, or leave it out for a free one`,
          { cause: err },
        );
      }
      throw err;
    }
    try {
      await writeAll(io.stdout, `NATS_URL=${server.url}\n`);
      await writeAll(io.stderr, usage(server.url));
      const crashed = await waitForStop(server, stop);
      if (crashed) throw new CliError(`nats-server exited unexpectedly with ${describeExit(crashed)}`);
    } finally {
      await server.stop();
    }
  } finally {
    stop.dispose();
  }
  await writeAll(io.stderr, "nats-server stopped\n");
  return EXIT_CODES.ok;
}

/**
 * Adds the `dev` command to the program.
 *
 * @param program - the root command
 * @param context - streams, environment and exit code of the run
 * @returns the `dev` command
 * @example
 * ```ts
 * addDevCommand(new Command("natsmesh"), { io: processIo(), exitCode: EXIT_CODES.ok });
 * ```
 */
export function addDevCommand(program: Command, context: CliContext): Command {
  return program
    .command("dev")
    .description("run a local nats-server for development until Ctrl-C")
    .option("-p, --port <port>", "client port (default: a free port)", parsePort)
    .addHelpText(
      "after",
      "\nnats-server is found via NATS_SERVER_BIN, else on PATH, else at /usr/sbin/nats-server.",
    )
    .action(async (options: DevOptions) => {
      context.exitCode = await runDev(options, context.io);
    });
}
