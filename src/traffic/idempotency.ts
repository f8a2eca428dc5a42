/**
 * Which requests may be sent again without changing the outcome.
 *
 * @module
 */

/**
 * Methods that RFC 9110 defines as idempotent, and that the gateway and the client therefore retry.
 *
 * @example
 * ```ts
 * IDEMPOTENT_METHODS.has("PUT"); // true: retried by default
 * IDEMPOTENT_METHODS.has("POST"); // false
 * ```
 */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);

/**
 * Request header that makes any request safe to retry: the service deduplicates by its value.
 *
 * @example
 * ```ts
 * await fetch("http://billing.nats/charges", {
 *   method: "POST",
 *   headers: { [IDEMPOTENCY_KEY]: crypto.randomUUID() }, // retried safely, run once with dedupe
 *   body: JSON.stringify(charge),
 * });
 * ```
 */
export const IDEMPOTENCY_KEY = "idempotency-key";

/**
 * Whether a request may be re-submitted: an idempotent method, or any request carrying an
 * `Idempotency-Key` header.
 *
 * @param method - the request method, upper-case
 * @param idempotencyKey - the `Idempotency-Key` header's value, if any
 * @returns true when a retry cannot apply the request twice
 * @example
 * ```ts
 * isIdempotent("GET", undefined);   // true
 * isIdempotent("POST", undefined);  // false
 * isIdempotent("POST", "order-42"); // true
 * ```
 */
export function isIdempotent(method: string, idempotencyKey: string | string[] | undefined): boolean {
  return IDEMPOTENT_METHODS.has(method) || (idempotencyKey !== undefined && idempotencyKey.length > 0);
}
