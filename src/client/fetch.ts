import { ConnectionSource, type ConnectionSourceOptions } from "../connect/index.js";
import { BadResponseError, serviceFromHost } from "../protocol/index.js";
import { CallGuard, type CallGuardOptions } from "../traffic/call-guard.js";
import { callService } from "./call.js";
import { toResponse } from "./from-wire.js";
import { toWire } from "./to-wire.js";

/** Default host suffixes stripped to find the service: `weather.nats` and `weather.mesh` name `weather`. */
export const DEFAULT_SUFFIXES: readonly string[] = [".nats", ".mesh"];
/** Default deadline of one call, in milliseconds. */
export const DEFAULT_TIMEOUT = 30_000;

/** Options of {@link createFetch}. */
export interface FetchOptions extends ConnectionSourceOptions, CallGuardOptions {
  /** Host suffixes to strip to find the service name (default `.nats`, `.mesh`). */
  suffixes?: readonly string[];
  /**
   * Deadline of each call until the response head arrives, in milliseconds (default 30 000);
   * `init.timeout` overrides it per call. A streamed body may take longer.
   */
  timeout?: number;
  /** Heartbeat interval asked of services, in ms (default 1000; 0 for none): see {@link CallOptions.heartbeat}. */
  heartbeat?: number;
  /** Credit for streamed responses, in chunks (default 16; 0: one-message responses only). */
  window?: number;
}

/** `RequestInit` plus natsmesh's per-call deadline. */
export interface MeshRequestInit extends RequestInit {
  /** Deadline of this call in milliseconds; rejects with a `TimeoutError` (code `NM_ERR_TIMEOUT`). */
  timeout?: number;
}

/** A `fetch` that sends requests over NATS; close it to close a connection it opened. */
export interface MeshFetch {
  (input: string | URL | Request, init?: MeshRequestInit): Promise<Response>;
  /** Closes the NATS connection if this fetch opened it. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Creates a `fetch` whose requests go to services over NATS: the URL's host names the service
 * (`http://weather.nats/city?q=london` → service `weather`, subject `mesh.weather.get`).
 *
 * Failures with no HTTP response reject with typed errors carrying `code`, `status`, `service` and
 * `subject`: {@link NoRespondersError} (at once), {@link TimeoutError}, {@link ConnectionClosedError},
 * {@link PayloadTooLargeError}, {@link BadResponseError}. An aborted signal rejects with its reason.
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
  const { suffixes = DEFAULT_SUFFIXES, timeout = DEFAULT_TIMEOUT, heartbeat, window } = options;
  const source = new ConnectionSource(options);
  const guard = new CallGuard(options);
  const meshFetch = async (input: string | URL | Request, init?: MeshRequestInit): Promise<Response> => {
    // The common cases need no await: a simple body is laid out at once, the connection is open.
    const laid = toWire(input, init);
    const call = laid instanceof Promise ? await laid : laid;
    const service = serviceFromHost(call.hostname, suffixes);
    const { nc, prefix } = source.ready ?? (await source.get());
    const res = await guard.run(service, call.request, init?.timeout ?? timeout, call.signal, (t) =>
      callService(nc, service, call.request, { prefix, timeout: t, signal: call.signal, heartbeat, window }),
    );
    if (res.status < 200) {
      throw new BadResponseError(`status ${res.status} cannot be a final response`, { service });
    }
    try {
      return toResponse(res, call.url, call.request.method);
    } catch (err) {
      // Values the wire allows but the Fetch API's byte-string Headers refuse (above U+00FF).
      throw new BadResponseError(`response header refused by the Fetch API: ${(err as Error).message}`, {
        service,
        cause: err,
      });
    }
  };
  return Object.assign(meshFetch, {
    close: () => source.close(),
    [Symbol.asyncDispose]: () => source.close(),
  });
}
