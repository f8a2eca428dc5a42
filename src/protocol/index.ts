/**
 * The wire protocol: how HTTP is laid onto NATS. Shared by the client, the server and the gateway;
 * nothing else knows the format. See PROTOCOL.md.
 *
 * @module
 */
export {
  ACCESS_RECORD_VERSION,
  type AccessRecord,
  type DecodedRecords,
  decodeAccessRecords,
  encodeAccessRecord,
  recordPath,
} from "./access-record.js";
export {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  Kind,
  MAX_HEAD_SIZE,
  MAX_HEARTBEAT,
  MAX_WINDOW,
  MIN_HEARTBEAT,
  PREFIX_SIZE,
  readRequest,
  VERSION,
} from "./codec.js";
export {
  BadResponseError,
  brandError,
  type CallTarget,
  ClosedError,
  ConnectionClosedError,
  ErrorCode,
  InstanceLostError,
  InvalidServiceError,
  MalformedMessageError,
  MeshError,
  type MeshErrorOptions,
  NoRespondersError,
  PayloadTooLargeError,
  PermissionDeniedError,
  RedirectError,
  RedirectOutsideError,
  StreamError,
  TimeoutError,
} from "./errors.js";
export {
  abortReason,
  decodeFrame,
  encodeAbort,
  encodeFrame,
  type Frame,
  FrameKind,
  kindOf,
  MAX_ABORT_REASON,
} from "./frames.js";
export {
  HOP_BY_HOP,
  isHopByHop,
  MeshHeader,
  type MeshHeaderName,
  RESERVED_PREFIX,
  StreamHeader,
} from "./headers.js";
export { type HeaderList, headerValue, TAKE_BYTES, type WireRequest, type WireResponse } from "./records.js";
export {
  assertInstanceId,
  assertPrefix,
  assertServiceName,
  DEFAULT_PREFIX,
  EVERY_TOKEN,
  everyRequestSubject,
  everySubject,
  INSTANCE_PATTERN,
  INSTANCE_TOKEN,
  instanceRequestSubject,
  instanceSubject,
  lastTokenNumber,
  methodToken,
  PREFIX_PATTERN,
  requestSubject,
  serviceFromHost,
  serviceSubject,
  TAP_TOKEN,
  tapSubject,
} from "./subjects.js";
