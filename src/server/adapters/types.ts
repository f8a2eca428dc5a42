import type { IncomingMessage, ServerResponse } from "node:http";
import type { WireRequest, WireResponse } from "../../protocol/index.js";
import type { RequestControl } from "../exchange.js";

/**
 * A Fetch handler, as `app.fetch` of Hono and friends: `(Request) => Response`.
 *
 * @example
 * ```ts
 * const handler: FetchHandler = (req) => Response.json({ path: new URL(req.url).pathname });
 * await serve(handler, { service: "echo" });
 * ```
 */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/**
 * A Node `(req, res)` listener: a node:http listener, an express app, fastify's `routing`.
 *
 * @example
 * ```ts
 * const listener: NodeListener = (req, res) => res.end(`hello ${req.url}`);
 * await serve(listener, { service: "hello" });
 * ```
 */
export type NodeListener = (req: IncomingMessage, res: ServerResponse) => unknown;

/**
 * Anything with a `fetch(Request)` method, such as a Hono app.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * const app = new Hono().get("/", (c) => c.text("hi"));
 * await serve(app, { service: "hello" });
 * ```
 */
export interface FetchApp {
  /** Answers one request; natsmesh passes only the request. */
  fetch(request: Request, ...rest: never[]): Response | Promise<Response>;
}

/**
 * A fastify instance, as far as {@link serve} needs it: `serve(app)` awaits `app.ready()` and then
 * hands each request to `app.routing(req, res)`, as fastify's own `inject()` does.
 *
 * @example
 * ```ts
 * import Fastify from "fastify";
 * const app = Fastify();
 * app.get("/", async () => ({ hello: "world" }));
 * await serve(app, { service: "hello" });
 * ```
 */
export interface FastifyApp {
  /** Routes a Node request to the app's handlers (fastify's documented `routing`). */
  routing(req: IncomingMessage, res: ServerResponse): void;
  /** Resolves once the app's plugins are loaded and its routes registered. */
  ready(): PromiseLike<unknown>;
}

/**
 * What {@link serve} accepts as a handler: a Node listener (an express app included), a Fetch
 * handler, an app with `fetch` (Hono), or a fastify instance.
 *
 * @example
 * ```ts
 * import express from "express";
 * const app = express().get("/", (_req, res) => res.send("hi"));
 * await serve(app, { service: "hello" }); // or a Fetch handler, a Hono app, a fastify instance
 * ```
 */
export type Handler = FetchHandler | NodeListener | FetchApp | FastifyApp;

/**
 * What a handler turns into inside natsmesh: wire request in, wire response out. Never rejects. A
 * response with `stream` set is still being produced; `control`, when given, tells of the caller
 * leaving (requests whose caller can reach the instance: heartbeats or streamed bodies).
 */
export type WireHandler = (
  request: WireRequest,
  context: RequestContext,
  control?: RequestControl,
) => Promise<WireResponse>;

/** Facts about one request that adapters need beside the request itself. */
export interface RequestContext {
  /** Service name (used as the URL host the handler sees). */
  service: string;
  /** Reports a handler failure (logged by the server; never sent to the caller). */
  onError(err: unknown): void;
}
