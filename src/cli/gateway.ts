/**
 * `natsmesh gateway`: the HTTP(S) front door, until SIGTERM or Ctrl-C.
 *
 * @module
 */
import type { Command } from "commander";
import type { Logger } from "pino";
import { parseHostPort } from "../gateway/config/host-port.js";
import { parseWorkers, WORKERS_EXPECTED } from "../gateway/config/workers-setting.js";
import { bufferedStdout } from "../gateway/front-door/stdout-log.js";
import { createGatewayCluster, type RouteConfig } from "../gateway/index.js";
import { createLogger } from "../log/index.js";
import { assertServiceName } from "../protocol/index.js";
import { CLI_NAME, CliError } from "./cli-error.js";
import type { CliContext } from "./context.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";
import { type CliIo, writeAll } from "./io.js";
import { collect, parseMillis } from "./option-parsers.js";
import { holdOpenUntil, nextStopSignal, STOP_SIGNALS } from "./stop-signal.js";

/** Options of `natsmesh gateway`, as commander parses them. */
export interface GatewayCliOptions {
  /** `--listen`: public `HOST:PORT`. */
  listen?: string;
  /** `--admin`: admin `HOST:PORT`. */
  admin?: string;
  /** `-c, --config`: YAML or JSON configuration file. */
  config?: string;
  /** `--route`: `PREFIX=SERVICE` or `HOST=SERVICE`, repeatable. */
  route?: string[];
  /** `--tls-cert`: certificate file (PEM). */
  tlsCert?: string;
  /** `--tls-key`: private key file (PEM). */
  tlsKey?: string;
  /** `-s, --server`: NATS server URL(s). */
  server?: string;
  /** `--prefix`: subject prefix. */
  prefix?: string;
  /** `--workers`: worker processes, a count or `auto`. */
  workers?: string;
  /** `--drain-delay`: milliseconds to stay up, unready, after SIGTERM before closing the listener. */
  drainDelay?: number;
}

/** Signals that stop the gateway gracefully. */
const HELP_AFTER = `
Routes come from the configuration file (docs/GATEWAY.md) and from --route flags, added after it:
  --route /api/billing=billing     path prefix /api/billing (kept in the path) to service billing
  --route docs.example.com=docs    host docs.example.com to service docs
Without a matching route, /<service>/<rest> goes to <service> with path /<rest> (the default rule).
With --tls-cert and --tls-key the gateway speaks HTTPS: HTTP/2 and HTTP/1.1 on the same port.
With --workers N (or 'auto': one per CPU) N worker processes share the port, each with its own NATS
connection; this process then serves the admin port (metrics summed over the workers) and starts a
worker again if one dies. Rate limits and circuit breakers are per worker.

SIGTERM or Ctrl-C turns /readyz unready and keeps serving for --drain-delay (default the config's
limits.drainDelay, else 0), answering with Connection: close, so a load balancer stops sending first;
then it stops accepting connections, lets in-flight requests finish (limits.shutdownTimeout), and
exits 0. Set the drain delay to the time your load balancer needs to see /readyz fail.
The NATS connection comes from --server, NATS_URL, NATS_CREDS, NATS_NKEY, NATS_USER, NATS_PASSWORD,
NATS_TOKEN, NATS_CERT, NATS_KEY, NATS_CA, NATS_CONTEXT and NATS_PREFIX. Access logs (JSON, pino) go to
stdout at NATSMESH_LOG_LEVEL (default info).

Examples:
  natsmesh gateway --route /api/weather=weather
  natsmesh gateway -c gateway.yaml --admin 127.0.0.1:9090
  natsmesh gateway --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem
  natsmesh gateway -c gateway.yaml --workers auto`;

/**
 * Parses a `--route` value: `PREFIX=SERVICE` (a path prefix, starting with `/`) or `HOST=SERVICE`.
 *
 * @param text - the flag's value
 * @returns the route
 * @throws {@link CliError} naming the flag and what is wrong
 * @example
 * ```ts
 * parseRouteFlag("/api/billing=billing"); // { prefix: "/api/billing", service: "billing" }
 * parseRouteFlag("docs.example.com=docs"); // { host: "docs.example.com", service: "docs" }
 * ```
 */
export function parseRouteFlag(text: string): RouteConfig {
  const eq = text.lastIndexOf("=");
  const match = text.slice(0, Math.max(eq, 0));
  const service = text.slice(eq + 1);
  if (eq < 0 || !match || !service)
    throw new CliError(
      `--route '${text}': expected PREFIX=SERVICE or HOST=SERVICE, e.g. /api/billing=billing`,
    );
  try {
    assertServiceName(service);
  } catch {
    throw new CliError(`--route '${text}': service '${service}' is not a valid service name`);
  }
  return match.startsWith("/") ? { prefix: match, service } : { host: match, service };
}

/** The access logger: natsmesh's logger (level from NATSMESH_LOG_LEVEL, credentials redacted). */
function makeLogger(io: CliIo): { logger: Logger; flush: () => void } {
  const options = { name: "natsmesh-gateway", env: io.env };
  if (io.stdout !== process.stdout)
    return { logger: createLogger({ ...options, destination: io.stdout }), flush: () => {} };
  const out = bufferedStdout();
  return { logger: createLogger({ ...options, destination: out.destination }), flush: out.flush };
}

/**
 * Runs the gateway until SIGTERM or SIGINT, then closes it gracefully (in-flight requests finish).
 * A second signal during the close exits at once.
 *
 * @param options - the parsed options
 * @param io - streams and environment
 * @returns {@link EXIT_CODES.ok} once stopped by a signal
 * @throws {@link CliError} for bad flags (`--listen`, `--admin`, `--route`, `--workers`, a TLS file without the other); `GatewayConfigError` (file, route, problem) and
 *   `PolicyConfigError` for a bad configuration, before anything listens; `ConnectError` when NATS
 *   cannot be reached
 * @example
 * ```ts
 * process.exitCode = await runGateway({ route: ["/api=api"] }, processIo());
 * ```
 */
export async function runGateway(options: GatewayCliOptions, io: CliIo): Promise<ExitCode> {
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined))
    throw new CliError("--tls-cert and --tls-key go together");
  for (const [flag, value] of [
    ["--listen", options.listen],
    ["--admin", options.admin],
  ] as const) {
    if (value !== undefined && !parseHostPort(value))
      throw new CliError(`${flag} '${value}': expected HOST:PORT, e.g. 127.0.0.1:8080`);
  }
  const workers = options.workers === undefined ? undefined : parseWorkers(options.workers);
  if (options.workers !== undefined && workers === undefined)
    throw new CliError(`--workers '${options.workers}': expected ${WORKERS_EXPECTED}`);
  const routes = (options.route ?? []).map(parseRouteFlag);
  const controller = new AbortController();
  const stopped = nextStopSignal(controller.signal);
  const log = makeLogger(io);
  try {
    const gateway = createGatewayCluster({
      ...(workers !== undefined && { workers }),
      ...(options.config !== undefined && { configFile: options.config }),
      ...(options.listen !== undefined && { listen: options.listen }),
      ...(options.admin !== undefined && { admin: options.admin }),
      ...(options.tlsCert !== undefined && { tls: { cert: options.tlsCert, key: options.tlsKey! } }),
      ...(options.prefix !== undefined && { prefix: options.prefix }),
      ...(options.drainDelay !== undefined && { drainDelay: options.drainDelay }),
      routes,
      connection: { env: io.env, ...(options.server !== undefined && { servers: options.server }) },
      logger: log.logger,
    });
    try {
      const { url, adminUrl, pids } = await gateway.listen();
      const admin = adminUrl ? ` (admin ${adminUrl})` : "";
      const processes = gateway.workers > 1 ? `, ${gateway.workers} workers (pids ${pids.join(", ")})` : "";
      await writeAll(io.stderr, `${CLI_NAME}: gateway listening on ${url}${admin}${processes}\n`);
      const signal = await holdOpenUntil(stopped);
      await writeAll(
        io.stderr,
        `${CLI_NAME}: ${signal}: closing the gateway, finishing in-flight requests\n`,
      );
      const force = () => process.exit(EXIT_CODES.failure);
      for (const name of STOP_SIGNALS) process.once(name, force);
      try {
        await gateway.close();
      } finally {
        for (const name of STOP_SIGNALS) process.off(name, force);
      }
    } finally {
      await gateway.close();
    }
  } finally {
    controller.abort();
    log.flush();
  }
  await writeAll(io.stderr, `${CLI_NAME}: gateway stopped\n`);
  return EXIT_CODES.ok;
}

/**
 * Adds the `gateway` command to the program.
 *
 * @param program - the root command
 * @param context - streams, environment and exit code of the run
 * @returns the `gateway` command
 * @example
 * ```ts
 * addGatewayCommand(new Command("natsmesh"), { io: processIo(), exitCode: EXIT_CODES.ok });
 * ```
 */
export function addGatewayCommand(program: Command, context: CliContext): Command {
  return program
    .command("gateway")
    .description("run the HTTP(S) gateway that routes public traffic to services over NATS")
    .option("--listen <host:port>", "public address (default 127.0.0.1:8080, or the config's)")
    .option("--admin <host:port>", "admin address for /healthz, /readyz and /metrics (default: none)")
    .option("-c, --config <file>", "YAML or JSON configuration file")
    .option("--route <prefix=service>", "route PREFIX=SERVICE or HOST=SERVICE (repeatable)", collect)
    .option("--tls-cert <file>", "TLS certificate (PEM): serve HTTPS, HTTP/2 and HTTP/1.1")
    .option("--tls-key <file>", "TLS private key (PEM)")
    .option("-s, --server <url>", "NATS server URL(s), comma-separated (overrides NATS_URL)")
    .option("--prefix <prefix>", "subject prefix of the mesh (overrides NATS_PREFIX)")
    .option(
      "--workers <n|auto>",
      "worker processes sharing the port (default 1, or the config's; auto: one per CPU)",
    )
    .option(
      "--drain-delay <ms>",
      "on SIGTERM, stay up unready (/readyz 503) this long before closing the listener (default the config's limits.drainDelay, else 0)",
      parseMillis,
    )
    .addHelpText("after", HELP_AFTER)
    .action(async (options: GatewayCliOptions) => {
      context.exitCode = await runGateway(options, context.io);
    });
}
