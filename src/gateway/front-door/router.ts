/**
 * Route matching: host routes, path-prefix routes and the default `/<service>/<rest>` rule.
 *
 * @module
 */
import { assertServiceName } from "../../protocol/index.js";
import type { Route } from "../config/route.js";

/** The route a request takes. */
export interface RouteMatch {
  /** The matched route. */
  readonly route: Route;
  /** The service to call. */
  readonly service: string;
  /** The path (with query) to send to the service. */
  readonly path: string;
}

function hostRank(route: Route): number {
  if (route.host === undefined) return 2;
  return route.host.startsWith("*.") ? 1 : 0;
}

function hostMatches(pattern: string, host: string): boolean {
  if (!pattern.startsWith("*.")) return pattern === host;
  return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
}

function prefixRest(prefix: string, path: string): string | undefined {
  if (prefix === "/") return path;
  if (!path.startsWith(prefix)) return undefined;
  const next = path.charCodeAt(prefix.length);
  // end of path, "/" or "?": the prefix ends on a segment boundary
  if (Number.isNaN(next) || next === 47 || next === 63) return path.slice(prefix.length);
  return undefined;
}

/**
 * The public host without its port, lower-cased: `API.example.com:8443` → `api.example.com`.
 *
 * @param host - the `Host` header or HTTP/2 `:authority`
 * @returns the host name, or `undefined` without one
 * @example
 * ```ts
 * hostName("Example.com:8080"); // "example.com"
 * hostName("[::1]:8080");       // "[::1]"
 * ```
 */
export function hostName(host: string | undefined): string | undefined {
  if (!host) return undefined;
  const end = host.startsWith("[") ? host.indexOf("]") + 1 : host.indexOf(":");
  return (end > 0 ? host.slice(0, end) : host).toLowerCase();
}

/**
 * Picks the route of a request. Host routes win over host-less ones (an exact host over a
 * `*.domain` one), then the longest prefix; equally specific routes keep their file order. When none
 * matches, the default rule (if on) takes `/<service>/<rest>` to `<service>` with path `/<rest>`.
 *
 * @example
 * ```ts
 * const router = new Router([billingRoute], defaultRoute);
 * router.match("api.example.com", "/api/billing/invoices?page=2");
 * ```
 */
export class Router {
  readonly #routes: readonly Route[];
  readonly #fallback: Route | undefined;

  /**
   * @param routes - the configured routes, in file order
   * @param fallback - the default rule, or `undefined` when disabled
   * @example
   * ```ts
   * new Router([], defaultRoute);
   * ```
   */
  constructor(routes: readonly Route[], fallback: Route | undefined) {
    this.#routes = routes
      .map((route, index) => ({ route, index }))
      .sort(
        (a, b) =>
          hostRank(a.route) - hostRank(b.route) ||
          (b.route.prefix?.length ?? 0) - (a.route.prefix?.length ?? 0) ||
          a.index - b.index,
      )
      .map((x) => x.route);
    this.#fallback = fallback;
  }

  /**
   * Finds the route for a request.
   *
   * @param host - the request's host name (see {@link hostName}), if any
   * @param path - the request path with query, starting with `/`
   * @returns the route, service and path to send, or `undefined` when nothing matches
   * @example
   * ```ts
   * router.match(undefined, "/weather/city?q=x"); // default rule: service "weather", path "/city?q=x"
   * ```
   */
  match(host: string | undefined, path: string): RouteMatch | undefined {
    for (const route of this.#routes) {
      if (route.host !== undefined && (host === undefined || !hostMatches(route.host, host))) continue;
      if (route.prefix === undefined) return { route, service: route.service, path };
      const rest = prefixRest(route.prefix, path);
      if (rest === undefined) continue;
      const sent = route.strip ? (rest.startsWith("/") ? rest : `/${rest}`) : path;
      return { route, service: route.service, path: sent };
    }
    return this.#fallback ? matchDefault(this.#fallback, path) : undefined;
  }
}

function matchDefault(route: Route, path: string): RouteMatch | undefined {
  let end = 1;
  while (end < path.length && path[end] !== "/" && path[end] !== "?") end++;
  const service = path.slice(1, end);
  try {
    assertServiceName(service);
  } catch {
    return undefined;
  }
  const rest = path.slice(end);
  return { route, service, path: rest.startsWith("/") ? rest : `/${rest}` };
}
