/**
 * The request-path scenarios, in the order of the tables. Each names the service side it needs
 * (bench/responders.ts) and runs its client side in its own process (bench/client.ts).
 */
export interface Scenario {
  id: string;
  label: string;
  /** The bench/responders.ts scenario that answers. */
  responder: string;
  /** Shown in the chart. */
  short: string;
  /**
   * The call it makes: `json` is the headline (bench/lib/order.ts: POST 1 KB JSON, the handler
   * parses it and answers a small JSON object); `get` the secondary tables (a GET naming the answer
   * size, no request body). Default `get`.
   */
  call?: "get" | "json";
  /** For a natsmesh `json` scenario: the direct-HTTP scenario serving the same app, for its ratio. */
  sameAppDirect?: string;
}

/**
 * The headline: the realistic call of issue #19, one scenario per way of serving it. ja/jb are raw
 * nats.js (the handler parses and answers JSON too), jm/js the peers with their params object, jh*
 * the same handlers and apps over direct HTTP/1.1 keep-alive without NATS.
 */
export const JSON_SCENARIOS: readonly Scenario[] = [
  {
    id: "ja",
    label: "nats.js `nc.request`, library defaults; `JSON.parse` / `JSON.stringify` by hand",
    responder: "raw-json",
    short: "nc.request",
  },
  {
    id: "jb",
    label: "lean mux (one inbox subscription, pending map, `noAsyncTraces`), JSON by hand: the limit",
    responder: "raw-json",
    short: "lean mux (limit)",
  },
  {
    id: "jc",
    label: "natsmesh `createFetch` → `serve`, Fetch handler (`await req.json()` → `Response.json()`)",
    responder: "mesh-fetch-json",
    short: "natsmesh Fetch",
  },
  {
    id: "jo",
    label: "natsmesh `createFetch` → `serve`, Hono app (`await c.req.json()` → `c.json()`)",
    responder: "mesh-hono-json",
    short: "natsmesh Hono",
  },
  {
    id: "jn",
    label:
      "natsmesh `createFetch` → `serve`, node:http listener (body read from `req`, `res.end(JSON.stringify())`)",
    responder: "mesh-node-json",
    short: "natsmesh node:http",
    sameAppDirect: "jh",
  },
  {
    id: "je",
    label: "natsmesh `createFetch` → `serve`, express app (`express.json()`, `res.json()`)",
    responder: "mesh-express-json",
    short: "natsmesh express",
    sameAppDirect: "jhe",
  },
  {
    id: "jf",
    label: "natsmesh `createFetch` → `serve`, fastify app (served as it is; route returns the object)",
    responder: "mesh-fastify-json",
    short: "natsmesh fastify",
    sameAppDirect: "jhf",
  },
  {
    id: "jm",
    label: "Moleculer 0.14 + NATS transporter (nats 2.x), `broker.call(action, params)`",
    responder: "moleculer",
    short: "Moleculer",
  },
  {
    id: "js",
    label: "NestJS 12 microservices, NATS transport, `client.send(pattern, data)`",
    responder: "nest",
    short: "NestJS",
  },
  {
    id: "jh",
    label: "direct HTTP keep-alive: undici Pool → node:http, the same listener as jn, no NATS",
    responder: "http-json",
    short: "direct HTTP node:http",
  },
  {
    id: "jhe",
    label: "direct HTTP keep-alive: undici Pool → node:http, the same express app as je, no NATS",
    responder: "http-express-json",
    short: "direct HTTP express",
  },
  {
    id: "jhf",
    label: "direct HTTP keep-alive: undici Pool → the same fastify app as jf listening, no NATS",
    responder: "http-fastify-json",
    short: "direct HTTP fastify",
  },
].map((s) => ({ ...s, call: "json" as const }));

/** The GET scenarios of the secondary tables (answer sizes). */
export const GET_SCENARIOS: readonly Scenario[] = [
  { id: "a", label: "nats.js `nc.request`, library defaults", responder: "raw", short: "nc.request" },
  {
    id: "b",
    label: "lean mux (one inbox subscription, pending map, `noAsyncTraces`)",
    responder: "raw",
    short: "lean mux (limit)",
  },
  {
    id: "c",
    label: "natsmesh `createFetch` → `serve` (Fetch handler)",
    responder: "mesh-fetch",
    short: "natsmesh Fetch",
  },
  {
    id: "c2",
    label: "natsmesh `createFetch` → `serve` (node:http listener)",
    responder: "mesh-node",
    short: "natsmesh node:http",
  },
  {
    id: "d",
    label: "natsmesh `createFetch` → `serve` (express app)",
    responder: "mesh-express",
    short: "natsmesh express",
  },
  {
    id: "u",
    label: "natsmesh `MeshDispatcher` (undici.request) → `serve` (Fetch handler)",
    responder: "mesh-fetch",
    short: "natsmesh undici",
  },
  {
    id: "h",
    label: "direct HTTP keep-alive (undici Pool → node:http), no NATS",
    responder: "http",
    short: "direct HTTP",
  },
  {
    id: "hx",
    label: "direct HTTP keep-alive (undici Pool → node:http), the same express app, no NATS",
    responder: "http-express",
    short: "express direct HTTP",
  },
  {
    id: "m",
    label: "Moleculer 0.14 + NATS transporter (nats 2.x), JSON serializer",
    responder: "moleculer",
    short: "Moleculer",
  },
  {
    id: "n",
    label: "NestJS 12 microservices, NATS transport",
    responder: "nest",
    short: "NestJS",
  },
];

/** Every scenario, headline first. */
export const SCENARIOS: readonly Scenario[] = [...JSON_SCENARIOS, ...GET_SCENARIOS];

/** The call a scenario makes. */
export function callOf(s: Scenario): "get" | "json" {
  return s.call ?? "get";
}

/** Scenarios whose code lives in bench/peers (bench/package.json devDependencies). */
export const PEER_RESPONDERS: ReadonlySet<string> = new Set(["moleculer", "nest"]);

/** The service name (and raw subject token) of a scenario's responder: `bench-<id>`. */
export function serviceName(id: string): string {
  return `bench-${id}`;
}
