/**
 * The gateway's retry loop: the shared one of `src/traffic/retry.ts`, which the client uses too.
 *
 * @module
 */
export {
  backoffDelay,
  NO_RETRY,
  type RetryEvent,
  type RetryOptions,
  type RetryPolicy,
  withRetry,
} from "../traffic/retry.js";
