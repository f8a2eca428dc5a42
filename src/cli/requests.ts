/**
 * `natsmesh requests ls | get | retry | purge <service>`: the durable requests of a service
 * (PROTOCOL.md §13) for operators — their states, answers and dead letters.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Command } from "commander";
import { connect } from "../connect/index.js";
import {
  DEFAULT_BUCKET,
  DurableState,
  type DurableStatus,
  DurableStore,
  ID_PATTERN,
  streamName,
} from "../durable/index.js";
import { assertServiceName } from "../protocol/index.js";
import { CliError } from "./cli-error.js";
import type { CliContext } from "./context.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";
import { type CliIo, writeAll } from "./io.js";
import { formatTable } from "./services.js";

/** The `requests` subcommands. */
export type RequestsAction = "ls" | "get" | "retry" | "purge";

/** Options of `natsmesh requests <action>`, as commander parses them. */
export interface RequestsOptions {
  /** `--json`: print JSON instead of a table. */
  json?: boolean;
  /** `--state`: only records in this state (ls, purge). */
  state?: string;
  /** `--bucket`: the records' KV bucket. */
  bucket: string;
  /** `-s`: NATS server URL(s). */
  server?: string;
}

const HELP_AFTER = `
Durable requests are stored in the service's JetStream stream; their states, answers and dead letters
are records in a KV bucket (PROTOCOL.md §13). ls lists the records (dead letters included) and how
many requests wait in the stream; get shows one (with --json, the answer's status, headers and body);
retry submits dead letters again; purge deletes records (by id, or every one in --state, default dead).

Exit status: 0 ok, 1 when a named id was not found (or is not a dead letter, for retry), 2 on failure.

Examples:
  natsmesh requests ls orders
  natsmesh requests ls orders --state dead --json
  natsmesh requests get orders 6kYn2P0Q2d8Vh7QW3x1b0F
  natsmesh requests retry orders 6kYn2P0Q2d8Vh7QW3x1b0F
  natsmesh requests purge orders --state dead`;

function checkState(state: string | undefined): DurableState | undefined {
  if (state === undefined) return undefined;
  const known: readonly string[] = Object.values(DurableState);
  if (!known.includes(state))
    throw new CliError(`--state: expected one of ${known.join(", ")}, got '${state}'`);
  return state as DurableState;
}

function checkIds(ids: readonly string[]): void {
  for (const id of ids) if (!ID_PATTERN.test(id)) throw new CliError(`'${id}' is not a durable request id`);
}

function summary(s: DurableStatus): Record<string, unknown> {
  const { record } = s;
  return {
    id: s.id,
    state: s.state,
    attempts: s.attempts,
    method: record?.method,
    path: record?.path,
    updated: record?.updated,
    status: record?.status,
    error: record?.error,
  };
}

function detail(s: DurableStatus): Record<string, unknown> {
  const answer = s.record?.answer;
  if (answer === undefined) return summary(s);
  const headers: Array<[string, string]> = [];
  for (let i = 0; i < answer.headers.length; i += 2)
    headers.push([answer.headers[i]!, answer.headers[i + 1]!]);
  return {
    ...summary(s),
    answer: { status: answer.status, headers, body: Buffer.from(answer.body).toString() },
  };
}

async function ls(store: DurableStore, service: string, o: RequestsOptions, io: CliIo): Promise<ExitCode> {
  const state = checkState(o.state);
  const records = (await store.records(service)).filter((r) => state === undefined || r.state === state);
  const waiting = await store.waiting(service);
  if (o.json) {
    await writeAll(
      io.stdout,
      `${JSON.stringify({ service, waiting, records: records.map(summary) }, null, 2)}\n`,
    );
    return EXIT_CODES.ok;
  }
  const rows = records.map((r) => [
    r.id,
    r.state,
    String(r.attempts),
    `${r.record?.method ?? ""} ${r.record?.path ?? ""}`.trim(),
    r.record?.updated ?? "",
    r.state === DurableState.Done ? String(r.record?.status ?? "") : (r.record?.error ?? ""),
  ]);
  const table = formatTable(["ID", "STATE", "ATTEMPTS", "REQUEST", "UPDATED", "STATUS/ERROR"], rows);
  const stream =
    waiting === undefined ? "no stream" : `${waiting} in stream ${streamName(store.prefix, service)}`;
  await writeAll(io.stdout, `${table}${records.length} records; ${stream}\n`);
  return EXIT_CODES.ok;
}

/**
 * Runs one `requests` action against the records of `service`.
 *
 * @param action - `ls`, `get`, `retry` or `purge`
 * @param service - the service
 * @param ids - request ids (get, retry, purge)
 * @param options - the parsed options
 * @param io - streams and environment
 * @returns {@link EXIT_CODES.ok}, or {@link EXIT_CODES.httpError} when a named id was not found
 * @throws {@link CliError} for a bad service, id or state; `MeshError` `NM_ERR_DURABLE_UNAVAILABLE`
 *   when JetStream cannot be reached; `ConnectError` when NATS cannot
 * @example
 * ```ts
 * const code = await runRequests("ls", "orders", [], { bucket: "natsmesh-durable" }, processIo());
 * ```
 */
export async function runRequests(
  action: RequestsAction,
  service: string,
  ids: readonly string[],
  options: RequestsOptions,
  io: CliIo,
): Promise<ExitCode> {
  try {
    assertServiceName(service);
  } catch (err) {
    throw new CliError((err as Error).message, { cause: err });
  }
  checkIds(ids);
  if ((action === "get" || action === "retry") && ids.length === 0)
    throw new CliError(`${action} needs an ID`);
  const mesh = await connect({
    env: io.env,
    ...(options.server !== undefined && { servers: options.server }),
  });
  try {
    const store = new DurableStore(mesh.nc, mesh.prefix, options.bucket);
    if (action === "ls") return await ls(store, service, options, io);
    let missing = 0;
    if (action === "get") {
      for (const id of ids) {
        const found = await store.lookup(service, id);
        if (found === undefined) {
          missing++;
          io.stderr.write(`natsmesh: no durable request '${id}' of service '${service}'\n`);
          continue;
        }
        await writeAll(io.stdout, `${JSON.stringify(detail(found), null, options.json ? 2 : undefined)}\n`);
      }
    } else if (action === "retry") {
      for (const id of ids) {
        if (await store.retry(service, id)) await writeAll(io.stdout, `${id} queued again\n`);
        else {
          missing++;
          io.stderr.write(`natsmesh: '${id}' is no dead letter of service '${service}'\n`);
        }
      }
    } else {
      const state = checkState(options.state) ?? DurableState.Dead;
      const targets =
        ids.length > 0
          ? ids
          : (await store.records(service)).filter((r) => r.state === state).map((r) => r.id);
      for (const id of targets) await store.forget(service, id);
      await writeAll(io.stdout, `${targets.length} records purged\n`);
    }
    return missing > 0 ? EXIT_CODES.httpError : EXIT_CODES.ok;
  } finally {
    await mesh.close();
  }
}

const DESCRIPTIONS: Record<RequestsAction, string> = {
  ls: "list the records of a service's durable requests (dead letters included)",
  get: "show durable requests by id, with their answers",
  retry: "submit dead letters again",
  purge: "delete records: the ids given, or every one in --state (default dead)",
};

/**
 * Adds the `requests` command (`ls`, `get`, `retry`, `purge`) to the program.
 *
 * @param program - the root command
 * @param context - streams, environment and exit code of the run
 * @returns the `requests` command
 * @example
 * ```ts
 * addRequestsCommand(new Command("natsmesh"), { io: processIo(), exitCode: EXIT_CODES.ok });
 * ```
 */
export function addRequestsCommand(program: Command, context: CliContext): Command {
  const requests = program
    .command("requests")
    .description("durable requests of a service (JetStream): states, answers, dead letters");
  for (const action of ["ls", "get", "retry", "purge"] as const) {
    const cmd = requests
      .command(action)
      .description(DESCRIPTIONS[action])
      .argument("<service>", "the service (natsmesh name, e.g. orders)");
    if (action !== "ls") cmd.argument(action === "purge" ? "[ids...]" : "<ids...>", "request ids");
    cmd
      .option("--json", "print JSON")
      .option("--bucket <name>", "the records' KV bucket", DEFAULT_BUCKET)
      .option("-s, --server <url>", "NATS server URL(s), comma-separated (overrides NATS_URL)")
      .addHelpText("after", HELP_AFTER);
    if (action === "ls" || action === "purge") cmd.option("--state <state>", "only records in this state");
    cmd.action(async (service: string, ...rest: unknown[]) => {
      const ids = action === "ls" ? [] : (rest[0] as string[]);
      const options = (action === "ls" ? rest[0] : rest[1]) as RequestsOptions;
      context.exitCode = await runRequests(action, service, ids, options, context.io);
    });
  }
  return requests;
}
