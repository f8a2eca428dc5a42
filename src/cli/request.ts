/**
 * `natsmesh request <url>`: curl over NATS.
 *
 * @module
 */
import type { Command } from "commander";
import { createFetch, DEFAULT_SUFFIXES, DEFAULT_TIMEOUT } from "../client/index.js";
import { CliError } from "./cli-error.js";
import type { CliContext } from "./context.js";
import { readData } from "./data-arg.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";
import { parseHeader } from "./header-arg.js";
import { type CliIo, writeAll } from "./io.js";
import { collect, parseCount, parseMillis } from "./option-parsers.js";
import { DEFAULT_STALL, gatherAll } from "./request-all.js";
import { formatHead } from "./response-head.js";

/** Options of `natsmesh request`, as commander parses them. */
export interface RequestOptions {
  /** `-X`: the method (default GET, POST with a body). */
  request?: string;
  /** `-H`: `Name: value` headers, in order. */
  header?: string[];
  /** `-d`: body parts (text, `@file`, `@-`). */
  data?: string[];
  /** `--timeout`: deadline in milliseconds. */
  timeout: number;
  /** `-i`: print the status line and headers. */
  include?: boolean;
  /** `-s`: NATS server URL(s). */
  server?: string;
  /** `--prefix`: subject prefix. */
  prefix?: string;
  /** `--instance`: the instance that must answer (its `mesh-instance` id). */
  instance?: string;
  /** `--all`: ask every instance, one line per answer. */
  all?: boolean;
  /** `--json` (with `--all`): one JSON object per answer, with its body. */
  json?: boolean;
  /** `--max` (with `--all`): end after this many answers. */
  max?: number;
  /** `--stall` (with `--all`): end this many ms after the last answer. */
  stall?: number;
  /** `--event` (with `--all`): send without a reply subject; every instance runs it, none answers. */
  event?: boolean;
}

/** curl's content type for `-d` bodies. */
const FORM_CONTENT_TYPE = "application/x-www-form-urlencoded";
const BODYLESS_METHODS = new Set(["GET", "HEAD"]);
const HAS_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

const HELP_AFTER = `
The URL's host names the service: http://weather.nats/city?q=london calls service 'weather' on
subject <prefix>.weather.get. The connection comes from NATS_URL, NATS_CREDS, NATS_NKEY, NATS_USER,
NATS_PASSWORD, NATS_TOKEN, NATS_CERT, NATS_KEY, NATS_CA, NATS_CONTEXT and NATS_PREFIX.

Exit status: 0 for 2xx/3xx, 1 for a status >= 400 (the body is still printed), 2 when no response
came (no responders, timeout, connection or configuration error).

--instance ID sends the request to that instance only (the id in a response's mesh-instance, or in
'natsmesh services ls'): no responders (exit 2) when it is gone. --all sends it to every instance
and prints one line per answer (STATUS, INSTANCE, SERVER, TIME), or with --json one JSON object per
line with the body; it ends --stall ms after the last answer (default 300), after --max answers, or
at --timeout. --all --event sends it as an event: every instance runs it, none answers, nothing is
printed. Bodies with --all fit in one NATS message (max_payload).

Examples:
  natsmesh request http://weather.nats/city?q=london
  natsmesh request --instance hx2Kq0l1eDzNaBvVQhTz5A http://weather.nats/cache/stats
  natsmesh request --all --json -X POST http://weather.nats/cache/flush
  natsmesh request -i -X PUT -H 'Content-Type: application/json' -d @city.json http://weather.nats/city/1
  echo hello | natsmesh request -d @- http://echo.nats/`;

const HTTP_SCHEME = /^https?:\/\//i;

/**
 * The request's URL: `http://service/path`, `https://...`, or — the documented shorthand — the same
 * without the scheme, `service/path`. A word without a scheme or a path (`natsmesh request weather`)
 * is taken for a mistake rather than a call to service `weather`'s `/`.
 */
function targetUrl(text: string): string {
  const schemed = HAS_SCHEME.test(text);
  const url = schemed ? text : `http://${text}`;
  if ((schemed ? !HTTP_SCHEME.test(text) : !text.includes("/")) || !URL.canParse(url))
    throw new CliError(`'${text}' is not a URL (expected http://service/path)`);
  return url;
}

/**
 * Sends one request and writes the response to stdout: the head with `include`, then the body bytes.
 *
 * @param url - `http://<service>.nats/path` (the scheme may be omitted)
 * @param options - the parsed options
 * @param io - streams and environment
 * @returns {@link EXIT_CODES.ok} for 2xx/3xx, {@link EXIT_CODES.httpError} for a status ≥ 400
 * @throws {@link CliError} for bad input; natsmesh's typed errors when no response came
 * (`NoRespondersError`, `TimeoutError`, `ConnectError`, `ConfigError`...)
 * @example
 * ```ts
 * const code = await runRequest("http://weather.nats/city", { timeout: 500 }, processIo());
 * ```
 */
export async function runRequest(url: string, options: RequestOptions, io: CliIo): Promise<ExitCode> {
  const target = targetUrl(url);
  const headers = (options.header ?? []).map(parseHeader);
  const body = await readData(options.data ?? [], io.stdin);
  const method = options.request ?? (body ? "POST" : "GET");
  if (body && BODYLESS_METHODS.has(method.toUpperCase())) {
    throw new CliError(
      `a ${method.toUpperCase()} request cannot have a body (-d): use -X POST or another method`,
    );
  }
  if (options.all && options.instance !== undefined)
    throw new CliError("--instance and --all exclude each other: one instance, or every instance");
  for (const flag of ["json", "max", "stall", "event"] as const) {
    if (options[flag] !== undefined && !options.all) throw new CliError(`--${flag} goes with --all`);
  }
  if (body && !headers.some(([name]) => name.toLowerCase() === "content-type")) {
    headers.push(["Content-Type", FORM_CONTENT_TYPE]);
  }
  const fetch = createFetch({
    timeout: options.timeout,
    ...(options.prefix !== undefined && { prefix: options.prefix }),
    connection: { env: io.env, ...(options.server !== undefined && { servers: options.server }) },
  });
  try {
    const init = { method, headers, ...(body && { body }) };
    if (options.event) {
      await fetch.broadcast(target, init);
      return EXIT_CODES.ok;
    }
    if (options.all) {
      return await gatherAll(
        fetch,
        target,
        init,
        {
          json: options.json === true,
          max: options.max ?? 0,
          stall: options.stall ?? DEFAULT_STALL,
          timeout: options.timeout,
          prefix: options.prefix,
          suffixes: DEFAULT_SUFFIXES,
        },
        io,
      );
    }
    const res = await fetch(target, {
      ...init,
      ...(options.instance !== undefined && { instance: options.instance }),
    });
    if (options.include) await writeAll(io.stdout, formatHead(res));
    await writeAll(io.stdout, new Uint8Array(await res.arrayBuffer()));
    return res.status >= 400 ? EXIT_CODES.httpError : EXIT_CODES.ok;
  } finally {
    await fetch.close();
  }
}

/**
 * Adds the `request` command to the program.
 *
 * @param program - the root command
 * @param context - streams, environment and exit code of the run
 * @returns the `request` command
 * @example
 * ```ts
 * addRequestCommand(new Command("natsmesh"), { io: processIo(), exitCode: EXIT_CODES.ok });
 * ```
 */
export function addRequestCommand(program: Command, context: CliContext): Command {
  return program
    .command("request")
    .description("send an HTTP request to a service over NATS, like curl")
    .argument("<url>", "http://<service>.nats/<path>, or <service>/<path>: the host names the service")
    .option("-X, --request <method>", "request method (default GET, or POST with -d)")
    .option("-H, --header <header>", "request header 'Name: value' (repeatable)", collect)
    .option(
      "-d, --data <data>",
      "request body: text, @file, or @- for stdin (repeatable, joined with &)",
      collect,
    )
    .option(
      "--timeout <ms>",
      "deadline of the request in milliseconds, 0 for none",
      parseMillis,
      DEFAULT_TIMEOUT,
    )
    .option("-i, --include", "print the status line and response headers before the body")
    .option("-s, --server <url>", "NATS server URL(s), comma-separated (overrides NATS_URL)")
    .option("--prefix <prefix>", "subject prefix of the mesh (overrides NATS_PREFIX)")
    .option("--instance <id>", "send to this instance only (its mesh-instance id)")
    .option("--all", "send to every instance; one line per answer")
    .option("--json", "with --all: one JSON object per answer, with its body")
    .option("--max <n>", "with --all: end after this many answers", parseCount)
    .option("--stall <ms>", "with --all: end this long after the last answer (default 300)", parseMillis)
    .option("--event", "with --all: an event every instance runs, without answers (prints nothing)")
    .addHelpText("after", HELP_AFTER)
    .action(async (url: string, options: RequestOptions) => {
      context.exitCode = await runRequest(url, options, context.io);
    });
}
