/**
 * The spans of the three request paths: a CLIENT span per NATS call (fetch, dispatcher, gateway), a
 * SERVER span per request a service instance handles, and a SERVER span per public gateway request.
 * Every start function returns `undefined` when no OpenTelemetry provider is registered: the request
 * path then does nothing else for tracing, and headers stay exactly as the caller sent them.
 *
 * @module
 */
import {
  type Attributes,
  type Context,
  context,
  defaultTextMapGetter,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import { headerValue, MeshError, type WireRequest } from "../protocol/index.js";
import { headerListGetter, headerListSetter } from "./carrier.js";
import { meshTracer } from "./tracer.js";

/** A span and the context its children start from. */
export interface ActiveSpan {
  /** The span; end it with {@link endSpan} or {@link failSpan}. */
  readonly span: Span;
  /** A context holding the span (and the baggage that came with the request). */
  readonly context: Context;
}

/** A CLIENT span and the request to send, whose headers carry the span's trace context. */
export interface ClientSpan {
  /** The span; end it with {@link endSpan} or {@link failSpan}. */
  readonly span: Span;
  /** The request with `traceparent` (and `tracestate`, `baggage`) set for this span; a copy. */
  readonly request: WireRequest;
}

/** HTTP methods the semantic conventions name; others are reported as `_OTHER`. */
const KNOWN_METHODS = new Set([
  "CONNECT",
  "DELETE",
  "GET",
  "HEAD",
  "OPTIONS",
  "PATCH",
  "POST",
  "PUT",
  "TRACE",
]);

function pathOnly(path: string): string {
  const q = path.indexOf("?");
  return q < 0 ? path : path.slice(0, q);
}

/** The method as a span name shows it: `HTTP` for a method the conventions do not name. */
function spanMethod(method: string): string {
  return KNOWN_METHODS.has(method) ? method : "HTTP";
}

/** Span name: `GET weather`; `HTTP weather` for a method the conventions do not name. */
function spanName(method: string, target: string): string {
  return `${spanMethod(method)} ${target}`;
}

/** The request attributes every span sets. */
function requestAttributes(method: string, path: string): Attributes {
  const known = KNOWN_METHODS.has(method);
  const attributes: Attributes = {
    "http.request.method": known ? method : "_OTHER",
    "url.path": pathOnly(path),
  };
  if (!known) attributes["http.request.method_original"] = method;
  return attributes;
}

/** The attributes of a span around a NATS request. */
function meshAttributes(request: WireRequest, service: string, subject: string): Attributes {
  const attributes = requestAttributes(request.method, request.path);
  attributes["server.address"] = service;
  attributes["messaging.system"] = "nats";
  attributes["messaging.destination.name"] = subject;
  return attributes;
}

/**
 * Starts the CLIENT span of one call to `service` and injects its context into a copy of the
 * request's headers (W3C `traceparent`/`tracestate`, with the registered propagator). The parent is
 * `parent`, else the active context; when that holds no span, a `traceparent` the caller put in the
 * headers is continued.
 *
 * @param service - the service called
 * @param subject - the NATS subject of the request
 * @param request - the request to send; not changed
 * @param parent - the parent context (default `context.active()`)
 * @returns the span and the request to send, or `undefined` when no provider is registered
 * @example
 * ```ts
 * const call = startClientSpan("weather", "mesh.weather.get", request);
 * ```
 */
export function startClientSpan(
  service: string,
  subject: string,
  request: WireRequest,
  parent?: Context,
): ClientSpan | undefined {
  const tracer = meshTracer();
  if (tracer === undefined) return undefined;
  let ctx = parent ?? context.active();
  if (trace.getSpan(ctx) === undefined && headerValue(request.headers, "traceparent") !== undefined) {
    ctx = propagation.extract(ctx, request.headers, headerListGetter);
  }
  const span = tracer.startSpan(
    spanName(request.method, service),
    { kind: SpanKind.CLIENT, attributes: meshAttributes(request, service, subject) },
    ctx,
  );
  if (!isSpanContextValid(span.spanContext())) return { span, request };
  const headers = request.headers.slice();
  propagation.inject(trace.setSpan(ctx, span), headers, headerListSetter);
  return { span, request: { ...request, headers } };
}

/**
 * Starts the SERVER span of a request a service instance received, continuing the trace context in
 * its headers (the caller's CLIENT span). Make `context` active around the handler so the spans it
 * creates are children.
 *
 * @param service - the service name
 * @param subject - the subject the request came on
 * @param request - the decoded request
 * @returns the span and its context, or `undefined` when no provider is registered
 * @example
 * ```ts
 * const s = startServerSpan("weather", msg.subject, req);
 * ```
 */
export function startServerSpan(
  service: string,
  subject: string,
  request: WireRequest,
): ActiveSpan | undefined {
  const tracer = meshTracer();
  if (tracer === undefined) return undefined;
  const parent = propagation.extract(ROOT_CONTEXT, request.headers, headerListGetter);
  const span = tracer.startSpan(
    spanName(request.method, service),
    { kind: SpanKind.SERVER, attributes: meshAttributes(request, service, subject) },
    parent,
  );
  return { span, context: trace.setSpan(parent, span) };
}

/**
 * Starts the gateway's SERVER span of a public request, continuing the trace context of its HTTP
 * headers. Its name becomes `<method> <route>` when {@link endGatewaySpan} knows the route.
 *
 * @param method - the request method
 * @param path - the request path (a query is dropped)
 * @param scheme - `http` or `https`
 * @param headers - the request's headers (Node's lower-case object)
 * @returns the span and its context, or `undefined` when no provider is registered
 * @example
 * ```ts
 * const s = startGatewaySpan(req.method, req.url, "http", req.headers);
 * ```
 */
export function startGatewaySpan(
  method: string,
  path: string,
  scheme: string,
  headers: Record<string, string | string[] | undefined>,
): ActiveSpan | undefined {
  const tracer = meshTracer();
  if (tracer === undefined) return undefined;
  const parent = propagation.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
  const attributes = requestAttributes(method, path);
  attributes["url.scheme"] = scheme;
  const span = tracer.startSpan(spanMethod(method), { kind: SpanKind.SERVER, attributes }, parent);
  return { span, context: trace.setSpan(parent, span) };
}

/**
 * Ends a span with the HTTP status answered: status ERROR for 5xx, with `error.type` the natsmesh
 * error code when there is one, else the status.
 *
 * @param span - the span
 * @param status - the HTTP status
 * @param code - the `mesh-error` code of the answer, if any
 * @example
 * ```ts
 * endSpan(call.span, res.status);
 * ```
 */
export function endSpan(span: Span, status: number, code?: string): void {
  span.setAttribute("http.response.status_code", status);
  if (status >= 500) {
    span.setAttribute("error.type", code ?? String(status));
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

/**
 * Ends a span whose call failed without an HTTP response (timeout, no responders, closed connection,
 * abort): records the exception, status ERROR, `error.type` the natsmesh error code or error name.
 *
 * @param span - the span
 * @param err - what the call rejected with
 * @example
 * ```ts
 * failSpan(call.span, err);
 * ```
 */
export function failSpan(span: Span, err: unknown): void {
  const error = err instanceof Error ? err : new Error(String(err));
  span.recordException(error);
  span.setAttribute("error.type", error instanceof MeshError ? error.code : error.name);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
  span.end();
}

/**
 * Ends the gateway's SERVER span: names it after the route and adds `natsmesh.route` and
 * `natsmesh.service`, then as {@link endSpan}.
 *
 * @param span - the gateway span
 * @param method - the request method
 * @param status - the status answered (499 when the client went away)
 * @param route - the route name (`none` when none matched)
 * @param service - the service routed to, `""` when none
 * @param code - the natsmesh error code answered, if any
 * @example
 * ```ts
 * endGatewaySpan(x.trace.span, "GET", 200, "api", "weather", undefined);
 * ```
 */
export function endGatewaySpan(
  span: Span,
  method: string,
  status: number,
  route: string,
  service: string,
  code: string | undefined,
): void {
  if (route !== "none") {
    span.updateName(spanName(method, route));
    span.setAttribute("natsmesh.route", route);
  }
  if (service !== "") span.setAttribute("natsmesh.service", service);
  endSpan(span, status, code);
}

/**
 * Runs `fn` with `active` as the active context (a no-op without a registered context manager).
 *
 * @param active - the span and its context
 * @param fn - what to run
 * @returns what `fn` returns
 * @throws what `fn` throws
 * @example
 * ```ts
 * await runInSpan(s, () => handler(req));
 * ```
 */
export function runInSpan<T>(active: ActiveSpan, fn: () => T): T {
  return context.with(active.context, fn);
}

/**
 * Records a handler's exception on the active span, the instance's SERVER span while the handler
 * runs (with a context manager registered); nothing without a provider.
 *
 * @param err - what the handler threw
 * @example
 * ```ts
 * onError: (err) => recordHandlerError(err),
 * ```
 */
export function recordHandlerError(err: unknown): void {
  if (meshTracer() === undefined) return;
  trace.getActiveSpan()?.recordException(err instanceof Error ? err : String(err));
}
