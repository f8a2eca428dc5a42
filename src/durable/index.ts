/**
 * Durable requests on JetStream (PROTOCOL.md §13): the names, the records and the store shared by the
 * submitting side (client, gateway), the working side (`serve({ durable })`) and the CLI.
 *
 * @module
 */
export {
  CONSUMER_NAME,
  DEFAULT_BUCKET,
  DURABLE_TOKEN,
  durableSubject,
  fingerprint,
  ID_PATTERN,
  lookupSubject,
  parseDurableSubject,
  recordKey,
  requestId,
  streamName,
  streamSubject,
} from "./names.js";
export { prefersAsync, STATUS_SEGMENT, statusIdOf } from "./prefer.js";
export { type DurableRecord, DurableState, decodeRecord, encodeRecord } from "./record.js";
export { backoffAfter, DURABLE_DEFAULTS, type DurableOptions, durableSettings } from "./settings.js";
export { acceptedResponse, DURABLE_ID_HEADER, statusResponse } from "./status-response.js";
export {
  type DurableStatus,
  DurableStore,
  DurableStores,
  FULL_RETRY_AFTER,
  type Submitted,
} from "./store.js";
