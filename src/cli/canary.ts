/**
 * `natsmesh canary <service>`: prints, or writes into a mappings include file, the nats-server
 * subject mappings that split a service's requests by weight between prefixes.
 *
 * @module
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { assertPrefix, assertServiceName, serviceSubject } from "../protocol/index.js";
import {
  type CanarySplit,
  canaryMapping,
  MappingError,
  mergeMappingsFile,
  renderMappings,
} from "../traffic/index.js";
import { CliError } from "./cli-error.js";
import type { CliContext } from "./context.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";
import { type CliIo, writeAll } from "./io.js";
import { collect } from "./option-parsers.js";

/** Options of `natsmesh canary`, as commander parses them. */
export interface CanaryCliOptions {
  /** `--split PREFIX=WEIGHT[@CLUSTER]`, repeatable. */
  split?: string[];
  /** `--fault WEIGHT`: percent sent to the fault subject. */
  fault?: string;
  /** `--fault-prefix`: prefix of the fault subject. */
  faultPrefix?: string;
  /** `--prefix`: the prefix callers use (default `NATS_PREFIX` or `mesh`). */
  prefix?: string;
  /** `--write FILE`: merge into this mappings include file instead of printing. */
  write?: string;
  /** `--remove`: with `--write`, remove the service's mapping. */
  remove?: boolean;
  /** `--server-version`: the nats-server's version (needed for `@CLUSTER` splits). */
  serverVersion?: string;
}

const HELP_AFTER = `
Instances of each version serve with their own prefix (serve({ prefix: "v2" }) or NATS_PREFIX=v2);
callers keep publishing to <prefix>.<service>.<method>, and the server's mappings send each request
to one destination by weight. Weights are whole percents; what they leave below 100% stays on the
callers' subject. --fault sends a share to <fault-prefix>.<service>.<method>: nobody serves it (503
at once) unless a 'natsmesh fault' process does (chosen status, or delay then forward).

--write merges the mapping into a file natsmesh owns (other services' mappings in it are kept); the
server's configuration includes it once (include "mesh-mappings.conf"), and a reload (nats-server
--signal reload, or kill -HUP) applies new weights to the next requests.

Per-cluster splits (--split v2=10@east) need nats-server 2.10 or later: 2.9 sums the weights of
cluster-scoped destinations across clusters. Pass --server-version to allow them. On 2.9, give each
cluster's servers a mappings file of their own instead (a mapping applies where a request is published).

Examples:
  natsmesh canary weather --split v1=90 --split v2=10
  natsmesh canary weather --split v1=95 --fault 5 --write /etc/nats/mesh-mappings.conf
  natsmesh canary weather --remove --write /etc/nats/mesh-mappings.conf`;

/**
 * Parses a `--split` value: `PREFIX=WEIGHT`, optionally `@CLUSTER`.
 *
 * @param text - the flag's value, e.g. `v2=10` or `v2=10@east`
 * @returns the split
 * @throws {@link CliError} naming the flag and what is wrong
 * @example
 * ```ts
 * parseSplitFlag("v2=10@east"); // { prefix: "v2", weight: 10, cluster: "east" }
 * ```
 */
export function parseSplitFlag(text: string): CanarySplit {
  const m = /^([^=@]+)=(\d+)%?(?:@([^=@]+))?$/.exec(text.trim());
  if (!m)
    throw new CliError(`--split '${text}': expected PREFIX=WEIGHT (e.g. v2=10) or PREFIX=WEIGHT@CLUSTER`);
  return { prefix: m[1]!, weight: Number(m[2]), ...(m[3] !== undefined && { cluster: m[3] }) };
}

function parseFault(text: string): number {
  if (!/^\d+%?$/.test(text.trim())) throw new CliError(`--fault '${text}': expected a whole percent, e.g. 5`);
  return Number.parseInt(text, 10);
}

/**
 * Runs `natsmesh canary`: prints the mapping, or merges it into (or with `remove`, out of) the
 * file given by `write`, replacing that file atomically.
 *
 * @param service - the service, e.g. `weather`
 * @param options - the parsed options
 * @param io - streams and environment
 * @returns {@link EXIT_CODES.ok}
 * @throws {@link CliError} for bad flags, an impossible split, or a file natsmesh cannot merge into
 * @example
 * ```ts
 * await runCanary("weather", { split: ["v1=90", "v2=10"] }, processIo());
 * ```
 */
export async function runCanary(service: string, options: CanaryCliOptions, io: CliIo): Promise<ExitCode> {
  const from = options.prefix ?? io.env.NATS_PREFIX ?? "mesh";
  try {
    if (options.remove) {
      if (options.write === undefined) throw new CliError("--remove needs --write FILE");
      const subject = sourceSubject(from, service);
      await replaceFile(options.write, mergeMappingsFile(await readExisting(options.write), subject));
      await writeAll(
        io.stdout,
        `removed the mapping of ${subject} from ${options.write}; reload nats-server\n`,
      );
      return EXIT_CODES.ok;
    }
    const splits = (options.split ?? []).map(parseSplitFlag);
    const fault =
      options.fault === undefined
        ? undefined
        : { weight: parseFault(options.fault), prefix: options.faultPrefix };
    const mapping = canaryMapping({ service, from, splits, fault, serverVersion: options.serverVersion });
    if (options.write === undefined) {
      await writeAll(io.stdout, renderMappings([mapping]));
      return EXIT_CODES.ok;
    }
    await replaceFile(options.write, mergeMappingsFile(await readExisting(options.write), mapping));
    const shares = mapping.destinations.map((d) => `${d.destination} ${d.weight}%`).join(", ");
    await writeAll(
      io.stdout,
      `wrote ${mapping.subject} -> ${shares} to ${options.write}; reload nats-server\n`,
    );
    return EXIT_CODES.ok;
  } catch (err) {
    if (err instanceof MappingError) throw new CliError(err.message, { cause: err });
    throw err;
  }
}

/** The subject a service's callers publish to, `<from>.<service>.*`, checked like a mapping's. */
function sourceSubject(from: string, service: string): string {
  try {
    return serviceSubject(assertPrefix(from), assertServiceName(service));
  } catch (err) {
    throw new CliError((err as Error).message, { cause: err });
  }
}

async function readExisting(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** Writes beside the file and renames, so a server reloading meanwhile reads the old or the new text. */
async function replaceFile(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, text);
    await rename(tmp, file);
  } catch (err) {
    throw new CliError(`cannot write ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Adds the `canary` command to the program.
 *
 * @param program - the root command
 * @param context - streams, environment and exit code of the run
 * @returns the `canary` command
 * @example
 * ```ts
 * addCanaryCommand(new Command("natsmesh"), { io: processIo(), exitCode: EXIT_CODES.ok });
 * ```
 */
export function addCanaryCommand(program: Command, context: CliContext): Command {
  return program
    .command("canary")
    .description("print or write the nats-server mappings that split a service by weight between prefixes")
    .argument("<service>", "the service, e.g. weather")
    .option(
      "--split <prefix=weight>",
      "a destination prefix and its percent (repeatable), e.g. v2=10",
      collect,
    )
    .option("--fault <weight>", "percent sent to a fault subject (nobody serves it, or natsmesh fault)")
    .option("--fault-prefix <prefix>", "prefix of the fault subject (default natsmesh-fault)")
    .option("--prefix <prefix>", "the prefix callers publish with (default NATS_PREFIX or mesh)")
    .option("--write <file>", "merge into this mappings include file instead of printing")
    .option("--remove", "with --write: remove the service's mapping")
    .option("--server-version <version>", "the nats-server's version (per-cluster splits need 2.10+)")
    .addHelpText("after", HELP_AFTER)
    .action(async (service: string, options: CanaryCliOptions) => {
      context.exitCode = await runCanary(service, options, context.io);
    });
}
