/**
 * Serves one public request: check, route, run the policies, read the body, call the service over
 * NATS (retrying idempotent requests), answer, count and log.
 *
 * @module
 */
import { constants as http2 } from "node:http2";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { callService } from "../../client/index.js";
import type { ResolvedConnection } from "../../connect/index.js";
import { prefersAsync } from "../../durable/index.js";
import type { SilentInstances } from "../../insight/silent-instances.js";
import {
  headerValue,
  INSTANCE_PATTERN,
  MeshHeader,
  NoRespondersError,
  TimeoutError,
  type WireRequest,
  type WireResponse,
} from "../../protocol/index.js";
import { type ActiveSpan, endGatewaySpan, startGatewaySpan } from "../../tracing/index.js";
import { isRetryableFailure, isUnacknowledged } from "../../traffic/call-guard.js";
import { IDEMPOTENCY_KEY, isIdempotent } from "../../traffic/idempotency.js";
import { RecentlyServed, WAIT_FOR_CAPACITY_MS } from "../../traffic/recently-served.js";
import { NO_RETRY, type RetryEvent, withRetry } from "../../traffic/retry.js";
import { ServiceBreakers } from "../../traffic/service-breakers.js";
import { ServiceHedging } from "../../traffic/service-hedging.js";
import type { GatewayMetrics } from "../admin/metrics.js";
import { DEFAULT_ROUTE_NAME, type Route } from "../config/route.js";
import { BadRequestError, GatewayErrorCode, NoRouteError } from "../errors.js";
import type { HeaderPairs, PolicyRequest } from "../policies/types.js";
import { logAccess } from "./access-log.js";
import type { ConnectionKey, ConnectionTracker } from "./connection-tracker.js";
import { DurableFrontDoor, statusId } from "./durable-requests.js";
import { forwardHeaders } from "./forward-headers.js";
import { type PublicError, publicError } from "./public-error.js";
import { bodyStream, checkContentLength, readRequestBody, streamsBody } from "./read-request-body.js";
import { requestId } from "./request-id.js";
import { checkRequestLine } from "./request-target.js";
import {
  type AnswerContext,
  isHttp2,
  type PublicRequest,
  type PublicResponse,
  sendDecision,
  sendError,
  sendStream,
  sendWire,
} from "./respond.js";
import { hostName, type RouteMatch, type Router } from "./router.js";
import { type PolicyOutcome, runPolicies } from "./run-policies.js";
import { plainIp, type TrustedProxies } from "./trusted-proxies.js";

/**
 * What {@link GatewayRetryHook} is told before a request is sent again.
 *
 * @example
 * ```ts
 * createGateway({ onRetry: (e) => log.warn({ route: e.route, service: e.service, attempt: e.attempt, delayMs: e.delayMs }) });
 * ```
 */
export interface GatewayRetryEvent extends RetryEvent {
  /** Route name. */
  readonly route: string;
  /** Service called. */
  readonly service: string;
  /** Request method. */
  readonly method: string;
  /** Request id. */
  readonly requestId: string;
}

/**
 * Called, and awaited, before each retry (after the failed attempt, before the backoff).
 *
 * @example
 * ```ts
 * const onRetry: GatewayRetryHook = (e) => console.warn(`${e.service}: retry ${e.attempt} in ${e.delayMs} ms`);
 * createGateway({ onRetry });
 * ```
 */
export type GatewayRetryHook = (event: GatewayRetryEvent) => void | Promise<void>;

/** What the handler works with. */
export interface HandlerDeps {
  /** Picks each request's route. */
  router: Router;
  /** Peers whose forwarding headers are believed. */
  trusted: TrustedProxies;
  /** `http` or `https`. */
  scheme: string;
  /** Body deadline, from the request's arrival, in milliseconds. */
  requestTimeout: number;
  /** Where requests, durations, retries, no-responders and timeouts are counted. */
  metrics: GatewayMetrics;
  /** Access lines and unexpected errors. */
  logger: Logger;
  /** Counts in-flight requests per connection, for the graceful close. */
  tracker: ConnectionTracker;
  /** The NATS connection and prefix (set once the gateway listens). */
  mesh: () => ResolvedConnection;
  /** Whether the gateway is shutting down (HTTP/1.1 answers then close their connection). */
  closing: () => boolean;
  /** Called, and awaited, before a request is sent again. */
  onRetry: GatewayRetryHook | undefined;
  /** Circuit breakers per service (none when absent). */
  breakers?: ServiceBreakers | undefined;
  /** Outlier ejection: where to send a service's requests while one of its instances is silent (off when absent). */
  silent?: SilentInstances | undefined;
}

/** The state of one request, for its answer, log line and metrics. */
interface GatewayCall {
  readonly started: number;
  readonly method: string;
  readonly path: string;
  route: string;
  service: string;
  status: number;
  instance: string | undefined;
  code: string | undefined;
  timeout: number;
  readonly ctx: AnswerContext;
  /**
   * The client went away before the answer. No AbortController per request (one and its listeners
   * per request showed in the gateway's profile): the call's late reply is simply dropped and no
   * retry starts.
   */
  gone: boolean;
  /** The gateway's SERVER span, when an OpenTelemetry provider is registered. */
  readonly trace: ActiveSpan | undefined;
}

const EMPTY = new Uint8Array(0);
/** Time a connection with an unread request body stays open after the answer, for the client to read it. */
const LINGER_MS = 2000;
/** Status logged and counted when the client went away before the answer. */
const CLIENT_CLOSED = 499;

/**
 * The `service` label of a metric. On the default rule the path names the service, so the label
 * is only set when an instance answered: made-up paths must not create metric series.
 */
function serviceLabel(route: string, service: string, instance: string | undefined): string {
  return route !== DEFAULT_ROUTE_NAME || instance !== undefined ? service : "";
}

/** The labels of the retry and no-responders counters: built on those failure paths only. */
function routeLabels(match: RouteMatch): { route: string; service: string } {
  return { route: match.route.name, service: serviceLabel(match.route.name, match.service, undefined) };
}

const NO_BREAKERS = new ServiceBreakers(false);

/** The shared rule (no responders, lost connection or instance); the gateway does not retry timeouts. */
const isRetryable = isRetryableFailure;

function hasBody(req: PublicRequest): boolean {
  if ("stream" in req) return !req.stream.endAfterHeaders;
  const length = req.headers["content-length"];
  return (length !== undefined && length !== "0") || req.headers["transfer-encoding"] !== undefined;
}

function forwardedFor(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2)
    if (raw[i]!.toLowerCase() === "x-forwarded-for") out.push(raw[i + 1]!);
  return out;
}

function policyHeaders(req: PublicRequest, authority: string | undefined): PolicyRequest["headers"] {
  if (!("stream" in req)) return req.headers;
  const headers: PolicyRequest["headers"] = {};
  for (const [name, value] of Object.entries(req.headers)) if (name[0] !== ":") headers[name] = value;
  if (authority !== undefined) headers.host = authority;
  return headers;
}

/**
 * The gateway's request handler, shared by the HTTP/1.1 and HTTP/2 servers (compatibility API).
 *
 * @example
 * ```ts
 * const handler = new RequestHandler(deps);
 * server.on("request", (req, res) => handler.handle(req, res, false));
 * ```
 */
export class RequestHandler {
  readonly #d: HandlerDeps;
  readonly #served = new RecentlyServed();
  /** Hedging state of the routes that hedge, created on a route's first request. */
  readonly #hedging = new Map<Route, ServiceHedging>();
  /** Durable requests of the routes with `durable: true` (PROTOCOL.md §13). */
  readonly #durable: DurableFrontDoor;

  /**
   * @param deps - router, proxies, limits, metrics, logger, tracker, connection and hooks
   * @example
   * ```ts
   * new RequestHandler(deps);
   * ```
   */
  constructor(deps: HandlerDeps) {
    this.#d = deps;
    this.#durable = new DurableFrontDoor((err) => deps.logger.warn({ err }, "durable request refused"));
  }

  /**
   * Serves a request; the answer is written asynchronously, and failures are answered, never thrown.
   *
   * @param req - the public request
   * @param res - its response
   * @param expectContinue - the client waits for `100 Continue` before sending the body
   * @example
   * ```ts
   * server.on("request", (req, res) => handler.handle(req, res, false));
   * ```
   */
  handle(req: PublicRequest, res: PublicResponse, expectContinue: boolean): void {
    const d = this.#d;
    const key = ("stream" in req ? req.stream.session : req.socket) as ConnectionKey;
    d.tracker.begin(key);
    d.metrics.inFlight.inc();
    const url = req.url ?? "";
    const q = url.indexOf("?");
    const method = req.method ?? "";
    const path = q < 0 ? url : url.slice(0, q);
    const x: GatewayCall = {
      started: performance.now(),
      method,
      path,
      route: "none",
      service: "",
      status: 0,
      instance: undefined,
      code: undefined,
      timeout: 0,
      ctx: { requestId: requestId(req.headers[MeshHeader.RequestId]), extraHeaders: [], close: d.closing() },
      gone: false,
      trace: startGatewaySpan(method, path, d.scheme, req.headers),
    };
    res.once("close", () => this.#finish(key, res, x));
    this.#serve(req, res, x, expectContinue).catch((err: unknown) => {
      d.logger.error({ err, requestId: x.ctx.requestId }, "request handling failed");
      res.destroy();
    });
  }

  #finish(key: ConnectionKey, res: PublicResponse, x: GatewayCall): void {
    const d = this.#d;
    if (!res.writableFinished) {
      x.gone = true;
      x.status = CLIENT_CLOSED;
    }
    const durationMs = performance.now() - x.started;
    d.tracker.end(key);
    d.metrics.inFlight.dec();
    d.metrics.observe(
      x.route,
      serviceLabel(x.route, x.service, x.instance),
      x.method,
      x.status,
      durationMs / 1000,
    );
    logAccess(d.logger, {
      method: x.method,
      path: x.path,
      status: x.status,
      durationMs: Math.round(durationMs * 100) / 100,
      route: x.route,
      service: x.service,
      instance: x.instance,
      requestId: x.ctx.requestId,
      code: x.code,
    });
    if (x.trace) endGatewaySpan(x.trace.span, x.method, x.status, x.route, x.service, x.code);
  }

  async #serve(
    req: PublicRequest,
    res: PublicResponse,
    x: GatewayCall,
    expectContinue: boolean,
  ): Promise<void> {
    const d = this.#d;
    try {
      const target = checkRequestLine(req.method, req.url);
      const authority = "stream" in req ? (req.headers[":authority"] ?? req.headers.host) : req.headers.host;
      const host = hostName(authority);
      if (authority !== undefined && !/^[\x21-\x7e]+$/.test(authority))
        throw new BadRequestError("invalid host");
      const match = d.router.match(host, target);
      if (!match) throw new NoRouteError(x.method, x.path);
      x.route = match.route.name;
      x.service = match.service;
      x.timeout = match.route.timeout;
      const peer = plainIp(req.socket.remoteAddress);
      const trusted = d.trusted.has(peer);
      let forward: HeaderPairs = [];
      if (match.route.policies.length > 0) {
        const outcome = await this.#policies(req, match, target, authority, peer, trusted);
        x.ctx.extraHeaders = outcome.responseHeaders;
        if (outcome.respond) {
          x.ctx.close ||= hasBody(req);
          this.#discardBody(req, res);
          x.status = sendDecision(res, outcome.respond, x.ctx);
          x.code = outcome.respond.status >= 400 ? (outcome.respond.code ?? "NM_ERR_POLICY") : undefined;
          return;
        }
        forward = outcome.forwardHeaders;
      }
      const durableId = match.route.durable ? statusId(match.route, match.service, target) : undefined;
      if (durableId !== undefined && (x.method === "GET" || x.method === "HEAD")) {
        // A status resource, behind the route's policies like the request it names.
        x.ctx.close ||= hasBody(req);
        this.#discardBody(req, res);
        const { nc, prefix } = d.mesh();
        const answer = await this.#durable.status(nc, prefix, match.service, durableId);
        x.code = headerValue(answer.headers, MeshHeader.Error);
        x.status = sendWire(res, answer, x.method === "HEAD", x.ctx);
        return;
      }
      const durable = match.route.durable && prefersAsync(req.headers.prefer);
      checkContentLength(req.headers["content-length"], match.route.maxBody);
      if (expectContinue) res.writeContinue();
      const declared = req.headers["content-length"];
      const left = d.requestTimeout - (performance.now() - x.started);
      // Bodies of unknown or large size stream to the one instance that took the request, read as it
      // reads them; smaller ones are read first, so that the request can be re-submitted.
      // A durable request is stored whole: its body is read first, whatever its size (within maxBody).
      const streamed = !durable && hasBody(req) && streamsBody(declared);
      let publicFailure: Error | undefined;
      const stream = streamed
        ? bodyStream(req, match.route.maxBody, left, d.requestTimeout, (err) => {
            publicFailure = err;
          })
        : undefined;
      const body =
        hasBody(req) && !streamed
          ? await readRequestBody(req, match.route.maxBody, left, d.requestTimeout)
          : EMPTY;
      const wire: WireRequest = {
        method: x.method,
        path: match.path,
        headers: forwardHeaders({
          rawHeaders: req.rawHeaders,
          peer,
          trusted,
          scheme: d.scheme,
          host: authority,
          requestId: x.ctx.requestId,
          bodyLength: stream ? Number(declared ?? 0) : body.byteLength,
          policyHeaders: forward,
        }),
        body,
        stream,
      };
      let response: WireResponse;
      try {
        response = durable
          ? await this.#submitDurable(match, wire, req.headers[IDEMPOTENCY_KEY], x)
          : await this.#call(match, wire, req.headers[IDEMPOTENCY_KEY], x, instanceOf(req, match));
      } catch (err) {
        // A streamed upload that broke on the public side (over maxBody, too slow, client gone)
        // is answered for what it is, not for how the exchange ended.
        throw publicFailure ?? err;
      }
      x.instance = headerValue(response.headers, MeshHeader.Instance);
      x.ctx.close ||= d.closing();
      if (stream && !req.readableEnded) x.ctx.close = true;
      try {
        x.status =
          response.stream && x.method !== "HEAD"
            ? await sendStream(res, response, x.ctx)
            : sendWire(res, response, x.method === "HEAD", x.ctx);
      } catch (err) {
        if (res.headersSent) throw err;
        this.#fail(
          req,
          res,
          x,
          {
            status: 502,
            code: "NM_ERR_BAD_RESPONSE",
            message: "the service sent a response HTTP cannot carry",
          },
          err,
        );
      }
    } catch (err) {
      if (x.gone) return; // the client went away; #finish logs 499
      this.#fail(req, res, x, publicError(err, x.timeout), err);
    }
  }

  /** Stores a request with `Prefer: respond-async` and answers 202 (PROTOCOL.md §13.2). */
  async #submitDurable(
    match: RouteMatch,
    wire: WireRequest,
    idempotencyKey: string | string[] | undefined,
    x: GatewayCall,
  ): Promise<WireResponse> {
    const { nc, prefix } = this.#d.mesh();
    const key = Array.isArray(idempotencyKey) ? idempotencyKey[0] : idempotencyKey;
    const answer = await this.#durable.submit(nc, prefix, match.route, match.service, wire, key);
    x.code = headerValue(answer.headers, MeshHeader.Error);
    return answer;
  }

  #policies(
    req: PublicRequest,
    match: RouteMatch,
    target: string,
    authority: string | undefined,
    peer: string,
    trusted: boolean,
  ): Promise<PolicyOutcome> {
    return runPolicies(match.route.policies, {
      method: (req.method ?? "").toUpperCase(),
      path: target,
      headers: policyHeaders(req, authority),
      clientIp: trusted ? this.#d.trusted.clientIp(peer, forwardedFor(req.rawHeaders)) : peer,
      route: match.route.name,
    });
  }

  #call(
    match: RouteMatch,
    wire: WireRequest,
    idempotencyKey: string | string[] | undefined,
    x: GatewayCall,
    instance: string | undefined,
  ): Promise<WireResponse> {
    const d = this.#d;
    const { nc, prefix } = d.mesh();
    const route = match.route;
    const deadline = route.timeout > 0 ? Date.now() + route.timeout : Number.POSITIVE_INFINITY;
    const idempotent = isIdempotent(wire.method, idempotencyKey);
    const recently = this.#served.recently(match.service);
    const started = Date.now();
    const attempt = (n: number): Promise<WireResponse> => {
      const timeout = route.timeout > 0 ? deadline - Date.now() : 0;
      if (n > 1 && route.timeout > 0 && timeout <= 0) {
        return Promise.reject(new TimeoutError({ service: match.service }, route.timeout));
      }
      const sendTo = (to: string | undefined, t: number, signal: AbortSignal | undefined) =>
        callService(nc, match.service, wire, {
          prefix,
          timeout: t,
          signal,
          parent: x.trace?.context,
          // Requests arrive one per HTTP connection callback: coalesce their publishes per loop turn.
          batch: true,
          // A late acknowledgement fails the attempt early when another one will follow.
          resendable: wire.stream === undefined && idempotent && route.retry.attempts > 1,
          instance: to,
        });
      const send = (t: number, signal: AbortSignal | undefined): Promise<WireResponse> => {
        // Outlier ejection: while an instance of the service is silent (frozen, yet in the queue
        // group), a healthy one is named instead. A streamed body is read once: it keeps the queue.
        if (instance !== undefined || wire.stream !== undefined || d.silent === undefined)
          return sendTo(instance, t, signal);
        return d.silent.route(
          match.service,
          (to) => sendTo(to, t, signal),
          // A service named by its instances' reports: a label that made-up paths cannot create.
          () => d.metrics.routedAround.inc({ route: match.route.name, service: match.service }),
        );
      };
      // On the default rule the path names the service: only a service that answered lately gets
      // hedging state and counters, so made-up paths cannot grow them.
      // A request named to an instance is neither hedged (a copy would go to the same instance) nor
      // counted by the service's breaker (one instance's absence says nothing of the service).
      if (instance !== undefined) return send(Math.max(timeout, 0), undefined);
      const hedging =
        route.hedge === undefined || (route.name === DEFAULT_ROUTE_NAME && !recently)
          ? undefined
          : this.#hedgingOf(route);
      const policy = hedging?.policyFor(wire, undefined);
      const call =
        hedging && policy
          ? () => hedging.run(match.service, policy, Math.max(timeout, 0), undefined, send)
          : () => send(Math.max(timeout, 0), undefined);
      return (d.breakers ?? NO_BREAKERS).call(match.service, call).then(
        (res) => {
          this.#served.served(match.service);
          return res;
        },
        (err: unknown) => {
          if (err instanceof NoRespondersError) d.metrics.noResponders.inc(routeLabels(match));
          throw err;
        },
      );
    };
    // The first attempt runs outside the retry loop (an async function), which it enters only when
    // it fails: most requests are answered at once and skip the loop's promises.
    return attempt(1).catch((error: unknown) =>
      withRetry(
        attempt,
        {
          // A streamed body is read once: it cannot be re-submitted.
          policy: wire.stream === undefined && idempotent ? route.retry : NO_RETRY,
          // No responders for a named instance: it is gone, and no retry may move the request elsewhere.
          retryable: (err) =>
            !x.gone && isRetryable(err) && !(instance !== undefined && err instanceof NoRespondersError),
          // No responders for a service that answered lately: its instances are saturated or
          // restarting, so the request waits for one until its deadline (recently-served.ts).
          // An idempotent request no instance acknowledged was taken by none: it is sent again until
          // the deadline (a frozen instance keeps its place in the queue group; PROTOCOL.md §8.4). One
          // that may not be sent again fails with the 503.
          untilDeadline: (err) =>
            route.retry.attempts > 1 &&
            instance === undefined &&
            ((recently && err instanceof NoRespondersError && Date.now() - started < WAIT_FOR_CAPACITY_MS) ||
              (wire.stream === undefined && idempotent && isUnacknowledged(err))),
          deadline,
          onRetry: (event) => {
            d.metrics.retries.inc(routeLabels(match));
            d.logger.debug(
              {
                ...routeLabels(match),
                attempt: event.attempt,
                delayMs: event.delayMs,
                requestId: x.ctx.requestId,
              },
              "retrying",
            );
            return d.onRetry?.({
              ...event,
              route: route.name,
              service: match.service,
              method: wire.method,
              requestId: x.ctx.requestId,
            });
          },
        },
        { error },
      ).catch((err: unknown) => {
        // Sent again until the deadline and never acknowledged: the request timed out.
        if (wire.stream === undefined && idempotent && isUnacknowledged(err) && route.timeout > 0)
          throw new TimeoutError({ service: match.service }, route.timeout, { cause: err });
        throw err;
      }),
    );
  }

  /** The hedging state of a route that hedges: per service answer times, budget and counters. */
  #hedgingOf(route: Route): ServiceHedging {
    let hedging = this.#hedging.get(route);
    if (hedging === undefined) {
      const metrics = this.#d.metrics;
      hedging = new ServiceHedging(route.hedge, (service) => {
        const labels = { route: route.name, service };
        return {
          sent: () => metrics.hedgesSent.inc(labels),
          won: () => metrics.hedgesWon.inc(labels),
          exhausted: () => metrics.hedgeBudgetExhausted.inc(labels),
        };
      });
      this.#hedging.set(route, hedging);
    }
    return hedging;
  }

  #fail(req: PublicRequest, res: PublicResponse, x: GatewayCall, error: PublicError, cause: unknown): void {
    const d = this.#d;
    // A MeshError is an expected failure, told by its code in the access line (warn for 5xx); only
    // the unexpected is logged with its stack.
    if (error.code === GatewayErrorCode.Internal)
      d.logger.error({ err: cause, requestId: x.ctx.requestId }, "internal error");
    if (error.status === 504)
      d.metrics.timeouts.inc({ route: x.route, service: serviceLabel(x.route, x.service, undefined) });
    x.code = error.code;
    const unread = !req.readableEnded && hasBody(req);
    x.ctx.close ||= unread || d.closing();
    if (unread) this.#discardBody(req, res);
    x.status = sendError(res, error, x.ctx);
  }

  /** Lets the client finish sending a body nobody reads, then ends the stream or connection. */
  #discardBody(req: PublicRequest, res: PublicResponse): void {
    if (req.readableEnded) return;
    if (isHttp2(res)) {
      // The answer's 'finish' waits for the stream to close: close it once the answer is written.
      res.stream.once("finish", () => {
        if (!res.stream.closed) res.stream.close(http2.NGHTTP2_NO_ERROR);
      });
      return;
    }
    req.resume();
    const socket: Duplex = req.socket;
    res.once("finish", () => {
      if (!req.readableEnded) setTimeout(() => socket.destroy(), LINGER_MS).unref();
    });
  }
}

/**
 * The instance a request names through its route's `instanceHeader`, or none (no such option, or
 * no such header).
 *
 * @throws {@link BadRequestError} for a repeated header or an id that cannot be a subject token.
 */
function instanceOf(req: PublicRequest, match: RouteMatch): string | undefined {
  const name = match.route.instanceHeader;
  if (name === undefined) return undefined;
  const value = req.headers[name];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !INSTANCE_PATTERN.test(value))
    throw new BadRequestError(`${name} must name one instance: letters, digits, '_' and '-'`);
  return value;
}
