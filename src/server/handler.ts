import { fetchAdapter } from "./adapters/fetch.js";
import { nodeAdapter } from "./adapters/node.js";
import type { FetchApp, FetchHandler, Handler, NodeListener, WireHandler } from "./adapters/types.js";

/** Which calling convention a handler uses. */
export type HandlerKind = "fetch" | "node";

function isFetchApp(handler: Handler): handler is FetchApp {
  return typeof handler === "object" && handler !== null && typeof (handler as FetchApp).fetch === "function";
}

/**
 * The calling convention of a handler: an object with a `fetch` method (a Hono app) or a function of
 * at most one parameter is a Fetch handler; a function of two or more parameters (`(req, res)`,
 * express's `(req, res, next)`) is a Node listener. `kind` overrides the guess for a function.
 *
 * @throws TypeError when the handler is neither.
 */
export function handlerKind(handler: Handler, kind?: HandlerKind): HandlerKind {
  if (isFetchApp(handler)) return "fetch";
  if (typeof handler !== "function") {
    throw new TypeError(
      "handler must be a (req, res) listener, a (Request) => Response function or an app with fetch()",
    );
  }
  return kind ?? (handler.length >= 2 ? "node" : "fetch");
}

/**
 * Picks the adapter for a handler, by {@link handlerKind}. Replaces no global: serve() installs the
 * light Response (adapters/light-response.ts) only for `overrideGlobalResponse: true`.
 *
 * @throws TypeError when the handler is neither.
 */
export function toWireHandler(handler: Handler, kind?: HandlerKind): WireHandler {
  if (isFetchApp(handler)) {
    const app = handler;
    return fetchAdapter((req) => app.fetch(req));
  }
  if (handlerKind(handler, kind) === "node") return nodeAdapter(handler as NodeListener);
  return fetchAdapter(handler as FetchHandler);
}
