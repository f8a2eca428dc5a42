/**
 * `natsmesh tap <service>`: prints a service's access records as they come (PROTOCOL.md §11), until
 * Ctrl-C or SIGTERM.
 *
 * @module
 */
import type { Command } from "commander";
import { connect } from "../connect/index.js";
import { type AccessRecord, encodeAccessRecord, MeshError } from "../protocol/index.js";
import { tap } from "../tap/index.js";
import { CLI_NAME, CliError } from "./cli-error.js";
import type { CliContext } from "./context.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";
import { type CliIo, writeAll } from "./io.js";
import { nextStopSignal } from "./stop-signal.js";

/** Options of `natsmesh tap`, as commander parses them. */
export interface TapCliOptions {
  /** `--json`: one record per line as PROTOCOL.md §11 JSON. */
  json?: boolean;
  /** `--instance`: only this instance's records. */
  instance?: string;
  /** `--prefix`: subject prefix (default NATS_PREFIX, else mesh). */
  prefix?: string;
  /** `-s, --server`: NATS server URL(s). */
  server?: string;
}

const HELP_AFTER = `
Shows every request the service's instances answer — time, method, path (without its query),
status, duration, instance, request id — as they publish access records to
<prefix>.<service>.$TAP.<instance>. The instances must run with access records on
(serve({ accessRecords: true }) or NATSMESH_ACCESS_RECORDS=1). The tap joins no queue group and
subscribes to no request subject, so it never takes a request and a caller of a service with no
instance still gets 503 at once. Stops on Ctrl-C. If the server cuts the tap off (a slow consumer),
it says so on stderr and reconnects; records published meanwhile are lost.

Exit status: 0 when stopped by Ctrl-C or SIGTERM; 2 when NATS cannot be reached, the NATS user may
not subscribe to the records subject, or the connection closes for good.

Examples:
  natsmesh tap orders
  natsmesh tap orders --json | jq 'select(.status >= 500)'
  natsmesh tap orders --instance 5XWzWPDGBxTzNU3JCmnaPx`;

/**
 * One record as a line of the table: time (UTC), method, path, status, duration, instance, request id.
 *
 * @param r - the record
 * @returns the line, without a newline
 * @example
 * ```ts
 * formatRecord(record); // "2026-12-07T22:10:01.123Z  GET     /orders/42  200  1.234 ms  a1  r-7"
 * ```
 */
export function formatRecord(r: AccessRecord): string {
  return [
    new Date(r.time).toISOString(),
    r.method.padEnd(6),
    r.path,
    String(r.status),
    `${r.ms.toFixed(3)} ms`,
    r.instance,
    r.requestId || "-",
  ].join("  ");
}

/**
 * Taps a service until SIGINT or SIGTERM, printing each record on stdout and connection events on
 * stderr.
 *
 * @param service - the service to tap
 * @param options - the parsed options
 * @param io - streams and environment
 * @param stop - resolves when the tap should stop (default: on SIGINT or SIGTERM)
 * @returns {@link EXIT_CODES.ok} once stopped
 * @throws {@link CliError} for a bad service, prefix or instance; `ConnectError` when NATS cannot be reached
 * @example
 * ```ts
 * process.exitCode = await runTap("orders", { json: true }, processIo());
 * ```
 */
export async function runTap(
  service: string,
  options: TapCliOptions,
  io: CliIo,
  stop?: Promise<unknown>,
): Promise<ExitCode> {
  const controller = new AbortController();
  const stopped = stop ?? nextStopSignal(controller.signal);
  const mesh = await connect({
    env: io.env,
    ...(options.server !== undefined && { servers: options.server }),
  });
  const say = (line: string) => void writeAll(io.stderr, `${CLI_NAME}: ${line}\n`);
  let stoppedBySignal = false;
  try {
    let records: Awaited<ReturnType<typeof tap>>;
    try {
      records = await tap(service, {
        nc: mesh,
        ...(options.prefix !== undefined && { prefix: options.prefix }),
        ...(options.instance !== undefined && { instance: options.instance }),
        onEvent: (e) => {
          if (e.type === "disconnect")
            say(
              `tap: disconnected from ${e.server} (the server went away, or cut the tap off as a slow consumer: it read too slowly); reconnecting`,
            );
          else if (e.type === "reconnect")
            say(`tap: reconnected to ${e.server}; records published while disconnected are lost`);
          else say(`tap: output too slow, dropping records (${e.dropped} so far)`);
        },
      });
    } catch (err) {
      if (err instanceof RangeError || err instanceof MeshError)
        throw new CliError(err.message, { cause: err });
      throw err;
    }
    void stopped.then(() => {
      stoppedBySignal = true;
      return records.stop();
    });
    say(`tap on ${records.subject} (Ctrl-C to stop)`);
    for await (const r of records) {
      await writeAll(io.stdout, `${options.json ? encodeAccessRecord(r) : formatRecord(r)}\n`);
    }
    const dropped = records.dropped > 0 ? `, ${records.dropped} dropped` : "";
    const malformed = records.malformed > 0 ? `, ${records.malformed} malformed lines skipped` : "";
    if (!stoppedBySignal) throw new CliError(`tap on ${records.subject} ended: the connection closed`);
    say(`tap stopped: ${records.received} records${dropped}${malformed}`);
  } finally {
    controller.abort();
    await mesh.close();
  }
  return EXIT_CODES.ok;
}

/**
 * Adds the `tap` command to the program.
 *
 * @param program - the root command
 * @param context - streams, environment and exit code of the run
 * @returns the `tap` command
 * @example
 * ```ts
 * addTapCommand(new Command("natsmesh"), { io: processIo(), exitCode: EXIT_CODES.ok });
 * ```
 */
export function addTapCommand(program: Command, context: CliContext): Command {
  return program
    .command("tap")
    .description("show a service's live traffic from its instances' access records")
    .argument("<service>", "the service, e.g. orders")
    .option("--json", "one JSON record per line (PROTOCOL.md §11)")
    .option("--instance <id>", "only this instance's records")
    .option("--prefix <prefix>", "subject prefix (default NATS_PREFIX, else mesh)")
    .option("-s, --server <url>", "NATS server URL(s), comma-separated (overrides NATS_URL)")
    .addHelpText("after", HELP_AFTER)
    .action(async (service: string, options: TapCliOptions) => {
      context.exitCode = await runTap(service, options, context.io);
    });
}
