/**
 * `natsmesh request --all`: one request to every instance of a service, one line per answer.
 *
 * @module
 */
import { DEFAULT_STALL, type MeshFetch } from "../client/index.js";
import {
  DEFAULT_PREFIX,
  everyRequestSubject,
  NoRespondersError,
  serviceFromHost,
} from "../protocol/index.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";
import { type CliIo, writeAll } from "./io.js";
import { formatTable } from "./services.js";

export { DEFAULT_STALL };

/** What `--all` was given beside the request itself. */
export interface GatherSettings {
  /** `--json`: one JSON object per answer, with its body. */
  json: boolean;
  /** `--max`: end after this many answers (0: no limit). */
  max: number;
  /** `--stall`: end this many ms after the last answer. */
  stall: number;
  /** `--timeout`: the total wait. */
  timeout: number;
  /** The subject prefix, for the no-answer message. */
  prefix: string | undefined;
  /** Host suffixes stripped to find the service. */
  suffixes: readonly string[];
}

interface Answer {
  status: number;
  instance: string;
  server: string;
  cluster: string;
  ms: number;
  body: unknown;
}

/**
 * Sends `init` to every instance of the URL's service and prints a table (STATUS, INSTANCE, SERVER,
 * TIME) or, with `json`, one JSON object per line with the body (parsed when it is JSON).
 *
 * @returns {@link EXIT_CODES.ok} when every answer is below 400, {@link EXIT_CODES.httpError} otherwise
 * @throws {@link NoRespondersError} when no instance answered
 */
export async function gatherAll(
  fetch: MeshFetch,
  url: string,
  init: RequestInit,
  settings: GatherSettings,
  io: CliIo,
): Promise<ExitCode> {
  const started = performance.now();
  const answers: Answer[] = [];
  for await (const res of fetch.all(url, {
    ...init,
    timeout: settings.timeout,
    max: settings.max,
    stall: settings.stall,
  })) {
    const ms = Math.round(performance.now() - started);
    const text = await res.text();
    answers.push({
      status: res.status,
      instance: res.headers.get("mesh-instance") ?? "",
      server: res.headers.get("mesh-server") ?? "",
      cluster: res.headers.get("mesh-cluster") ?? "",
      ms,
      body: settings.json ? bodyValue(text, res.headers.get("content-type")) : undefined,
    });
  }
  if (answers.length === 0) {
    const service = serviceFromHost(new URL(url).hostname, settings.suffixes);
    const prefix = settings.prefix ?? (io.env.NATS_PREFIX || DEFAULT_PREFIX);
    throw new NoRespondersError({
      service,
      subject: everyRequestSubject(prefix, service, init.method ?? "GET"),
    });
  }
  const out = settings.json
    ? answers.map((a) => `${JSON.stringify(a)}\n`).join("")
    : formatTable(
        ["STATUS", "INSTANCE", "SERVER", "TIME"],
        answers.map((a) => [String(a.status), a.instance, a.server, `${a.ms} ms`]),
      );
  await writeAll(io.stdout, out);
  return answers.some((a) => a.status >= 400) ? EXIT_CODES.httpError : EXIT_CODES.ok;
}

/** A body as JSON output shows it: the parsed value for a JSON body, else the text. */
function bodyValue(text: string, type: string | null): unknown {
  if (type !== null && /[/+]json\b/i.test(type)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}
