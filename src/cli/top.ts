/**
 * `natsmesh top`: the mesh's live figures in the terminal, from the instances' insight reports,
 * refreshed in place each second; `--once --json` for scripts.
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import { type Command, InvalidArgumentError } from "commander";
import { connect } from "../connect/index.js";
import { createInsight } from "../insight/aggregator.js";
import type { MeshView } from "../insight/view.js";
import type { CliContext } from "./context.js";
import { parseSeconds, parseTarget } from "./dashboard.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";
import { type CliIo, writeAll } from "./io.js";
import { parseMillis } from "./option-parsers.js";
import { renderTop, sortServices, TOP_SORTS, type TopSort } from "./top-render.js";

/** Options of `natsmesh top`, as commander parses them. */
export interface TopOptions {
  /** `--once`: print one picture and exit. */
  once?: boolean;
  /** `--json`: print the picture as JSON (with `--once`; one line per refresh otherwise). */
  json?: boolean;
  /** `--sort`: the order of services. */
  sort: TopSort;
  /** `--window`: seconds the figures cover. */
  window: number;
  /** `--target`: target utilisation. */
  target: number;
  /** `--wait`: with `--once`, ms to collect reports before printing (two reports give rates). */
  wait: number;
  /** `-s`: NATS server URL(s). */
  server?: string;
}

function parseSort(text: string): TopSort {
  if (!(TOP_SORTS as readonly string[]).includes(text))
    throw new InvalidArgumentError(`expected one of ${TOP_SORTS.join(", ")}`);
  return text as TopSort;
}

const CLEAR = "\x1b[H\x1b[2J";
const HIDE_CURSOR = "\x1b[?25l";
const SHOW_CURSOR = "\x1b[?25h";

/** Whether a stream is a terminal (its `isTTY`). */
const isTty = (stream: unknown): boolean => (stream as { isTTY?: boolean }).isTTY === true;

/**
 * Runs `natsmesh top`: with `--once`, collects reports for `--wait` ms and prints one picture;
 * otherwise redraws each second until `q`, Ctrl-C (also as SIGINT) or SIGTERM.
 *
 * @param options - the parsed options
 * @param io - streams and environment (keys are read from `io.stdin`)
 * @param stop - ends the live view from outside (tests); signals do too
 * @returns {@link EXIT_CODES.ok}
 * @throws `ConnectError` when NATS cannot be reached
 * @example
 * ```ts
 * await runTop({ once: true, json: true, sort: "rate", window: 10, target: 0.7, wait: 2500 }, processIo());
 * ```
 */
export async function runTop(options: TopOptions, io: CliIo, stop?: AbortSignal): Promise<ExitCode> {
  const mesh = await connect({
    env: io.env,
    ...(options.server !== undefined && { servers: options.server }),
  });
  const insight = createInsight(mesh.nc, { window: options.window, target: options.target });
  try {
    if (options.once) {
      await sleep(options.wait);
      const view = insight.view();
      const text = options.json
        ? `${JSON.stringify({ ...view, services: sortServices(view.services, options.sort) }, null, 2)}\n`
        : `${renderTop(view, options.sort).join("\n")}\n`;
      await writeAll(io.stdout, text);
      return EXIT_CODES.ok;
    }
    await live(insight.onUpdate.bind(insight), options, io, stop);
    return EXIT_CODES.ok;
  } finally {
    insight.close();
    await mesh.close();
  }
}

/** The live view: redraws at each update, reads keys, ends on q / Ctrl-C / a signal. */
async function live(
  onUpdate: (listener: (view: MeshView) => void) => () => void,
  options: TopOptions,
  io: CliIo,
  stop: AbortSignal | undefined,
): Promise<void> {
  const tty = isTty(io.stdout);
  let sort = options.sort;
  let reverse = false;
  let last: MeshView | undefined;
  const draw = () => {
    if (!last) return;
    if (options.json) {
      io.stdout.write(`${JSON.stringify(last)}\n`);
      return;
    }
    const view = reverse ? { ...last, services: sortServices(last.services, sort).reverse() } : last;
    const lines = renderTop(view, sort);
    if (reverse) lines[0] = `${lines[0]} (reversed)`;
    io.stdout.write(`${tty ? CLEAR : ""}${lines.join("\n")}\n${tty ? "" : "\n"}`);
  };
  const stdin = io.stdin as NodeJS.ReadStream;
  const raw = isTty(stdin) && typeof stdin.setRawMode === "function";
  let finish!: () => void;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const onKey = (data: Buffer | string) => {
    for (const ch of data.toString()) {
      if (ch === "q" || ch === "Q" || ch === "\u0003") finish();
      else if (ch === "s") {
        sort = TOP_SORTS[(TOP_SORTS.indexOf(sort) + 1) % TOP_SORTS.length]!;
        draw();
      } else if (ch === "r") {
        reverse = !reverse;
        draw();
      }
    }
  };
  const onSignal = () => finish();
  const off = onUpdate((view) => {
    last = view;
    draw();
  });
  if (raw) stdin.setRawMode(true);
  stdin.on("data", onKey);
  stdin.on("end", onSignal);
  stdin.resume();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  stop?.addEventListener("abort", onSignal, { once: true });
  if (tty && !options.json) io.stdout.write(HIDE_CURSOR);
  try {
    await done;
  } finally {
    off();
    stdin.off("data", onKey);
    stdin.off("end", onSignal);
    if (raw) stdin.setRawMode(false);
    stdin.pause();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    stop?.removeEventListener("abort", onSignal);
    if (tty && !options.json) io.stdout.write(SHOW_CURSOR);
  }
}

const HELP_AFTER = `
Every serve() instance publishes a report on $NM.REPORT.<service>.<instance> each second; top
aggregates them: per service and instance the request rate, errors, p50/p99, in-flight against the
concurrency limit (saturation), the instances needed for the target utilisation, version, NATS server
and uptime. Keys: s next sort order, r reverse, q or Ctrl-C quit.

Examples:
  natsmesh top --sort saturation
  natsmesh top --once --json | jq '.services[] | {service, rate, p99, needed}'`;

/**
 * Adds the `top` command to the program.
 *
 * @param program - the root command
 * @param context - streams, environment and exit code of the run
 * @returns the `top` command
 * @example
 * ```ts
 * addTopCommand(new Command("natsmesh"), { io: processIo(), exitCode: EXIT_CODES.ok });
 * ```
 */
export function addTopCommand(program: Command, context: CliContext): Command {
  return program
    .command("top")
    .description("show the mesh's live traffic, latency and saturation per service and instance")
    .option("--once", "print one picture and exit")
    .option("--json", "print JSON (the whole picture)")
    .option(`--sort <order>`, `sort services by ${TOP_SORTS.join(", ")}`, parseSort, "name" as TopSort)
    .option("--window <seconds>", "seconds the rates and percentiles cover", parseSeconds, 10)
    .option("--target <share>", "target utilisation of the instances-needed column", parseTarget, 0.7)
    .option("--wait <ms>", "with --once: how long to collect reports first", parseMillis, 2500)
    .option("-s, --server <url>", "NATS server URL(s), comma-separated (overrides NATS_URL)")
    .addHelpText("after", HELP_AFTER)
    .action(async (options: TopOptions) => {
      context.exitCode = await runTop(options, context.io);
    });
}
