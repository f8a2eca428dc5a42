/**
 * Canary and fault-injection splits as nats-server subject mappings. Pure: builds the `mappings`
 * block that splits `<from>.<service>.*` by weight between prefixes, renders it as nats-server
 * configuration text, and merges it into a mappings include file written by natsmesh.
 *
 * nats-server facts this module relies on (measured on 2.9.10): weighted destinations that sum to
 * less than 100% leave the rest on the original subject; a reload (SIGHUP) applies new weights to
 * the next messages; before 2.10, weights of cluster-scoped destinations are summed across all
 * clusters, so per-cluster splits are refused for older servers.
 *
 * @module
 */
import {
  assertServiceName,
  brandError,
  ErrorCode,
  MeshError,
  PREFIX_PATTERN,
  serviceSubject,
} from "../protocol/index.js";

/**
 * One destination of a split: requests going to `prefix` instead of the callers' prefix.
 *
 * @example
 * ```ts
 * const split: CanarySplit = { prefix: "v2", weight: 10 }; // 10 % of "weather" to the instances serving with prefix v2
 * ```
 */
export interface CanarySplit {
  /** Subject prefix the destination's instances serve with, e.g. `v2` (`serve({ prefix: "v2" })`). */
  readonly prefix: string;
  /** Share of the requests, in whole percent from 0 to 100. */
  readonly weight: number;
  /** Only for callers connected to this cluster (nats-server 2.10 and later). */
  readonly cluster?: string | undefined;
}

/**
 * A share of requests sent to a prefix that nobody serves, or that a `natsmesh fault` process serves.
 *
 * @example
 * ```ts
 * const m = canaryMapping({ service: "weather", splits: [], fault: { weight: 5 } }); // 5 % answered by nobody or by `natsmesh fault`
 * ```
 */
export interface FaultSplit {
  /** Share of the requests, in whole percent. */
  readonly weight: number;
  /** Prefix of the fault subject (default {@link DEFAULT_FAULT_PREFIX}): `<prefix>.<service>.<method>`. */
  readonly prefix?: string | undefined;
}

/**
 * What {@link canaryMapping} builds a mapping from.
 *
 * @example
 * ```ts
 * const m = canaryMapping({
 *   service: "weather",
 *   from: "mesh",
 *   splits: [{ prefix: "v2", weight: 10 }],
 *   fault: { weight: 1 },
 *   serverVersion: "2.9.10",
 * });
 * ```
 */
export interface CanaryOptions {
  /** The service, e.g. `weather`. */
  readonly service: string;
  /** The prefix callers publish with (default `mesh`). */
  readonly from?: string | undefined;
  /** Weighted destinations; their weights and the fault's sum to at most 100. */
  readonly splits: readonly CanarySplit[];
  /** A share answered by nobody (503 at once) or by a `natsmesh fault` process. */
  readonly fault?: FaultSplit | undefined;
  /** Version of the nats-server that gets the mapping, e.g. `2.9.10`; needed for per-cluster splits. */
  readonly serverVersion?: string | undefined;
}

/**
 * One weighted destination of a {@link CanaryMapping}.
 *
 * @example
 * ```ts
 * for (const d of canaryMapping(options).destinations) console.log(d.destination, `${d.weight} %`, d.cluster ?? "");
 * ```
 */
export interface MappingDestination {
  /** Destination subject, with `{{wildcard(1)}}` standing for the method token. */
  readonly destination: string;
  /** Whole percent. */
  readonly weight: number;
  /** Cluster the destination applies to, if scoped. */
  readonly cluster?: string | undefined;
}

/**
 * A mapping of one service's subjects: the source subject and its weighted destinations.
 *
 * @example
 * ```ts
 * const m = canaryMapping({ service: "weather", splits: [{ prefix: "v2", weight: 10 }] });
 * await writeFile("mappings.conf", renderMappings([m])); // then reload nats-server (SIGHUP)
 * ```
 */
export interface CanaryMapping {
  /** The service. */
  readonly service: string;
  /** Source subject, e.g. `mesh.weather.*`. */
  readonly subject: string;
  /** Weighted destinations, in the order given (the fault last). */
  readonly destinations: readonly MappingDestination[];
  /** Percent left on the source subject (100 minus the weights). */
  readonly remainder: number;
}

/**
 * Default prefix of the fault subject: nothing serves `natsmesh-fault.<service>.*` unless told to.
 *
 * @example
 * ```ts
 * // nothing serves natsmesh-fault.weather.* until `natsmesh fault weather ...` runs:
 * await serveFault({ nc, service: "weather", prefix: DEFAULT_FAULT_PREFIX, status: 503 });
 * ```
 */
export const DEFAULT_FAULT_PREFIX = "natsmesh-fault";

/**
 * A split that cannot be expressed, or that this nats-server would apply wrongly.
 * Code `NM_ERR_CONFIG`, status 500.
 *
 * @example
 * ```ts
 * try { canaryMapping({ service: "weather", splits: [{ prefix: "v1", weight: 120 }] }); }
 * catch (err) { if (err instanceof MappingError) console.error(err.message); }
 * ```
 */
export class MappingError extends MeshError {
  static {
    brandError(MappingError, "MappingError");
  }

  /**
   * @param message - what is wrong
   * @example
   * ```ts
   * new MappingError("weights sum to 110%, more than 100%");
   * ```
   */
  constructor(message: string) {
    super(ErrorCode.Config, 500, message);
  }
}

/** `[major, minor]` of a version like `2.9.10` or `v2.10.0-beta`; undefined when unreadable. */
function majorMinor(version: string): [number, number] | undefined {
  const m = /^v?(\d+)\.(\d+)/.exec(version.trim());
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

function supportsClusterSplits(version: string | undefined): boolean {
  const v = version === undefined ? undefined : majorMinor(version);
  return v !== undefined && (v[0] > 2 || (v[0] === 2 && v[1] >= 10));
}

function checkPrefix(prefix: string, what: string): void {
  if (!PREFIX_PATTERN.test(prefix))
    throw new MappingError(`${what} '${prefix}' is not a valid subject prefix`);
}

function checkWeight(weight: number, what: string): void {
  if (!Number.isInteger(weight) || weight < 0 || weight > 100)
    throw new MappingError(`${what}: weight ${weight} must be a whole percent from 0 to 100`);
}

/**
 * Builds the mapping that splits a service's requests by weight between prefixes.
 *
 * @param options - service, callers' prefix, weighted destinations, fault share, server version
 * @returns the mapping, with what stays on the source subject
 * @throws {@link MappingError} for a bad service or prefix, weights outside 0..100 or summing past
 *   100, a destination equal to the source, a repeated destination, or per-cluster splits on a
 *   nats-server older than 2.10 (or of unknown version)
 * @example
 * ```ts
 * const m = canaryMapping({ service: "weather", splits: [{ prefix: "v1", weight: 90 }, { prefix: "v2", weight: 10 }] });
 * m.subject;      // "mesh.weather.*"
 * m.destinations; // [{ destination: "v1.weather.{{wildcard(1)}}", weight: 90 }, { destination: "v2.weather.{{wildcard(1)}}", weight: 10 }]
 * ```
 */
export function canaryMapping(options: CanaryOptions): CanaryMapping {
  const { service, from = "mesh", splits, fault } = options;
  checkPrefix(from, "source prefix");
  let source: string;
  try {
    source = serviceSubject(from, assertServiceName(service));
  } catch (err) {
    throw new MappingError((err as Error).message);
  }
  const all: Array<{ prefix: string; weight: number; cluster?: string | undefined; what: string }> = [
    ...splits.map((s) => ({ ...s, what: `split ${s.prefix}` })),
  ];
  if (fault) all.push({ prefix: fault.prefix ?? DEFAULT_FAULT_PREFIX, weight: fault.weight, what: "fault" });
  if (all.length === 0) throw new MappingError("a mapping needs at least one split or a fault share");
  const seen = new Set<string>();
  const clustered = all.some((d) => d.cluster !== undefined);
  if (clustered && !supportsClusterSplits(options.serverVersion)) {
    throw new MappingError(
      `per-cluster splits need nats-server 2.10 or later (server version: ${options.serverVersion ?? "unknown"}): ` +
        "2.9 sums the weights of cluster-scoped destinations across all clusters, so each cluster would get " +
        "a wrong split; give each cluster its own mapping in its servers' configuration instead",
    );
  }
  const destinations: MappingDestination[] = [];
  for (const d of all) {
    checkPrefix(d.prefix, d.what);
    checkWeight(d.weight, d.what);
    if (d.prefix === from)
      throw new MappingError(
        `${d.what}: the destination is the source prefix '${from}'; leave its share as the remainder instead`,
      );
    const key = `${d.prefix}@${d.cluster ?? ""}`;
    if (seen.has(key)) throw new MappingError(`${d.what}: prefix '${d.prefix}' is given twice`);
    seen.add(key);
    if (d.cluster !== undefined && !/^[A-Za-z0-9_-]+$/.test(d.cluster))
      throw new MappingError(`${d.what}: invalid cluster name '${d.cluster}'`);
    destinations.push({
      destination: `${d.prefix}.${service}.{{wildcard(1)}}`,
      weight: d.weight,
      ...(d.cluster !== undefined && { cluster: d.cluster }),
    });
  }
  // With cluster scopes, each cluster's weights are a split of their own.
  const sums = new Map<string, number>();
  for (const d of destinations) sums.set(d.cluster ?? "", (sums.get(d.cluster ?? "") ?? 0) + d.weight);
  for (const [cluster, s] of sums) {
    if (s > 100)
      throw new MappingError(
        `weights sum to ${s}%${cluster ? ` in cluster ${cluster}` : ""}, more than 100%`,
      );
  }
  return { service, subject: source, destinations, remainder: clustered ? 0 : 100 - (sums.get("") ?? 0) };
}

const BEGIN = "# begin natsmesh canary ";
const END = "# end natsmesh canary ";

/** The lines of one mapping inside a `mappings` block, between natsmesh's markers. */
function section(m: CanaryMapping): string[] {
  const lines = [`  ${BEGIN}${m.subject}`];
  if (m.remainder > 0)
    lines.push(
      `  # ${m.remainder}% stays on ${m.subject} (served by instances with that prefix, or no responders)`,
    );
  lines.push(`  ${JSON.stringify(m.subject)}: [`);
  for (const d of m.destinations) {
    const cluster = d.cluster === undefined ? "" : `, cluster: ${JSON.stringify(d.cluster)}`;
    lines.push(`    { destination: ${JSON.stringify(d.destination)}, weight: ${d.weight}%${cluster} }`);
  }
  lines.push("  ]", `  ${END}${m.subject}`);
  return lines;
}

function block(sections: readonly string[][]): string {
  const header =
    "# Written by natsmesh canary: nats-server subject mappings. Include it from the server's\n" +
    '# configuration (include "mesh-mappings.conf"), then reload: nats-server --signal reload\n';
  if (sections.length === 0) return `${header}mappings {}\n`;
  return `${header}mappings {\n${sections.map((s) => s.join("\n")).join("\n")}\n}\n`;
}

/**
 * Renders mappings as a nats-server `mappings { ... }` block, each between natsmesh's markers.
 *
 * @param mappings - the mappings, one per source subject
 * @returns configuration text (top level), ending with a newline
 * @example
 * ```ts
 * renderMappings([canaryMapping({ service: "weather", splits: [{ prefix: "v2", weight: 10 }] })]);
 * // mappings {
 * //   "mesh.weather.*": [
 * //     { destination: "v2.weather.{{wildcard(1)}}", weight: 10% }
 * //   ]
 * // }
 * ```
 */
export function renderMappings(mappings: readonly CanaryMapping[]): string {
  return block(mappings.map(section));
}

/**
 * Puts a mapping into the text of a mappings include file written by natsmesh: replaces the
 * section of the same source subject, or adds it; other services' sections stay as they were.
 * With `mapping` a subject string instead, removes that subject's section.
 *
 * @param existing - the file's current text ("" when it does not exist yet)
 * @param mapping - the mapping to write, or the source subject whose section to remove
 * @returns the new text of the file
 * @throws {@link MappingError} when `existing` holds configuration natsmesh did not write
 *   (anything outside its markers but the `mappings {` and `}` lines and comments)
 * @example
 * ```ts
 * const text = mergeMappingsFile(await readFile(path, "utf8").catch(() => ""), mapping);
 * await writeFile(path, text);
 * ```
 */
export function mergeMappingsFile(existing: string, mapping: CanaryMapping | string): string {
  const sections = new Map<string, string[]>();
  let current: { subject: string; lines: string[] } | undefined;
  for (const raw of existing.split("\n")) {
    const line = raw.trim();
    if (current) {
      current.lines.push(raw);
      if (line === `${END}${current.subject}`) {
        sections.set(current.subject, current.lines);
        current = undefined;
      }
      continue;
    }
    if (line.startsWith(BEGIN)) {
      current = { subject: line.slice(BEGIN.length), lines: [raw] };
      continue;
    }
    if (
      line === "" ||
      line.startsWith("#") ||
      line === "mappings {" ||
      line === "}" ||
      line === "mappings {}"
    )
      continue;
    throw new MappingError(
      `the mappings file holds configuration natsmesh canary did not write: '${line}'; write to a file of its own and include it`,
    );
  }
  if (current) throw new MappingError(`the mappings file's section for ${current.subject} has no end marker`);
  if (typeof mapping === "string") sections.delete(mapping);
  else sections.set(mapping.subject, section(mapping));
  return block([...sections.values()]);
}
