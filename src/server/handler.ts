import { fetchAdapter } from "./adapters/fetch.js";
import { installLightResponse } from "./adapters/light-response.js";
import { nodeAdapter } from "./adapters/node.js";
import type { FetchApp, FetchHandler, Handler, NodeListener, WireHandler } from "./adapters/types.js";

/** Which calling convention a handler uses. */
export type HandlerKind = "fetch" | "node";

function isFetchApp(handler: Handler): handler is FetchApp {
  return typeof handler === "object" && handler !== null && typeof (handler as FetchApp).fetch === "function";
}

/**
 * Picks the adapter for a handler: an object with a `fetch` method (a Hono app) or a function of at
 * most one parameter is a Fetch handler; a function of two or more parameters (`(req, res)`,
 * express's `(req, res, next)`) is a Node listener. `kind` overrides the guess. For a Fetch handler,
 * `globalThis.Response` becomes the light one (adapters/light-response.ts) unless
 * `overrideGlobalResponse` is false.
 *
 * @throws TypeError when the handler is neither.
 */
export function toWireHandler(
  handler: Handler,
  kind?: HandlerKind,
  overrideGlobalResponse = true,
): WireHandler {
  if (isFetchApp(handler)) {
    const app = handler;
    if (overrideGlobalResponse) installLightResponse();
    return fetchAdapter((req) => app.fetch(req));
  }
  if (typeof handler !== "function") {
    throw new TypeError(
      "handler must be a (req, res) listener, a (Request) => Response function or an app with fetch()",
    );
  }
  const chosen = kind ?? (handler.length >= 2 ? "node" : "fetch");
  if (chosen === "node") return nodeAdapter(handler as NodeListener);
  if (overrideGlobalResponse) installLightResponse();
  return fetchAdapter(handler as FetchHandler);
}
