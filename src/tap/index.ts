/**
 * `natsmesh/tap`: listen-only taps on a service's traffic (PROTOCOL.md §11). Instances that run with
 * `serve({ accessRecords: true })` publish a compact record per answered request; {@link tap} reads
 * them without joining the service's queue group or showing interest in its request subjects.
 *
 * @example
 * ```ts
 * import { tap } from "natsmesh/tap";
 * await using records = await tap("orders");
 * for await (const r of records) console.log(new Date(r.time), r.method, r.path, r.status, r.ms);
 * ```
 *
 * @module
 */
export {
  type AccessRecord,
  type DecodedRecords,
  decodeAccessRecords,
  tapSubject,
} from "../protocol/index.js";
export { DEFAULT_TAP_BUFFER, type Tap, type TapEvent, type TapOptions, tap } from "./tap.js";
