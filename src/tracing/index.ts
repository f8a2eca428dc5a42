/**
 * OpenTelemetry spans for natsmesh's request paths, through `@opentelemetry/api` only: with a
 * provider registered, the client, the service instance and the gateway create spans linked across
 * NATS by W3C trace context; without one, nothing is created and no header is touched.
 *
 * @module
 */
export { headerListGetter, headerListSetter } from "./carrier.js";
export {
  type ActiveSpan,
  type ClientSpan,
  endGatewaySpan,
  endSpan,
  failSpan,
  recordHandlerError,
  runInSpan,
  startClientSpan,
  startGatewaySpan,
  startServerSpan,
} from "./spans.js";
export { meshTracer, TRACER_NAME } from "./tracer.js";
