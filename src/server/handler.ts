import { fetchAdapter } from "./adapters/fetch.js";
import { nodeAdapter } from "./adapters/node.js";
import type {
  FastifyApp,
  FetchApp,
  FetchHandler,
  Handler,
  NodeListener,
  WireHandler,
} from "./adapters/types.js";

/**
 * Which calling convention a handler uses.
 *
 * @example
 * ```ts
 * await serve(handler, { service: "orders", kind: "fetch" }); // when detection cannot tell
 * ```
 */
export type HandlerKind = "fetch" | "node";

/** What to pass, said by every error about a handler's shape. */
const WHAT_TO_PASS =
  "pass a Node listener (req, res) => void (node:http, an express app), a Fetch handler " +
  "(req) => Response, an object with fetch(req) (Hono), or a fastify instance";

/** The name fastify gives the function behind `app.routing`. */
const FASTIFY_ROUTING = "preRouting";

function isFetchApp(handler: Handler): handler is FetchApp {
  return typeof handler === "object" && handler !== null && typeof (handler as FetchApp).fetch === "function";
}

function isFastifyApp(handler: Handler): handler is FastifyApp {
  const app = handler as Partial<FastifyApp> | null;
  return (
    typeof app === "object" &&
    app !== null &&
    typeof app.routing === "function" &&
    typeof app.ready === "function"
  );
}

/** The shape of what was passed, for an error message. */
function shapeOf(handler: unknown): string {
  if (handler === null || handler === undefined) return String(handler);
  if (typeof handler !== "object") return `a ${typeof handler}`;
  if (typeof (handler as PromiseLike<unknown>).then === "function") return "a promise (await it first)";
  if (typeof (handler as { listen?: unknown }).listen === "function")
    return "a server (pass its request listener or app, not the server)";
  const name = (handler as object).constructor?.name;
  return name && name !== "Object" ? `a ${name} object` : "an object without fetch() or routing()";
}

/**
 * Waits until a handler can take requests: a fastify instance's `ready()` (its plugins loaded,
 * its routes registered); nothing for the other kinds.
 *
 * @param handler - what {@link toWireHandler} will be given
 * @returns once the handler is ready
 * @throws what `app.ready()` rejects with (a plugin that failed to load)
 * @example
 * ```ts
 * await whenReady(fastifyApp);
 * const wire = toWireHandler(fastifyApp);
 * ```
 */
export async function whenReady(handler: Handler): Promise<void> {
  if (isFastifyApp(handler)) await handler.ready();
}

/**
 * fastify's `app.routing` passed before `app.ready()` throws a TypeError from deep inside fastify
 * on every request: say what to do instead. After ready, it does not throw.
 */
function guardRouting(routing: NodeListener): NodeListener {
  return (req, res) => {
    try {
      return routing(req, res);
    } catch (err) {
      throw new TypeError(
        "fastify's app.routing threw: was it served before app.ready()? Pass the fastify instance, " +
          "serve(app, ...), which awaits app.ready(), or await app.ready() before serve(app.routing, ...)",
        { cause: err },
      );
    }
  };
}

/**
 * The calling convention of a handler: an object with a `fetch` method (a Hono app) or a function of
 * at most one parameter is a Fetch handler; a function of two or more parameters (`(req, res)`,
 * express's `(req, res, next)`) and a fastify instance are Node listeners. `kind` overrides the guess
 * for a function.
 *
 * @param handler - the app or function to serve
 * @param kind - the calling convention of a function handler, when the guess is wrong
 * @returns `"fetch"` or `"node"`
 * @throws TypeError when the handler is none of these, saying what to pass instead.
 */
export function handlerKind(handler: Handler, kind?: HandlerKind): HandlerKind {
  if (isFetchApp(handler)) return "fetch";
  if (isFastifyApp(handler)) return "node";
  if (typeof handler !== "function") {
    throw new TypeError(`cannot serve ${shapeOf(handler)}: ${WHAT_TO_PASS}`);
  }
  return kind ?? (handler.length >= 2 ? "node" : "fetch");
}

/**
 * Picks the adapter for a handler, by {@link handlerKind}; a fastify instance is served through its
 * `routing` (call {@link whenReady} first, as `serve()` does). Replaces no global: serve() installs the
 * light Response (adapters/light-response.ts) only for `overrideGlobalResponse: true`.
 *
 * @param handler - the app or function to serve
 * @param kind - the calling convention of a function handler, when the guess is wrong
 * @returns the handler on the wire
 * @throws TypeError when the handler is none of these, saying what to pass instead.
 * @example
 * ```ts
 * const wire = toWireHandler((req: Request) => new Response("hi"));
 * ```
 */
export function toWireHandler(handler: Handler, kind?: HandlerKind): WireHandler {
  if (isFetchApp(handler)) {
    const app = handler;
    return fetchAdapter((req) => app.fetch(req));
  }
  if (isFastifyApp(handler)) return nodeAdapter(handler.routing);
  if (handlerKind(handler, kind) === "node") {
    const listener = handler as NodeListener;
    return nodeAdapter(handler.name === FASTIFY_ROUTING ? guardRouting(listener) : listener);
  }
  return fetchAdapter(handler as FetchHandler);
}
