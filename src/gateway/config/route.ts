/**
 * A route as the configuration resolves it: what the router matches and the request handler serves.
 *
 * @module
 */
import type { HedgeSettings } from "../../traffic/hedge-policy.js";
import type { RetryPolicy } from "../../traffic/retry.js";
import type { Policy } from "../policies/types.js";

/** A validated route, ready to serve. */
export interface Route {
  /** Name in errors, logs and metrics. */
  readonly name: string;
  /** Service that answers; empty for the default rule (the path names it). */
  readonly service: string;
  /** Path prefix without a trailing slash (`/` matches everything), or none. */
  readonly prefix: string | undefined;
  /** Lower-case host, or `*.domain` for sub-domains, or none. */
  readonly host: string | undefined;
  /** Whether the prefix is removed from the path sent to the service. */
  readonly strip: boolean;
  /** Deadline of the call in milliseconds, retries included; 0 for none. */
  readonly timeout: number;
  /** Retries of idempotent requests. */
  readonly retry: RetryPolicy;
  /** Hedged requests (checked), or `undefined` when off. */
  readonly hedge: HedgeSettings | undefined;
  /** Largest request body in bytes. */
  readonly maxBody: number;
  /**
   * Whether a request with `Prefer: respond-async` is stored durably and answered 202, and
   * `<route>/$requests/<id>` is its status resource (PROTOCOL.md §13, docs/GATEWAY.md).
   */
  readonly durable: boolean;
  /** Policies run, in order, before the request is sent. */
  readonly policies: readonly Policy[];
  /** Lower-case name of the header that names the answering instance, or none (off). */
  readonly instanceHeader?: string | undefined;
}

/** Name of the default rule in logs and metrics. */
export const DEFAULT_ROUTE_NAME = "default";
