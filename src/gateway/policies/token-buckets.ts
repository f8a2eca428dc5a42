/**
 * Token buckets by key, with a bounded number of keys.
 */

/** The outcome of {@link TokenBuckets.take}. */
export interface Take {
  /** Whether a token was taken (the request may go on). */
  allowed: boolean;
  /** Whole tokens left after this take. */
  remaining: number;
  /** Milliseconds until the bucket is full again. */
  resetMs: number;
  /** Milliseconds until the next token, when not allowed (0 when allowed). */
  retryAfterMs: number;
}

/** Settings of {@link TokenBuckets}. */
export interface TokenBucketsOptions {
  /** Bucket size: requests allowed at once. */
  capacity: number;
  /** Refill rate, in tokens per millisecond. */
  ratePerMs: number;
  /** Most buckets kept; the least recently used one goes first. */
  maxKeys: number;
}

interface Bucket {
  tokens: number;
  updated: number;
}

/** Slack for floating point refill arithmetic. */
const EPSILON = 1e-9;
/** Idle buckets looked at per take (the least recently used ones). */
const SWEEP = 2;

/**
 * Token buckets by key. A new key starts with a full bucket; tokens flow back continuously.
 * Memory is bounded without a timer: the `Map` is kept in least-recently-used order, each take
 * drops the oldest buckets that have refilled completely (forgetting a full bucket changes nothing),
 * and beyond `maxKeys` the least recently used bucket is dropped.
 *
 * @example
 * ```ts
 * const buckets = new TokenBuckets({ capacity: 10, ratePerMs: 10 / 1000, maxKeys: 10_000 });
 * buckets.take("203.0.113.7", performance.now()).allowed; // true
 * ```
 */
export class TokenBuckets {
  readonly #capacity: number;
  readonly #rate: number;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, Bucket>();

  /**
   * @param options - capacity, refill rate and key bound
   * @example
   * ```ts
   * new TokenBuckets({ capacity: 5, ratePerMs: 1 / 1000, maxKeys: 100 });
   * ```
   */
  constructor({ capacity, ratePerMs, maxKeys }: TokenBucketsOptions) {
    this.#capacity = capacity;
    this.#rate = ratePerMs;
    this.#maxKeys = maxKeys;
  }

  /** Number of buckets currently kept. */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Takes one token from the bucket of `key`.
   *
   * @param key - the bucket's key (client IP, header value...)
   * @param now - the current time in milliseconds (any monotonic origin)
   * @returns whether a token was taken, what is left and when more comes
   * @example
   * ```ts
   * const { allowed, retryAfterMs } = buckets.take("k", 1000);
   * ```
   */
  take(key: string, now: number): Take {
    const bucket = this.#bucket(key, now);
    const allowed = bucket.tokens >= 1 - EPSILON;
    if (allowed) bucket.tokens = Math.max(0, bucket.tokens - 1);
    this.#sweep(now);
    return {
      allowed,
      remaining: Math.floor(bucket.tokens + EPSILON),
      resetMs: (this.#capacity - bucket.tokens) / this.#rate,
      retryAfterMs: allowed ? 0 : (1 - bucket.tokens) / this.#rate,
    };
  }

  /** The refilled bucket of `key`, moved to the most recently used end. */
  #bucket(key: string, now: number): Bucket {
    const bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      const fresh = { tokens: this.#capacity, updated: now };
      this.#buckets.set(key, fresh);
      if (this.#buckets.size > this.#maxKeys) this.#dropOldest();
      return fresh;
    }
    this.#buckets.delete(key);
    this.#buckets.set(key, bucket);
    bucket.tokens = this.#level(bucket, now);
    bucket.updated = now;
    return bucket;
  }

  #level(bucket: Bucket, now: number): number {
    return Math.min(this.#capacity, bucket.tokens + Math.max(0, now - bucket.updated) * this.#rate);
  }

  /** Drops the least recently used buckets that are full again. */
  #sweep(now: number): void {
    for (let i = 0; i < SWEEP; i++) {
      const oldest = this.#buckets.entries().next();
      if (oldest.done || this.#level(oldest.value[1], now) < this.#capacity - EPSILON) return;
      this.#buckets.delete(oldest.value[0]);
    }
  }

  #dropOldest(): void {
    const oldest = this.#buckets.keys().next();
    if (!oldest.done) this.#buckets.delete(oldest.value);
  }
}
