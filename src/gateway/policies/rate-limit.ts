/**
 * The rate limit policy: a token bucket per client IP, header value or route.
 */
import { GatewayErrorCode } from "../errors.js";
import { ConfigFields, describeValue } from "./config-fields.js";
import { incomingHeader } from "./incoming-header.js";
import { type Take, TokenBuckets } from "./token-buckets.js";
import type { HeaderPairs, Policy, PolicyDecision, PolicyRequest } from "./types.js";

/**
 * What a rate limit counts by: the client IP, a request header's value, or the whole route.
 *
 * @example
 * ```ts
 * const key: RateLimitKey = "header:x-api-key"; // or "ip", "route"
 * ```
 */
export type RateLimitKey = "ip" | "route" | `header:${string}`;

/**
 * Options of the {@link rateLimit} policy (the `rateLimit` block of a route, without `now`).
 *
 * @example
 * ```ts
 * const policy = rateLimit({ requests: 600, per: "minute", burst: 50, key: "header:x-api-key", maxKeys: 100_000 });
 * ```
 */
export interface RateLimitOptions {
  /** Requests allowed per period, on average. */
  requests: number;
  /** The period: `"second"`, `"minute"` or a number of milliseconds. */
  per: "second" | "minute" | number;
  /** Requests allowed at once (the bucket size); default `requests`. */
  burst?: number;
  /**
   * What to count by; default `"ip"`. `"header:x-api-key"` counts by that header's value and falls
   * back to the client IP when the header is absent; `"route"` shares one bucket among all callers.
   */
  key?: RateLimitKey;
  /** Most keys remembered at once (least recently used forgotten first); default 10 000. */
  maxKeys?: number;
  /** The clock, in milliseconds; default `performance.now`. For tests. */
  now?: () => number;
}

/** The fields of the `rateLimit` block (configuration files cannot set `now`). */
export const RATE_LIMIT_KEYS = ["requests", "per", "burst", "key", "maxKeys"] as const;

/** Period names and their length in milliseconds. */
export const RATE_LIMIT_PERIODS = { second: 1_000, minute: 60_000 } as const;

/** Keys remembered when `maxKeys` is not given. */
export const DEFAULT_MAX_KEYS = 10_000;

/**
 * Creates a rate limit policy: one token bucket per key that holds `burst` tokens and refills at
 * `requests` per `per`. A request takes a token and continues with `RateLimit-Limit` (the bucket
 * size), `RateLimit-Remaining` (whole tokens left) and `RateLimit-Reset` (seconds until the bucket
 * is full again) response headers, after draft-ietf-httpapi-ratelimit-headers. With no token left it
 * is answered 429 (`NM_ERR_RATE_LIMITED`) with the same headers and `Retry-After` (seconds until the
 * next token, rounded up). Memory is bounded by `maxKeys`; no timer is used, so there is nothing to close.
 *
 * @param options - rate, burst and key; see {@link RateLimitOptions}
 * @returns a policy named `rate-limit`
 * @throws {@link PolicyConfigError} when the options are invalid (e.g. `requests: 0`)
 * @example
 * ```ts
 * const policy = rateLimit({ requests: 10, per: "second", burst: 20, key: "header:x-api-key" });
 * const decision = await policy.check(req); // { action: "continue", responseHeaders: [["RateLimit-Limit", "20"], ...] }
 * ```
 */
export function rateLimit(options: RateLimitOptions): Policy {
  const fields = new ConfigFields("rateLimit()");
  const block = fields.record(options, "", [...RATE_LIMIT_KEYS, "now"]);
  const requests = fields.positiveInteger(block.requests, "requests");
  const per = period(fields, block.per);
  const capacity = block.burst === undefined ? requests : fields.positiveInteger(block.burst, "burst");
  const maxKeys =
    block.maxKeys === undefined ? DEFAULT_MAX_KEYS : fields.positiveInteger(block.maxKeys, "maxKeys");
  if (block.now !== undefined && typeof block.now !== "function") fields.fail("now", "must be a function");
  const now = (block.now as (() => number) | undefined) ?? (() => performance.now());
  const buckets = new TokenBuckets({ capacity, ratePerMs: requests / per, maxKeys });
  return new RateLimitPolicy(buckets, capacity, keyOf(fields, block.key), now);
}

class RateLimitPolicy implements Policy {
  readonly name = "rate-limit";
  readonly #buckets: TokenBuckets;
  readonly #limit: string;
  readonly #key: (req: PolicyRequest) => string;
  readonly #now: () => number;

  constructor(
    buckets: TokenBuckets,
    capacity: number,
    key: (req: PolicyRequest) => string,
    now: () => number,
  ) {
    this.#buckets = buckets;
    this.#limit = String(capacity);
    this.#key = key;
    this.#now = now;
  }

  check(req: PolicyRequest): PolicyDecision {
    const take = this.#buckets.take(this.#key(req), this.#now());
    const headers = this.#headers(take);
    if (take.allowed) return { action: "continue", responseHeaders: headers };
    const retryAfter = Math.max(1, Math.ceil(take.retryAfterMs / 1000));
    return {
      action: "respond",
      status: 429,
      headers: [["Retry-After", String(retryAfter)], ...headers],
      message: `rate limit exceeded; retry in ${retryAfter} s`,
      code: GatewayErrorCode.RateLimited,
    };
  }

  #headers(take: Take): HeaderPairs {
    return [
      ["RateLimit-Limit", this.#limit],
      ["RateLimit-Remaining", String(take.remaining)],
      ["RateLimit-Reset", String(Math.ceil(take.resetMs / 1000))],
    ];
  }
}

function period(fields: ConfigFields, value: unknown): number {
  if (value === "second" || value === "minute") return RATE_LIMIT_PERIODS[value];
  if (typeof value === "number" && Number.isFinite(value) && value > 0) return value;
  return fields.fail(
    "per",
    `must be "second", "minute" or a positive number of milliseconds (got ${describeValue(value)})`,
  );
}

function keyOf(fields: ConfigFields, value: unknown): (req: PolicyRequest) => string {
  if (value === undefined || value === "ip") return (req) => `ip:${req.clientIp}`;
  if (value === "route") return (req) => `route:${req.route}`;
  if (typeof value === "string" && value.startsWith("header:")) {
    const name = fields
      .token(value.slice("header:".length), "key", "header name after 'header:'")
      .toLowerCase();
    return (req) => {
      const id = incomingHeader(req.headers, name);
      return id === undefined ? `ip:${req.clientIp}` : `header:${id}`;
    };
  }
  return fields.fail("key", `must be "ip", "route" or "header:<name>" (got ${describeValue(value)})`);
}
