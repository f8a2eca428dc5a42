/**
 * The CORS policy: answers preflights and adds the Access-Control-* headers to actual requests.
 */
import { GatewayErrorCode } from "../errors.js";
import { type CorsOptions, type CorsSettings, corsSettings } from "./cors-settings.js";
import { incomingHeader } from "./incoming-header.js";
import type { HeaderPairs, Policy, PolicyDecision, PolicyRequest } from "./types.js";

/**
 * Creates a CORS policy.
 *
 * - A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered at once:
 *   204 with the `Access-Control-Allow-*` headers, or 403 (`NM_ERR_CORS_REJECTED`) when the origin or
 *   the method is not allowed.
 * - Any other request continues. From an allowed origin it gets `Access-Control-Allow-Origin` (plus
 *   `Access-Control-Allow-Credentials` and `Access-Control-Expose-Headers` when configured); from
 *   another origin it gets no CORS header, so the browser withholds the response, as common CORS
 *   middlewares do.
 * - `Vary: Origin` is added whenever the answer depends on the origin (a list of origins, or
 *   credentials), so shared caches keep one copy per origin.
 * - `*` is never sent together with credentials: the caller's origin (or requested method and
 *   headers) is reflected instead.
 *
 * @param options - allowed origins, methods and headers; see {@link CorsOptions}
 * @returns a policy named `cors`
 * @throws {@link PolicyConfigError} when the options are invalid (e.g. an origin with a path)
 * @example
 * ```ts
 * const policy = cors({ origins: ["https://app.example.com"], credentials: true, maxAge: 600 });
 * await policy.check({ method: "GET", path: "/", headers: { origin: "https://app.example.com" }, clientIp: "::1", route: "api" });
 * // { action: "continue", responseHeaders: [["Vary", "Origin"], ["Access-Control-Allow-Origin", "https://app.example.com"], ...] }
 * ```
 */
export function cors(options: CorsOptions): Policy {
  return new CorsPolicy(corsSettings(options, "cors()"));
}

class CorsPolicy implements Policy {
  readonly name = "cors";
  readonly #settings: CorsSettings;
  /** Whether responses depend on the request's origin. */
  readonly #varies: boolean;

  constructor(settings: CorsSettings) {
    this.#settings = settings;
    this.#varies = !settings.anyOrigin || settings.credentials;
  }

  check(req: PolicyRequest): PolicyDecision {
    const origin = incomingHeader(req.headers, "origin");
    const method = incomingHeader(req.headers, "access-control-request-method");
    if (req.method === "OPTIONS" && origin !== undefined && method !== undefined)
      return this.#preflight(req, origin, method.trim());
    const headers: HeaderPairs = this.#varies ? [["Vary", "Origin"]] : [];
    const allowOrigin = origin === undefined ? undefined : this.#allowOrigin(origin);
    if (allowOrigin !== undefined) {
      headers.push(...this.#originHeaders(allowOrigin));
      const expose = this.#settings.exposeHeaders;
      if (expose.length > 0)
        headers.push(["Access-Control-Expose-Headers", expose === "*" ? "*" : expose.join(", ")]);
    }
    return { action: "continue", responseHeaders: headers };
  }

  #preflight(req: PolicyRequest, origin: string, method: string): PolicyDecision {
    const { methods, allowHeaders, credentials, maxAge } = this.#settings;
    const vary = this.#varies ? ["Origin"] : [];
    const allowOrigin = this.#allowOrigin(origin);
    if (allowOrigin === undefined) return rejected(`CORS origin '${origin}' is not allowed`, vary);
    const upper = method.toUpperCase();
    if (methods !== "*" && !methods.includes(upper))
      return rejected(`CORS method '${method}' is not allowed (allowed: ${methods.join(", ")})`, vary);
    const headers: HeaderPairs = this.#originHeaders(allowOrigin);
    headers.push([
      "Access-Control-Allow-Methods",
      methods !== "*" ? methods.join(", ") : credentials ? upper : "*",
    ]);
    const requested = incomingHeader(req.headers, "access-control-request-headers")?.trim();
    if (allowHeaders === undefined || (allowHeaders === "*" && credentials)) {
      vary.push("Access-Control-Request-Headers");
      if (requested) headers.push(["Access-Control-Allow-Headers", requested]);
    } else {
      headers.push(["Access-Control-Allow-Headers", allowHeaders === "*" ? "*" : allowHeaders.join(", ")]);
    }
    if (maxAge !== undefined) headers.push(["Access-Control-Max-Age", String(maxAge)]);
    if (vary.length > 0) headers.unshift(["Vary", vary.join(", ")]);
    return { action: "respond", status: 204, headers };
  }

  /** The `Access-Control-Allow-Origin` value for `origin`, or `undefined` when it is not allowed. */
  #allowOrigin(origin: string): string | undefined {
    const { anyOrigin, origins, credentials } = this.#settings;
    // A credentialed "null" origin (sandboxed frame, file://) could be any page: never reflect it.
    if (anyOrigin) return !credentials ? "*" : origin === "null" ? undefined : origin;
    return origins.has(origin.toLowerCase()) ? origin : undefined;
  }

  #originHeaders(allowOrigin: string): HeaderPairs {
    const headers: HeaderPairs = [["Access-Control-Allow-Origin", allowOrigin]];
    if (this.#settings.credentials) headers.push(["Access-Control-Allow-Credentials", "true"]);
    return headers;
  }
}

function rejected(message: string, vary: readonly string[]): PolicyDecision {
  const headers: HeaderPairs = vary.length > 0 ? [["Vary", vary.join(", ")]] : [];
  return { action: "respond", status: 403, headers, message, code: GatewayErrorCode.CorsRejected };
}
