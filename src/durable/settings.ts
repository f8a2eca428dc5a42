/**
 * The settings of durable requests on the working side (`serve(handler, { durable })`), their
 * defaults and their checks. Pure.
 *
 * @module
 */
import { DEFAULT_BUCKET } from "./names.js";

/**
 * Options of durable requests (`serve(handler, { durable })`); every one has a default.
 *
 * @example
 * ```ts
 * await serve(app, {
 *   service: "orders",
 *   durable: { replicas: 3, maxDeliveries: 4, retention: 7 * 24 * 3600_000, callbacks: ["https://hooks.example.com/"] },
 * });
 * ```
 */
export interface DurableOptions {
  /** KV bucket of the records (default `natsmesh-durable`); created when missing, else used as it is. */
  bucket?: string;
  /** Milliseconds a record (a state, an answer, a dead letter) is kept after its last write (default 24 h). */
  retention?: number;
  /** Copies of the stream and the bucket in a JetStream cluster (default 1; 3 to survive a node's loss). */
  replicas?: number;
  /** Largest size of the service's stream in bytes (default 1 GiB); when full, submissions get 503. */
  maxBytes?: number;
  /** Most requests the stream holds (default 0: no limit but `maxBytes`); when full, submissions get 503. */
  maxMessages?: number;
  /** Milliseconds within which a second publish of the same id is dropped by JetStream (default 2 min). */
  duplicateWindow?: number;
  /**
   * Milliseconds JetStream waits for an instance's word on a request before delivering it again
   * (default 30 000). A working instance tells it "in progress" every third of this, so a request may
   * run longer; an instance that died is replaced after this long.
   */
  ackWait?: number;
  /** Attempts per request (default 5); after the last fails, it is a dead letter. */
  maxDeliveries?: number;
  /** Milliseconds before attempt n+1 after attempt n failed, the last repeated (default 1 s, 5 s, 30 s, 60 s). */
  backoff?: number[];
  /** Largest answer body kept, in bytes (default 256 KiB); a larger answer makes a dead letter saying so. */
  maxAnswer?: number;
  /** Requests taken from the stream ahead of a free concurrency slot (default 16, at most the concurrency). */
  prefetch?: number;
  /**
   * URL prefixes a request's `x-callback-url` may name (default none: callbacks off). The outcome of
   * a request whose callback URL starts with one of them is POSTed there once stored (PROTOCOL.md
   * §13.5). A list, so that a caller cannot make instances POST to any address it likes.
   */
  callbacks?: string[];
}

/** Defaults of {@link DurableOptions}. */
export const DURABLE_DEFAULTS: Readonly<Required<DurableOptions>> = {
  bucket: DEFAULT_BUCKET,
  retention: 24 * 60 * 60 * 1000,
  replicas: 1,
  maxBytes: 1024 * 1024 * 1024,
  maxMessages: 0,
  duplicateWindow: 2 * 60 * 1000,
  ackWait: 30_000,
  maxDeliveries: 5,
  backoff: [1000, 5000, 30_000, 60_000],
  maxAnswer: 256 * 1024,
  prefetch: 16,
  callbacks: [],
};

/**
 * The settings an instance runs with: the defaults, overridden by `options`.
 *
 * @throws RangeError naming the first setting out of range.
 * @example
 * ```ts
 * durableSettings({ maxDeliveries: 3 });
 * ```
 */
export function durableSettings(options: DurableOptions = {}): Required<DurableOptions> {
  const s = { ...DURABLE_DEFAULTS, ...options };
  if (!/^[A-Za-z0-9_-]+$/.test(s.bucket))
    throw new RangeError(`durable.bucket: expected [A-Za-z0-9_-] characters, got '${s.bucket}'`);
  for (const name of [
    "retention",
    "replicas",
    "maxBytes",
    "duplicateWindow",
    "ackWait",
    "maxDeliveries",
    "maxAnswer",
    "prefetch",
  ] as const) {
    const n = s[name];
    if (!Number.isInteger(n) || n < 1)
      throw new RangeError(`durable.${name}: expected an integer ≥ 1, got ${n}`);
  }
  if (!Number.isInteger(s.maxMessages) || s.maxMessages < 0)
    throw new RangeError(`durable.maxMessages: expected an integer ≥ 0, got ${s.maxMessages}`);
  if (
    !Array.isArray(s.backoff) ||
    s.backoff.length === 0 ||
    s.backoff.some((n) => !Number.isInteger(n) || n < 0)
  )
    throw new RangeError(
      `durable.backoff: expected a non-empty list of integers ≥ 0 (ms), got ${String(s.backoff)}`,
    );
  if (!Array.isArray(s.callbacks)) throw new RangeError("durable.callbacks: expected a list of URL prefixes");
  return { ...s, callbacks: s.callbacks.map(callbackPrefix) };
}

/** A callback prefix, normalised (`https://hooks.example.com` → `https://hooks.example.com/`). */
function callbackPrefix(p: unknown): string {
  let url: URL;
  try {
    url = new URL(String(p));
  } catch {
    throw new RangeError(`durable.callbacks: '${String(p)}' is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new RangeError(`durable.callbacks: '${String(p)}' is not an http(s) URL`);
  return url.href;
}

/** Milliseconds before the attempt after failed attempt `attempt` (1-based). */
export function backoffAfter(backoff: readonly number[], attempt: number): number {
  return backoff[Math.min(attempt, backoff.length) - 1]!;
}
