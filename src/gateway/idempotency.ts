/**
 * Which requests may be sent again: the shared rule of `src/traffic/idempotency.ts`, which the client uses too.
 *
 * @module
 */
export { IDEMPOTENCY_KEY, IDEMPOTENT_METHODS, isIdempotent } from "../traffic/idempotency.js";
