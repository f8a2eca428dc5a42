/**
 * Asking the mesh which services run: the client side of `$SRV.PING|INFO|STATS`, collecting every
 * answer that arrives within a time window.
 *
 * @module
 */
import { Empty, type NatsConnection, NoRespondersError } from "@nats-io/nats-core";
import { controlSubject, type MicroResponses, type MicroVerb, serviceNameOf } from "./documents.js";
import { MICRO_NAME, microName } from "./names.js";

/**
 * Default time {@link queryServices} waits for answers, in milliseconds.
 *
 * @example
 * ```ts
 * await queryServices(nc, "PING", { timeout: DEFAULT_QUERY_TIMEOUT * 3 }); // wait 3 s for far instances
 * ```
 */
export const DEFAULT_QUERY_TIMEOUT = 1000;

/**
 * Options of {@link queryServices}.
 *
 * @example
 * ```ts
 * const replies = await queryServices(nc, "STATS", { service: "weather", id: "hx2Kq0l1eDzNaBvVQhTz5A", timeout: 2_000 });
 * ```
 */
export interface QueryOptions {
  /** Only this service: a natsmesh name (`billing.invoices`) or another micro service's name. */
  service?: string;
  /** Only this instance (needs `service`). */
  id?: string;
  /** Milliseconds to collect answers (default 1000, at least 1). */
  timeout?: number;
}

/**
 * One answer, with the time it took to arrive.
 *
 * @example
 * ```ts
 * for (const { response, rtt } of await queryServices(nc, "PING")) console.log(response.id, `${rtt} ms`);
 * ```
 */
export interface QueryReply<T> {
  /** The parsed response. */
  response: T;
  /** Milliseconds from the request to this answer. */
  rtt: number;
}

/**
 * Sends `$SRV.<verb>[.<name>[.<id>]]` and collects every answer within `timeout` ms: one per running
 * micro service instance, natsmesh's and any other. With `service`, the request goes to the micro
 * name (dots → `_`) and only answers whose natsmesh name (or micro name) equals `service` are kept.
 *
 * @param nc - a connection
 * @param verb - `PING`, `INFO` or `STATS`
 * @param options - service, id, timeout
 * @returns the answers in arrival order (none when nobody answered)
 * @throws RangeError for a service or id that cannot name a micro service, or a timeout < 1
 * @example
 * ```ts
 * for (const { response, rtt } of await queryServices(nc, "PING", { service: "weather" })) {
 *   console.log(response.id, rtt);
 * }
 * ```
 */
export async function queryServices<V extends MicroVerb>(
  nc: NatsConnection,
  verb: V,
  { service, id, timeout = DEFAULT_QUERY_TIMEOUT }: QueryOptions = {},
): Promise<Array<QueryReply<MicroResponses[V]>>> {
  if (!Number.isInteger(timeout) || timeout < 1)
    throw new RangeError(`timeout must be ≥ 1 ms, got ${timeout}`);
  const name = service === undefined ? undefined : microName(service);
  if (name !== undefined && !MICRO_NAME.test(name)) throw new RangeError(`invalid service name '${service}'`);
  if (id !== undefined && (name === undefined || !MICRO_NAME.test(id))) {
    throw new RangeError(
      name === undefined ? "an instance id needs a service name" : `invalid instance id '${id}'`,
    );
  }
  const started = performance.now();
  const replies: Array<QueryReply<MicroResponses[V]>> = [];
  try {
    const answers = await nc.requestMany(controlSubject(verb, name, id), Empty, {
      strategy: "timer",
      maxWait: timeout,
    });
    for await (const msg of answers) {
      if (msg.data.length === 0) continue; // a no-responders status
      const rtt = performance.now() - started;
      let response: MicroResponses[V];
      try {
        response = msg.json<MicroResponses[V]>();
      } catch {
        continue; // not a micro answer
      }
      if (service === undefined || serviceNameOf(response) === service) replies.push({ response, rtt });
    }
  } catch (err) {
    if (!(err instanceof NoRespondersError)) throw err;
  }
  return replies;
}
