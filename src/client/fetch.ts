import { ConnectionSource, type ConnectionSourceOptions } from "../connect/index.js";
import {
  assertInstanceId,
  BadResponseError,
  requestSubject,
  serviceFromHost,
  TimeoutError,
  type WireRequest,
  type WireResponse,
} from "../protocol/index.js";
import { CallGuard, type CallGuardOptions } from "../traffic/call-guard.js";
import type { HedgeChoice } from "../traffic/service-hedging.js";
import { callService } from "./call.js";
import { type CallerReportsOption, CallerTally } from "./caller-tally.js";
import { ClientEjection, type ClientEjectOption } from "./client-ejection.js";
import { asCallTimeout, connectWithin } from "./connecting.js";
import { DurableCalls, durableIntent } from "./durable.js";
import { broadcastWith, type FetchAllInit, fetchAllWith } from "./fetch-all.js";
import { markRedirected, toResponse } from "./from-wire.js";
import { type ExternalRedirect, followRedirects, isRedirectStatus } from "./redirect.js";
import { toWire } from "./to-wire.js";

export type { FetchAllInit } from "./fetch-all.js";
export type { ExternalRedirect } from "./redirect.js";

/** Default host suffixes stripped to find the service: `weather.nats` and `weather.mesh` name `weather`. */
export const DEFAULT_SUFFIXES: readonly string[] = [".nats", ".mesh"];
/** Default deadline of one call, in milliseconds. */
export const DEFAULT_TIMEOUT = 30_000;

/**
 * Options of {@link createFetch}.
 *
 * @example
 * ```ts
 * const fetch = createFetch({
 *   connection: { servers: "nats://127.0.0.1:4222", name: "checkout" },
 *   timeout: 5_000, // ms until the response head
 *   retry: { attempts: 3, backoffMs: 25, maxBackoffMs: 250 },
 *   breaker: {}, // per-service circuit breakers with the defaults
 *   hedge: { maxHedges: 1, quantile: 0.95 },
 * });
 * ```
 */
export interface FetchOptions extends ConnectionSourceOptions, CallGuardOptions {
  /** Host suffixes to strip to find the service name (default `.nats`, `.mesh`). */
  suffixes?: readonly string[];
  /**
   * Deadline of each call until the response head arrives, in milliseconds (default 30 000);
   * `init.timeout` overrides it per call. A streamed body may take longer.
   */
  timeout?: number;
  /** Heartbeat interval asked of services, in ms (default 1000; 0 for none): what heartbeats are for is in docs/STREAMING.md. */
  heartbeat?: number;
  /** Credit for streamed responses, in chunks (default 16; 0: one-message responses only). */
  window?: number;
  /**
   * What a followed redirect to a URL outside the mesh does (default `"error"`: the call rejects
   * with {@link RedirectOutsideError}, code `NM_ERR_REDIRECT_OUTSIDE`). `"platform"` hands it to the
   * platform's `fetch`, a function to that function, within the call's signal and timeout. A URL is
   * inside the mesh when it is http(s) and its host ends with one of the `suffixes` or is the host of
   * the request that was redirected (a relative Location), and names a valid service.
   */
  externalRedirect?: ExternalRedirect;
  /**
   * Durable requests (PROTOCOL.md §13; default false): a request with `Prefer: respond-async` is
   * stored in the service's JetStream stream and answered `202` with `Location:
   * http://<host>/$requests/<id>` and `Preference-Applied: respond-async`; a GET of that URL answers
   * `202` with the state while the request waits or runs, then its stored answer (404 unknown or
   * expired, 500 `NM_ERR_DURABLE_DEAD_LETTER`). Off, `Prefer` travels to the service as any header.
   */
  durable?: boolean;
  /**
   * Publish this caller's report — per service: calls, no-responders and timeouts, which no instance
   * can see — on `$NM.CALLERS.<id>` each second from the first call on, for dashboards and
   * `natsmesh top` to sum (PROTOCOL.md §12.1). Default false; `{ interval }` in ms sets the period.
   * `MeshDispatcher` takes it too (id `dispatcher-<nuid>`).
   * The connection's user needs publish permission on `$NM.CALLERS.>`.
   *
   * @example
   * ```ts
   * const fetch = createFetch({ callerReports: true });
   * ```
   */
  callerReports?: CallerReportsOption;
  /**
   * Outlier ejection (docs/TRAFFIC.md §10), off by default: `true` (or settings) watches the insight
   * reports of the services this client calls (`$NM.REPORT.<service>.*`, from its first call to
   * each), and while an instance that reported lately is silent — a frozen process keeps its place
   * in the queue group — sends that service's calls to the others by name (`$I`), round robin. A call
   * that names its own `instance`, or streams its body, is never routed around. The gateway does
   * this by default. The connection's user needs subscribe permission on `$NM.REPORT.>`.
   *
   * @example
   * ```ts
   * const fetch = createFetch({ eject: { silentIntervals: 3 } });
   * ```
   */
  eject?: ClientEjectOption;
}

/**
 * `RequestInit` plus natsmesh's per-call deadline and hedging choice.
 *
 * @example
 * ```ts
 * const init: MeshRequestInit = { method: "POST", body: JSON.stringify(order), timeout: 2_000, hedge: false };
 * const res = await fetch("http://orders/orders", init);
 * ```
 */
export interface MeshRequestInit extends RequestInit {
  /** Deadline of this call in milliseconds; rejects with a `TimeoutError` (code `NM_ERR_TIMEOUT`). */
  timeout?: number;
  /**
   * Hedging of this call (default: the client's `hedge` option): `false` never sends a copy, `true`
   * hedges with the client's settings (or the defaults), an object overrides `maxHedges`,
   * `quantile`, `minDelayMs`, `maxDelayMs`. Non-idempotent requests and streamed bodies are never
   * hedged, whatever it says.
   */
  hedge?: HedgeChoice;
  /**
   * The instance that must answer this call: its id, as a response's `mesh-instance` or
   * `natsmesh services ls` shows it. The request goes to that instance only (PROTOCOL.md §10), even
   * while it is saturated (it waits for a slot there). When the instance is gone the call rejects
   * at once with {@link NoRespondersError} (503); retries never move it to another instance, and it
   * is neither hedged nor counted by the service's circuit breaker. A redirect to the same service
   * stays with the instance.
   *
   * @example
   * ```ts
   * const res = await fetch("http://weather/cache/stats", { instance: "hx2Kq0l1eDzNaBvVQhTz5A" });
   * ```
   */
  instance?: string;
  /**
   * `true` stores this request durably whatever the client's `durable` option and `Prefer` header
   * say (see {@link FetchOptions.durable}); `false` sends it live. Rejects with a `MeshError`
   * `NM_ERR_DURABLE_UNAVAILABLE` (503) when JetStream is not enabled or no instance of the service
   * works durable requests, `NM_ERR_DURABLE_FULL` (503) when its stream is full.
   */
  durable?: boolean;
}

/**
 * A `fetch` that sends requests over NATS; close it to close a connection it opened.
 *
 * @example
 * ```ts
 * await using fetch = createFetch();
 * const res = await fetch("http://weather/forecast?city=Oslo");
 * console.log(res.status, await res.json());
 * ```
 */
export interface MeshFetch {
  (input: string | URL | Request, init?: MeshRequestInit): Promise<Response>;
  /**
   * Sends one request to every instance of the URL's service and yields each one's answer (its
   * `mesh-instance` names it) as it comes: scatter-gather with the request-many semantics of NATS.
   * The iteration ends on the first of `init.timeout` (total wait; default the client's timeout),
   * `init.max` answers, `init.stall` ms after the last answer (default 300), the signal's abort —
   * and at once when no instance listens. The request and each answer are one message each (bodies
   * up to the server's `max_payload`; a larger request body is a {@link PayloadTooLargeError}, a
   * larger answer the instance's 500 `NM_ERR_PAYLOAD_TOO_LARGE`). A bound function: `const fetchAll
   * = fetch.all` works.
   *
   * @example
   * ```ts
   * for await (const res of fetch.all("http://weather/cache/flush", { method: "POST", stall: 500 })) {
   *   console.log(res.headers.get("mesh-instance"), res.status);
   * }
   * ```
   */
  all(input: string | URL | Request, init?: FetchAllInit): AsyncIterable<Response>;
  /**
   * Sends an event to every instance of the URL's service, fire-and-forget: each instance runs the
   * request and answers nothing (PROTOCOL.md §10). Resolves once the NATS server has the message —
   * not when, or whether, instances ran it (no instance listening is no error). The request must fit
   * in one message ({@link PayloadTooLargeError} otherwise); `init.timeout` bounds opening the
   * connection.
   *
   * @example
   * ```ts
   * await fetch.broadcast("http://weather/cache/flush", { method: "POST" });
   * ```
   */
  broadcast(input: string | URL | Request, init?: RequestInit & { timeout?: number }): Promise<void>;
  /** Closes the NATS connection if this fetch opened it. */
  close(): Promise<void>;
  /** `close()`, for `await using fetch = createFetch()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Creates a `fetch` whose requests go to services over NATS: the URL's host names the service
 * (`http://weather.nats/city?q=london` → service `weather`, subject `mesh.weather.get`).
 *
 * Failures with no HTTP response reject with typed errors carrying `code`, `status`, `service` and
 * `subject`: {@link NoRespondersError} (at once), {@link TimeoutError}, {@link ConnectionClosedError},
 * {@link PayloadTooLargeError}, {@link BadResponseError}. An aborted signal rejects with its reason,
 * the signal and the timeout count from the call, while the connection is still being opened too.
 *
 * Redirects follow the Fetch standard (`redirect: "follow"` by default, `"manual"` returns the 3xx
 * response itself, `"error"` rejects with a `TypeError`), within the mesh and within the call's
 * timeout; see {@link FetchOptions.externalRedirect} for redirects out of it.
 *
 * @param options - a connection (`nc`) or connection options; NATS_* environment otherwise.
 * @returns a function with the `fetch` signature.
 * @example
 * ```ts
 * const fetch = createFetch();
 * const res = await fetch("http://weather.nats/city?q=london");
 * console.log(res.status, await res.json());
 * await fetch.close();
 * ```
 */
export function createFetch(options: FetchOptions = {}): MeshFetch {
  const {
    suffixes = DEFAULT_SUFFIXES,
    timeout = DEFAULT_TIMEOUT,
    heartbeat,
    window,
    externalRedirect = "error",
    durable = false,
  } = options;
  const source = new ConnectionSource(options);
  const guard = new CallGuard(options);
  const durableCalls = new DurableCalls();
  const tally = options.callerReports ? new CallerTally("fetch", options.callerReports) : undefined;
  const ejection = ClientEjection.of(options.eject);
  const closeFetch = async (): Promise<void> => {
    ejection?.close();
    await tally?.stop();
    await source.close();
  };
  const meshFetch = async (input: string | URL | Request, init?: MeshRequestInit): Promise<Response> => {
    // The common cases need no await: a simple body is laid out at once, the connection is open.
    if (init?.instance !== undefined) assertInstanceId(init.instance);
    const laid = toWire(input, init);
    const call = laid instanceof Promise ? await laid : laid;
    const service = serviceFromHost(call.hostname, suffixes);
    const deadline = init?.timeout ?? timeout;
    const started = performance.now();
    const ready = source.ready;
    const { nc, prefix } = ready ?? (await connectWithin(source, service, deadline, call.signal));
    const { request, signal } = call;
    const intent = durableIntent(request, durable, init?.durable);
    if (intent !== undefined) {
      const answer = await durableCalls.run(nc, prefix, service, call.hostname, request, intent);
      return finish(answer, call.url, request.method, service);
    }
    const instance = init?.instance;
    const attempt = (svc: string, req: WireRequest, o: Parameters<typeof callService>[3]) =>
      tally ? tally.attempt(svc, callService(nc, svc, req, o)) : callService(nc, svc, req, o);
    // One attempt of a call to `svc`, named to an instance or (undefined) to the queue group.
    const sendTo =
      (svc: string, req: WireRequest) =>
      (left: number, s: AbortSignal | undefined, resendable: boolean, named: string | undefined) =>
        attempt(svc, req, {
          prefix,
          timeout: left,
          signal: s,
          heartbeat,
          window,
          resendable,
          instance: named,
        });
    // A redirect to the same service stays with a named instance; elsewhere it is load-shared.
    const sendOnce = (svc: string, req: WireRequest, t: number) => {
      const to = sendTo(svc, req);
      if (instance !== undefined && svc === service)
        return guard.runPinned(svc, req, t, signal, (left, s, resendable) =>
          to(left, s, resendable, instance),
        );
      return guard.run(
        svc,
        req,
        t,
        signal,
        (left, s, resendable) =>
          // A streamed body is read once: it keeps the queue group.
          ejection && req.stream === undefined
            ? ejection.route(nc, prefix, svc, (named) => to(left, s, resendable, named))
            : to(left, s, resendable, undefined),
        init?.hedge,
      );
    };
    const send = (svc: string, req: WireRequest, t: number) =>
      tally ? tally.call(nc, svc, sendOnce(svc, req, t)) : sendOnce(svc, req, t);
    const head = send(
      service,
      request,
      ready === undefined ? timeLeft(deadline, started, prefix, service, request.method) : deadline,
    );
    const first = await (ready === undefined ? asCallTimeout(head, deadline) : head);
    if (!isRedirectStatus(first.status)) return finish(first, call.url, request.method, service);
    // Only a redirect builds what following it needs.
    const end = await followRedirects(first, call.url, request, service, {
      mode: init?.redirect ?? (input instanceof Request ? input.redirect : "follow"),
      suffixes,
      external: externalRedirect,
      signal,
      remaining: (svc, method) => timeLeft(deadline, started, prefix, svc, method),
      send: (svc, req, timeLeftNow) => asCallTimeout(send(svc, req, timeLeftNow), deadline),
    });
    if (end instanceof Response) return end;
    const res = finish(end.res, end.url, end.method, end.service);
    return end.redirected ? markRedirected(res) : res;
  };
  return Object.assign(meshFetch, {
    all: (input: string | URL | Request, init?: FetchAllInit) =>
      fetchAllWith({ source, suffixes, timeout }, input, init),
    broadcast: (input: string | URL | Request, init?: RequestInit & { timeout?: number }) =>
      broadcastWith({ source, suffixes, timeout }, input, init),
    close: () => closeFetch(),
    [Symbol.asyncDispose]: () => closeFetch(),
  });
}

/**
 * What is left of a call's deadline (0: none), in whole milliseconds: the connection's opening and
 * each redirect count against it.
 *
 * @throws {@link TimeoutError} once it has passed.
 */
function timeLeft(
  deadline: number,
  started: number,
  prefix: string,
  service: string,
  method: string,
): number {
  if (deadline <= 0) return 0;
  const left = deadline - (performance.now() - started);
  if (left >= 1) return Math.floor(left);
  throw new TimeoutError({ service, subject: requestSubject(prefix, service, method) }, deadline);
}

/** The `Response` of a final wire response. */
function finish(res: WireResponse, url: string, method: string, service: string): Response {
  if (res.status < 200) {
    throw new BadResponseError(`status ${res.status} cannot be a final response`, { service });
  }
  try {
    return toResponse(res, url, method);
  } catch (err) {
    // Values the wire allows but the Fetch API's byte-string Headers refuse (above U+00FF).
    throw new BadResponseError(`response header refused by the Fetch API: ${(err as Error).message}`, {
      service,
      cause: err,
    });
  }
}
