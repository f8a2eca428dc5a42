/**
 * The soak's command line (`npm run soak -- --minutes 4 --scenario all`) and the schedule it
 * implies. Everything here is pure: parsing and defaults, no process is started.
 */
import { parseArgs } from "node:util";

/** One scheduled disturbance. */
export type EventKind = "node-kill" | "instance-kill" | "rolling" | "freeze";

/** Which disturbances the default schedule holds. */
export type Scenario = "chaos" | "frozen" | "all";

/** Shares of the request kinds each load loop draws from. */
export interface Mix {
  get: number;
  keyed: number;
  unkeyed: number;
}

/** What a soak run is told to do; see {@link HELP} for every flag. */
export interface SoakOptions {
  /** Total run time in seconds (warm-up included). */
  seconds: number;
  scenario: Scenario;
  /** Explicit events in order (`--events`), replacing the scenario's schedule. */
  events: EventKind[] | undefined;
  /** Closed loops through the gateway. */
  loops: number;
  /** Each loop sends one kind only (loops split by the mix), instead of drawing each request's kind. */
  loopsByKind: boolean;
  mix: Mix;
  /** Service instances (child processes). */
  instances: number;
  /** Seconds of load before the first event. */
  warmupSeconds: number;
  /** Quiet seconds after each event: the window its dip is measured in. */
  gapSeconds: number;
  /** How long a SIGKILLed node stays down before it is started again. */
  nodeDownMs: number;
  /** How long after its SIGKILL an instance is started again (what a supervisor would do). */
  instanceRestartMs: number;
  /** How long the frozen instance stays SIGSTOPped. */
  freezeSeconds: number;
  /** nats-server `ping_interval` (seconds) and `ping_max`; undefined: nats-server's defaults. */
  ping: { intervalSeconds: number; max: number } | undefined;
  /** nats-server `write_deadline` in ms (`--write-deadline`); undefined: nats-server's default (10 s). */
  writeDeadlineMs: number | undefined;
  /** Enables JetStream on every node (for services that keep state in KV, e.g. deduplication). */
  jetstream: boolean;
  /** Extra environment of every instance (`--instance-env K=V`). */
  instanceEnv: Record<string, string>;
  /** JSON merged into every instance's `serve()` options (`--serve-options`). */
  serveOptions: string | undefined;
  /** The gateway's outlier ejection (`--no-eject` turns it off: its configuration's `eject: false`). */
  eject: boolean;
  /** Where to write the JSON report. */
  jsonFile: string | undefined;
  /** Targets that turn the exit code non-zero. */
  targets: Targets;
}

/** Limits checked at the end; the first two always apply, the rest only when given. */
export interface Targets {
  /** Failed idempotent requests (GET and keyed POST) allowed (default 0). */
  maxFailedIdempotent: number;
  /** Processes that may die unexpectedly (default 0). */
  maxUnexpectedDeaths: number;
  /** Keys of keyed POSTs executed more than once allowed. */
  maxKeyedDuplicates: number | undefined;
  /** Keys of unkeyed POSTs executed more than once allowed. */
  maxUnkeyedDuplicates: number | undefined;
  /** Throughput while one instance is frozen ÷ before, at least. */
  minFrozenRatio: number | undefined;
  /** Longest dip (time below half the pre-kill rate) after any SIGKILL, in ms. */
  maxDipMs: number | undefined;
}

/** The usage text of `npm run soak -- --help`. */
export const HELP = `npm run soak -- [options]

A chaos run: a 3-node nats-server cluster on free loopback ports, service instances as child
processes, the natsmesh gateway in front, closed-loop load through it, and disturbances on a
schedule. Prints a report; exits 1 when a target is missed (see RELIABILITY.md).

  --minutes N             run time (default 4; fractions allowed)
  --seconds N             run time in seconds (overrides --minutes)
  --scenario S            chaos | frozen | all (default all)
  --events LIST           explicit schedule instead, in order, comma-separated:
                          node-kill, instance-kill, rolling, freeze
  --loops N               closed loops through the gateway (default 24)
  --mix G,K,U             shares of GET, keyed POST, unkeyed POST (default 2,1,1)
  --loops-by-kind         each loop sends one kind only, loops split by the mix (independent
                          clients: a stalled kind does not hold up the others' loops)
  --instances N           service instances (default 4)
  --warmup S              seconds before the first event (default 15)
  --gap S                 quiet seconds after each event (default 10)
  --node-down MS          a killed node stays down this long (default 2000)
  --instance-restart MS   a killed instance is started again after (default 500)
  --freeze S              seconds the frozen instance stays SIGSTOPped (default 30)
  --ping-interval S       nats-server ping_interval in seconds (default 2)
  --ping-max N            nats-server ping_max (default 2)
  --nats-defaults         leave ping_interval and ping_max at nats-server's defaults (2 min, 2)
  --write-deadline MS     nats-server write_deadline (default: nats-server's, 10 s)
  --jetstream             enable JetStream on every node (for KV-backed features)
  --instance-env K=V      extra environment for every instance (repeatable)
  --serve-options JSON    merged into every instance's serve() options
  --no-eject              turn the gateway's outlier ejection off (its config's eject: false)
  --json FILE             also write the report as JSON
  --max-failed-idempotent N   (default 0)
  --max-unexpected-deaths N   (default 0)
  --max-keyed-duplicates N    --max-unkeyed-duplicates N
  --min-frozen-ratio R        --max-dip-ms MS
  --help`;

const EVENT_KINDS: readonly EventKind[] = ["node-kill", "instance-kill", "rolling", "freeze"];

/** A command-line mistake; the runner prints it with the usage and exits 2. */
export class SoakUsageError extends Error {
  override name = "SoakUsageError";
}

function num(name: string, text: string | undefined, fallback: number, min = 0): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min)
    throw new SoakUsageError(`--${name} '${text}': expected a number ≥ ${min}`);
  return n;
}

function optionalNum(name: string, text: string | undefined): number | undefined {
  return text === undefined ? undefined : num(name, text, 0);
}

function parseMix(text: string | undefined): Mix {
  if (text === undefined) return { get: 2, keyed: 1, unkeyed: 1 };
  const parts = text.split(",").map(Number);
  if (parts.length !== 3 || parts.some((n) => !Number.isFinite(n) || n < 0) || parts.every((n) => n === 0))
    throw new SoakUsageError(`--mix '${text}': expected three shares G,K,U, e.g. 2,1,1`);
  return { get: parts[0]!, keyed: parts[1]!, unkeyed: parts[2]! };
}

function parseEvents(text: string | undefined): EventKind[] | undefined {
  if (text === undefined) return undefined;
  return text
    .split(",")
    .filter(Boolean)
    .map((e) => {
      if (!EVENT_KINDS.includes(e as EventKind))
        throw new SoakUsageError(`--events: '${e}' is not one of ${EVENT_KINDS.join(", ")}`);
      return e as EventKind;
    });
}

function parseEnv(pairs: string[] | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new SoakUsageError(`--instance-env '${pair}': expected KEY=VALUE`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

/**
 * Parses the soak's arguments.
 *
 * @returns the options, or `undefined` for `--help`
 * @throws {@link SoakUsageError} for an unknown flag or a bad value
 */
export function parseSoakArgs(args: string[]): SoakOptions | undefined {
  let values: ReturnType<typeof parse>["values"];
  try {
    values = parse(args).values;
  } catch (err) {
    throw new SoakUsageError((err as Error).message);
  }
  if (values.help) return undefined;
  const scenario = values.scenario ?? "all";
  if (scenario !== "chaos" && scenario !== "frozen" && scenario !== "all")
    throw new SoakUsageError(`--scenario '${scenario}': expected chaos, frozen or all`);
  if (values["serve-options"] !== undefined) {
    try {
      JSON.parse(values["serve-options"]);
    } catch {
      throw new SoakUsageError(`--serve-options: not JSON: ${values["serve-options"]}`);
    }
  }
  const minutes = num("minutes", values.minutes, 4);
  return {
    seconds: num("seconds", values.seconds, minutes * 60, 1),
    scenario,
    events: parseEvents(values.events),
    loops: num("loops", values.loops, 24, 1),
    loopsByKind: values["loops-by-kind"] ?? false,
    mix: parseMix(values.mix),
    instances: num("instances", values.instances, 4, 2),
    warmupSeconds: num("warmup", values.warmup, 15),
    gapSeconds: num("gap", values.gap, 10, 1),
    nodeDownMs: num("node-down", values["node-down"], 2000),
    instanceRestartMs: num("instance-restart", values["instance-restart"], 500),
    freezeSeconds: num("freeze", values.freeze, 30, 1),
    ping: values["nats-defaults"]
      ? undefined
      : {
          intervalSeconds: num("ping-interval", values["ping-interval"], 2, 1),
          max: num("ping-max", values["ping-max"], 2, 1),
        },
    writeDeadlineMs: optionalNum("write-deadline", values["write-deadline"]),
    jetstream: values.jetstream ?? false,
    instanceEnv: parseEnv(values["instance-env"]),
    serveOptions: values["serve-options"],
    eject: !values["no-eject"],
    jsonFile: values.json,
    targets: {
      maxFailedIdempotent: num("max-failed-idempotent", values["max-failed-idempotent"], 0),
      maxUnexpectedDeaths: num("max-unexpected-deaths", values["max-unexpected-deaths"], 0),
      maxKeyedDuplicates: optionalNum("max-keyed-duplicates", values["max-keyed-duplicates"]),
      maxUnkeyedDuplicates: optionalNum("max-unkeyed-duplicates", values["max-unkeyed-duplicates"]),
      minFrozenRatio: optionalNum("min-frozen-ratio", values["min-frozen-ratio"]),
      maxDipMs: optionalNum("max-dip-ms", values["max-dip-ms"]),
    },
  };
}

function parse(args: string[]) {
  const str = { type: "string" } as const;
  return parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      minutes: str,
      seconds: str,
      scenario: str,
      events: str,
      loops: str,
      "loops-by-kind": { type: "boolean" },
      mix: str,
      instances: str,
      warmup: str,
      gap: str,
      "node-down": str,
      "instance-restart": str,
      freeze: str,
      "ping-interval": str,
      "ping-max": str,
      "nats-defaults": { type: "boolean" },
      "write-deadline": str,
      jetstream: { type: "boolean" },
      "instance-env": { type: "string", multiple: true },
      "serve-options": str,
      "no-eject": { type: "boolean" },
      json: str,
      "max-failed-idempotent": str,
      "max-unexpected-deaths": str,
      "max-keyed-duplicates": str,
      "max-unkeyed-duplicates": str,
      "min-frozen-ratio": str,
      "max-dip-ms": str,
      help: { type: "boolean" },
    },
  });
}

/**
 * The events of a scenario, in order; the runner starts each only while enough time is left, so the
 * list is longer than any run needs. `frozen` is one freeze; `chaos` alternates node and instance
 * SIGKILLs with one rolling restart after the first six; `all` is the freeze first (so its
 * before-rate is undisturbed), then chaos.
 */
export function scheduleFor(scenario: Scenario): EventKind[] {
  const chaos: EventKind[] = [];
  for (let i = 0; i < 50; i++) {
    chaos.push(i % 2 === 0 ? "node-kill" : "instance-kill");
    if (i === 5) chaos.push("rolling");
  }
  if (scenario === "frozen") return ["freeze"];
  if (scenario === "chaos") return chaos;
  return ["freeze", ...chaos];
}
