/**
 * Deduplication of keyed requests: the records and the NATS KV store that keeps them
 * (docs/TRAFFIC.md §8). The server's `dedupe.ts` decides what to do with them.
 *
 * @module
 */

export { type RecentKey, RecentKeys } from "./recent.js";
export {
  type DedupeRecord,
  decodeRecord,
  encodeRecord,
  fingerprint,
  IDEMPOTENCY_KEY_HEADER,
  REPLAYED_HEADER,
  RecordState,
  recordKey,
} from "./record.js";
export {
  type BucketSettings,
  DedupeStore,
  NO_LEADER,
  STORE_RETRY_DEFAULTS,
  type StoredRecord,
  type StoreRetry,
} from "./store.js";
