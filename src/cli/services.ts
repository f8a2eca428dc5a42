/**
 * `natsmesh services ls | ping | info | stats [name]`: which services run, over the NATS micro
 * protocol (`$SRV.*`), as tables or JSON.
 *
 * @module
 */
import { type Command, InvalidArgumentError } from "commander";
import { connect, type NatsConnection } from "../connect/index.js";
import { serviceNameOf } from "../discovery/documents.js";
import {
  DEFAULT_QUERY_TIMEOUT,
  type MicroInfoResponse,
  type MicroPingResponse,
  type MicroStatsResponse,
  MicroVerb,
  type QueryOptions,
  type QueryReply,
  queryServices,
} from "../discovery/index.js";
import { CliError } from "./cli-error.js";
import type { CliContext } from "./context.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";
import { type CliIo, writeAll } from "./io.js";
import { parseMillis } from "./option-parsers.js";

/** The `services` subcommands. */
export type ServicesAction = "ls" | "ping" | "info" | "stats";

/** Options of `natsmesh services <action>`, as commander parses them. */
export interface ServicesOptions {
  /** `--json`: print JSON instead of a table. */
  json?: boolean;
  /** `--timeout`: milliseconds to collect answers. */
  timeout: number;
  /** `--id`: only this instance (with a name). */
  id?: string;
  /** `-s`: NATS server URL(s). */
  server?: string;
}

const HELP_AFTER = `
Every natsmesh service instance (and any other NATS micro service) answers $SRV.PING, $SRV.INFO and
$SRV.STATS; answers are collected for --timeout milliseconds. NAME is the natsmesh service name
(billing.invoices; micro sees it as billing_invoices). The connection comes from NATS_URL and the
other NATS_* variables, as for 'natsmesh request'.

Exit status: 0 when answers came (or, without NAME, when none did), 2 when no instance of NAME
answered or NATS could not be reached.

Examples:
  natsmesh services ls
  natsmesh services ping weather --timeout 300
  natsmesh services stats weather --json | jq '.[].endpoints[0].num_requests'`;

function parseWindow(text: string): number {
  const ms = parseMillis(text);
  if (ms < 1) throw new InvalidArgumentError("expected at least 1 millisecond");
  return ms;
}

/**
 * A duration in nanoseconds, readable: `850 µs`, `1.25 ms`, `2.10 s`.
 *
 * @param ns - nanoseconds
 * @returns the text
 * @example
 * ```ts
 * formatNanos(1_250_000); // "1.25 ms"
 * ```
 */
export function formatNanos(ns: number): string {
  if (ns < 1e3) return `${Math.round(ns)} ns`;
  if (ns < 1e6) return `${Math.round(ns / 1e3)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(2)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}

/**
 * Lays rows out in columns separated by two spaces; the last column is not padded.
 *
 * @param header - column titles
 * @param rows - cells, as text
 * @returns the table, one line per row, ending with a newline
 * @example
 * ```ts
 * formatTable(["NAME", "ID"], [["weather", "a1"]]); // "NAME     ID\nweather  a1\n"
 * ```
 */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => (r[c] ?? "").length)));
  return all
    .map((r) =>
      r
        .map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!)))
        .join("  ")
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join("");
}

const byName = <T extends { name: string; metadata?: Record<string, string> | null; id: string }>(
  a: QueryReply<T>,
  b: QueryReply<T>,
) =>
  serviceNameOf(a.response).localeCompare(serviceNameOf(b.response)) ||
  a.response.id.localeCompare(b.response.id);

interface ListedService {
  name: string;
  version: string;
  instances: number;
  description: string;
  ids: string[];
}

function listServices(replies: Array<QueryReply<MicroInfoResponse>>): ListedService[] {
  const groups = new Map<string, ListedService>();
  for (const { response } of replies.sort(byName)) {
    const name = serviceNameOf(response);
    const key = `${name}\u0000${response.version}`;
    const group = groups.get(key) ?? {
      name,
      version: response.version,
      instances: 0,
      description: "",
      ids: [],
    };
    group.instances++;
    group.ids.push(response.id);
    group.description ||= response.description ?? "";
    groups.set(key, group);
  }
  return [...groups.values()];
}

function instanceTotals(stats: MicroStatsResponse) {
  const endpoints = stats.endpoints ?? [];
  const requests = endpoints.reduce((n, e) => n + e.num_requests, 0);
  const errors = endpoints.reduce((n, e) => n + e.num_errors, 0);
  const nanos = endpoints.reduce((n, e) => n + e.processing_time, 0);
  const lastError = endpoints.find((e) => e.last_error)?.last_error ?? "";
  // natsmesh instances report cancellations in the endpoint's `data`; other micro services may not.
  const cancelled = endpoints.reduce((n, e) => n + cancelledOf(e.data), 0);
  return { requests, errors, cancelled, average: requests > 0 ? nanos / requests : 0, lastError };
}

function cancelledOf(data: unknown): number {
  const n =
    typeof data === "object" && data !== null ? (data as { cancelled?: unknown }).cancelled : undefined;
  return typeof n === "number" && Number.isFinite(n) && n >= 0 ? n : 0;
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

function renderLs(replies: Array<QueryReply<MicroInfoResponse>>, asJson: boolean): string {
  const services = listServices(replies);
  if (asJson) return json(services);
  return formatTable(
    ["NAME", "VERSION", "INSTANCES", "DESCRIPTION"],
    services.map((s) => [s.name, s.version, String(s.instances), s.description]),
  );
}

function renderPing(replies: Array<QueryReply<MicroPingResponse>>, asJson: boolean): string {
  const sorted = replies.sort(byName);
  if (asJson)
    return json(sorted.map(({ response, rtt }) => ({ ...response, rtt: Math.round(rtt * 1000) / 1000 })));
  return formatTable(
    ["NAME", "ID", "VERSION", "RTT"],
    sorted.map(({ response: r, rtt }) => [serviceNameOf(r), r.id, r.version, formatNanos(rtt * 1e6)]),
  );
}

function renderInfo(replies: Array<QueryReply<MicroInfoResponse>>, asJson: boolean): string {
  const sorted = replies.sort(byName);
  if (asJson) return json(sorted.map((r) => r.response));
  return formatTable(
    ["NAME", "ID", "VERSION", "ENDPOINT", "SUBJECT", "QUEUE GROUP"],
    sorted.flatMap(({ response: r }) =>
      (r.endpoints ?? []).map((e) => [
        serviceNameOf(r),
        r.id,
        r.version,
        e.name,
        e.subject,
        e.queue_group ?? "",
      ]),
    ),
  );
}

function renderStats(replies: Array<QueryReply<MicroStatsResponse>>, asJson: boolean): string {
  const sorted = replies.sort(byName);
  if (asJson) return json(sorted.map((r) => r.response));
  return formatTable(
    ["NAME", "ID", "REQUESTS", "ERRORS", "CANCELLED", "AVG TIME", "LAST ERROR"],
    sorted.map(({ response: r }) => {
      const t = instanceTotals(r);
      return [
        serviceNameOf(r),
        r.id,
        String(t.requests),
        String(t.errors),
        String(t.cancelled),
        t.requests > 0 ? formatNanos(t.average) : "-",
        t.lastError,
      ];
    }),
  );
}

/** Asks, and renders the answers; `count` is the number of answers. */
async function ask(
  nc: NatsConnection,
  action: ServicesAction,
  query: QueryOptions,
  asJson: boolean,
): Promise<{ count: number; text: string }> {
  switch (action) {
    case "ls": {
      const replies = await queryServices(nc, MicroVerb.Info, query);
      return { count: replies.length, text: renderLs(replies, asJson) };
    }
    case "ping": {
      const replies = await queryServices(nc, MicroVerb.Ping, query);
      return { count: replies.length, text: renderPing(replies, asJson) };
    }
    case "info": {
      const replies = await queryServices(nc, MicroVerb.Info, query);
      return { count: replies.length, text: renderInfo(replies, asJson) };
    }
    case "stats": {
      const replies = await queryServices(nc, MicroVerb.Stats, query);
      return { count: replies.length, text: renderStats(replies, asJson) };
    }
  }
}

/**
 * Runs one `services` action: asks `$SRV.<verb>[.<name>[.<id>]]`, collects answers for
 * `options.timeout` ms, and prints a table (or JSON with `--json`).
 *
 * @param action - `ls`, `ping`, `info` or `stats`
 * @param name - only this service (natsmesh name), or every service
 * @param options - the parsed options
 * @param io - streams and environment
 * @returns {@link EXIT_CODES.ok}, or {@link EXIT_CODES.failure} when no instance of `name` answered
 * @throws {@link CliError} for a bad name or id; `ConnectError`/`ConfigError` when NATS cannot be reached
 * @example
 * ```ts
 * const code = await runServices("ping", "weather", { timeout: 500 }, processIo());
 * ```
 */
export async function runServices(
  action: ServicesAction,
  name: string | undefined,
  options: ServicesOptions,
  io: CliIo,
): Promise<ExitCode> {
  if (options.id !== undefined && name === undefined) throw new CliError("--id needs a service NAME");
  const mesh = await connect({
    env: io.env,
    ...(options.server !== undefined && { servers: options.server }),
  });
  let result: { count: number; text: string };
  try {
    const query: QueryOptions = {
      timeout: options.timeout,
      ...(name !== undefined && { service: name }),
      ...(options.id !== undefined && { id: options.id }),
    };
    result = await ask(mesh.nc, action, query, options.json ?? false);
  } catch (err) {
    if (err instanceof RangeError) throw new CliError(err.message, { cause: err });
    throw err;
  } finally {
    await mesh.close();
  }
  if (result.count > 0 || options.json) await writeAll(io.stdout, result.text);
  if (result.count > 0) return EXIT_CODES.ok;
  const who = name === undefined ? "no service" : `no instance of service '${name}'`;
  io.stderr.write(`natsmesh: ${who} answered within ${options.timeout} ms\n`);
  return name === undefined ? EXIT_CODES.ok : EXIT_CODES.failure;
}

const DESCRIPTIONS: Record<ServicesAction, string> = {
  ls: "list services: name, version, instances, description",
  ping: "ping instances: name, id, version, round-trip time",
  info: "show the endpoints of each instance",
  stats: "show each instance's requests, errors, cancelled requests, average time and last error",
};

/**
 * Adds the `services` command (`ls`, `ping`, `info`, `stats`) to the program.
 *
 * @param program - the root command
 * @param context - streams, environment and exit code of the run
 * @returns the `services` command
 * @example
 * ```ts
 * addServicesCommand(new Command("natsmesh"), { io: processIo(), exitCode: EXIT_CODES.ok });
 * ```
 */
export function addServicesCommand(program: Command, context: CliContext): Command {
  const services = program
    .command("services")
    .description("discover services over the NATS micro protocol ($SRV.PING/INFO/STATS)");
  for (const action of ["ls", "ping", "info", "stats"] as const) {
    services
      .command(action)
      .description(DESCRIPTIONS[action])
      .argument("[name]", "only this service (natsmesh name, e.g. weather or billing.invoices)")
      .option("--json", "print JSON (the micro protocol's documents; ls: one object per service)")
      .option(
        "--timeout <ms>",
        "how long to collect answers, in milliseconds",
        parseWindow,
        DEFAULT_QUERY_TIMEOUT,
      )
      .option("--id <id>", "only this instance (with NAME)")
      .option("-s, --server <url>", "NATS server URL(s), comma-separated (overrides NATS_URL)")
      .addHelpText("after", HELP_AFTER)
      .action(async (name: string | undefined, options: ServicesOptions) => {
        context.exitCode = await runServices(action, name, options, context.io);
      });
  }
  return services;
}
