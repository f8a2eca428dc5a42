/**
 * The JSON documents of the NATS micro protocol (ADR-32, schemas `io.nats.micro.v1.*`) for a natsmesh
 * service instance. Pure functions: no I/O.
 *
 * @module
 */
import { microName } from "./names.js";

/** Subject prefix of the micro protocol's discovery requests. */
export const SRV_PREFIX = "$SRV";

/**
 * Discovery verbs: the second token of `$SRV.<verb>[.<name>[.<id>]]`.
 *
 * @example
 * ```ts
 * const stats = await queryServices(nc, MicroVerb.Stats, { service: "weather" });
 * ```
 */
export const MicroVerb = {
  /** Who is there: name, id, version. */
  Ping: "PING",
  /** What it serves: description and endpoints. */
  Info: "INFO",
  /** How it is doing: requests, errors, processing time. */
  Stats: "STATS",
} as const;
/**
 * One of {@link MicroVerb}.
 *
 * @example
 * ```ts
 * const verb: MicroVerb = "STATS"; // or "PING", "INFO"
 * const replies = await queryServices(nc, verb, { service: "weather" });
 * ```
 */
export type MicroVerb = (typeof MicroVerb)[keyof typeof MicroVerb];

/** The `type` field of each response. */
export const MicroResponseType = {
  Ping: "io.nats.micro.v1.ping_response",
  Info: "io.nats.micro.v1.info_response",
  Stats: "io.nats.micro.v1.stats_response",
} as const;

/**
 * Metadata keys natsmesh adds to every service (they override user metadata of the same name).
 *
 * @example
 * ```ts
 * const [reply] = await queryServices(nc, "INFO", { service: "billing.invoices" });
 * reply?.response.metadata[MetadataKey.Service]; // "billing.invoices" (the micro name is billing_invoices)
 * ```
 */
export const MetadataKey = {
  /** The natsmesh service name, dots included (the micro name has them as `_`). */
  Service: "natsmesh.service",
  /** The subject prefix the instance serves under (`mesh`, `v2`...). */
  Prefix: "natsmesh.prefix",
  /** Version of the natsmesh wire protocol the endpoint speaks (PROTOCOL.md). */
  Protocol: "natsmesh.protocol",
  /** On the `http` endpoint: the subject of requests named to this instance (`<prefix>.<service>.$I.<id>.*`, PROTOCOL.md §10). */
  InstanceSubject: "natsmesh.instance_subject",
  /** On the `http` endpoint: the subject of requests to every instance (`<prefix>.<service>.$ALL.*`). */
  EverySubject: "natsmesh.every_subject",
} as const;

/** Name of the one endpoint of a natsmesh service. */
export const ENDPOINT_NAME = "http";

/**
 * Fields every response carries.
 *
 * @example
 * ```ts
 * for (const { response } of await queryServices(nc, "PING")) console.log(response.name, response.id, response.version);
 * ```
 */
export interface MicroIdentity {
  /** Micro service name (`[A-Za-z0-9_-]+`). */
  name: string;
  /** Instance id. */
  id: string;
  /** Semantic version. */
  version: string;
  /** Free-form string metadata. */
  metadata: Record<string, string>;
}

/**
 * `$SRV.PING` response.
 *
 * @example
 * ```ts
 * const pings = await queryServices(nc, "PING", { service: "weather" });
 * console.log(`${pings.length} instances of weather`);
 * ```
 */
export interface MicroPingResponse extends MicroIdentity {
  /** `io.nats.micro.v1.ping_response`. */
  type: typeof MicroResponseType.Ping;
}

/**
 * One endpoint in an `$SRV.INFO` response.
 *
 * @example
 * ```ts
 * const [info] = await queryServices(nc, "INFO", { service: "weather" });
 * for (const e of info?.response.endpoints ?? []) console.log(e.name, e.subject, e.queue_group);
 * ```
 */
export interface MicroEndpointInfo {
  /** Endpoint name: `http` for natsmesh. */
  name: string;
  /** Subject the endpoint listens on, `<prefix>.<service>.*` for natsmesh. */
  subject: string;
  /** Queue group of the endpoint: the service name for natsmesh. */
  queue_group: string;
  /** The endpoint's metadata. */
  metadata: Record<string, string>;
}

/**
 * `$SRV.INFO` response.
 *
 * @example
 * ```ts
 * for (const { response } of await queryServices(nc, "INFO", { service: "weather" }))
 *   console.log(response.id, response.description, response.endpoints.map((e) => e.subject));
 * ```
 */
export interface MicroInfoResponse extends MicroIdentity {
  /** `io.nats.micro.v1.info_response`. */
  type: typeof MicroResponseType.Info;
  /** The service's description (may be empty). */
  description: string;
  /** Its endpoints (one for natsmesh). */
  endpoints: MicroEndpointInfo[];
}

/**
 * One endpoint in an `$SRV.STATS` response; times in nanoseconds.
 *
 * @example
 * ```ts
 * const [stats] = await queryServices(nc, "STATS", { service: "weather" });
 * for (const e of stats?.response.endpoints ?? [])
 *   console.log(e.name, e.num_requests, e.num_errors, `${e.average_processing_time / 1e6} ms mean`);
 * ```
 */
export interface MicroEndpointStats {
  /** Endpoint name. */
  name: string;
  /** Subject the endpoint listens on. */
  subject: string;
  /** Queue group of the endpoint. */
  queue_group: string;
  /** Requests handled since the instance started. */
  num_requests: number;
  /** Requests that ended in an error (status ≥ 500, malformed messages). */
  num_errors: number;
  /** The last error, `""` when none. */
  last_error: string;
  /** Total handler time, in nanoseconds. */
  processing_time: number;
  /** `processing_time / num_requests`, in nanoseconds (0 before the first request). */
  average_processing_time: number;
  /**
   * The endpoint's own figures (ADR-32's free-form `data`): natsmesh puts `cancelled`, the requests
   * whose caller gave up before the answer (counted in `num_requests`, never in `num_errors`).
   * Other micro services may put anything, or nothing.
   */
  data?: {
    /** Requests whose caller gave up before the answer. */
    cancelled?: number;
  } & Record<string, unknown>;
}

/**
 * `$SRV.STATS` response.
 *
 * @example
 * ```ts
 * for (const { response } of await queryServices(nc, "STATS", { service: "weather" }))
 *   console.log(response.id, "up since", response.started);
 * ```
 */
export interface MicroStatsResponse extends MicroIdentity {
  /** `io.nats.micro.v1.stats_response`. */
  type: typeof MicroResponseType.Stats;
  /** When the instance started, RFC 3339. */
  started: string;
  /** Figures per endpoint (one for natsmesh). */
  endpoints: MicroEndpointStats[];
}

/**
 * The response type of each verb.
 *
 * @example
 * ```ts
 * const info: MicroResponses["INFO"][] = (await queryServices(nc, "INFO")).map((r) => r.response);
 * ```
 */
export interface MicroResponses {
  /** The answer to `$SRV.PING`. */
  PING: MicroPingResponse;
  /** The answer to `$SRV.INFO`. */
  INFO: MicroInfoResponse;
  /** The answer to `$SRV.STATS`. */
  STATS: MicroStatsResponse;
}

/** What an instance says about itself. */
export interface MicroDescription extends MicroIdentity {
  description: string;
  /** RFC 3339 start time. */
  started: string;
  endpoint: MicroEndpointInfo;
}

/** What {@link describeInstance} builds a description from. */
export interface InstanceFacts {
  /** natsmesh service name (dots allowed). */
  service: string;
  /** Subject prefix. */
  prefix: string;
  /** Subject the instance listens on, `<prefix>.<service>.*`. */
  subject: string;
  /** Queue group. */
  queue: string;
  /** Instance id. */
  instance: string;
  /** Semantic version. */
  version: string;
  /** Description (may be empty). */
  description: string;
  /** User metadata. */
  metadata: Record<string, string>;
  /** When the instance started. */
  started: Date;
  /** The subjects it also serves without a queue group (PROTOCOL.md §10), when `direct` is on. */
  direct?: { instance: string; every: string } | undefined;
}

/** Counters of the endpoint, read when a stats request arrives. */
export interface EndpointCounters {
  /** Requests handled (answered, or dropped for want of a reply subject). */
  requests: number;
  /** Answers with status ≥ 500, and malformed messages. */
  errors: number;
  /** Description of the last error, `""` when none. */
  lastError: string;
  /** Total handler time, in nanoseconds. */
  processingNanos: number;
  /** Requests cancelled by their caller before the answer (also counted in `requests`). */
  cancelled: number;
}

/**
 * Describes an instance for the micro protocol: its micro name (see {@link microName}), metadata
 * (user keys plus `natsmesh.service`, `natsmesh.prefix`, `natsmesh.protocol`) and its one endpoint,
 * `http`, on the service subject.
 *
 * @param facts - the instance's settings
 * @returns the description the responses are built from
 * @example
 * ```ts
 * const d = describeInstance({ service: "weather", prefix: "mesh", subject: "mesh.weather.*",
 *   queue: "weather", instance: "a1", version: "1.0.0", description: "", metadata: {}, started: new Date() });
 * d.endpoint.subject; // "mesh.weather.*"
 * ```
 */
export function describeInstance(facts: InstanceFacts): MicroDescription {
  return {
    name: microName(facts.service),
    id: facts.instance,
    version: facts.version,
    metadata: {
      ...facts.metadata,
      [MetadataKey.Service]: facts.service,
      [MetadataKey.Prefix]: facts.prefix,
      [MetadataKey.Protocol]: "1",
    },
    description: facts.description,
    started: facts.started.toISOString(),
    endpoint: {
      name: ENDPOINT_NAME,
      subject: facts.subject,
      queue_group: facts.queue,
      // Counted in this one endpoint's STATS: they are the same handler, so the subjects are
      // metadata of `http` rather than endpoints of their own.
      metadata: facts.direct
        ? {
            [MetadataKey.InstanceSubject]: facts.direct.instance,
            [MetadataKey.EverySubject]: facts.direct.every,
          }
        : {},
    },
  };
}

function identity(d: MicroDescription): MicroIdentity {
  return { name: d.name, id: d.id, version: d.version, metadata: d.metadata };
}

/** The `$SRV.PING` response of an instance. */
export function pingResponse(d: MicroDescription): MicroPingResponse {
  return { type: MicroResponseType.Ping, ...identity(d) };
}

/** The `$SRV.INFO` response of an instance. */
export function infoResponse(d: MicroDescription): MicroInfoResponse {
  return {
    type: MicroResponseType.Info,
    ...identity(d),
    description: d.description,
    endpoints: [d.endpoint],
  };
}

/**
 * The `$SRV.STATS` response of an instance.
 *
 * @param d - the instance's description
 * @param c - its counters now
 * @returns the response; `average_processing_time` is 0 before the first request
 */
export function statsResponse(d: MicroDescription, c: EndpointCounters): MicroStatsResponse {
  const total = Math.round(c.processingNanos);
  return {
    type: MicroResponseType.Stats,
    ...identity(d),
    started: d.started,
    endpoints: [
      {
        name: d.endpoint.name,
        subject: d.endpoint.subject,
        queue_group: d.endpoint.queue_group,
        num_requests: c.requests,
        num_errors: c.errors,
        last_error: c.lastError,
        processing_time: total,
        average_processing_time: c.requests > 0 ? Math.round(total / c.requests) : 0,
        data: { cancelled: c.cancelled },
      },
    ],
  };
}

/**
 * The natsmesh name of the service a response comes from: the `natsmesh.service` metadata, else
 * (a micro service that is not natsmesh's) the micro name.
 *
 * @example
 * ```ts
 * serviceNameOf({ name: "billing_invoices", metadata: { "natsmesh.service": "billing.invoices" } }); // "billing.invoices"
 * ```
 */
export function serviceNameOf(
  r: Pick<MicroIdentity, "name"> & { metadata?: Record<string, string> | null },
): string {
  return r.metadata?.[MetadataKey.Service] ?? r.name;
}

/**
 * The discovery subject: `$SRV.<verb>`, `$SRV.<verb>.<name>` or `$SRV.<verb>.<name>.<id>`.
 *
 * @param verb - PING, INFO or STATS
 * @param name - micro service name (optional)
 * @param id - instance id (only with a name)
 * @example
 * ```ts
 * controlSubject("PING", "weather"); // "$SRV.PING.weather"
 * ```
 */
export function controlSubject(verb: MicroVerb, name?: string, id?: string): string {
  if (!name) return `${SRV_PREFIX}.${verb}`;
  return id ? `${SRV_PREFIX}.${verb}.${name}.${id}` : `${SRV_PREFIX}.${verb}.${name}`;
}
