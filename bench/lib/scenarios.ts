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
}

export const SCENARIOS: readonly Scenario[] = [
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

/** Scenarios whose code lives in bench/peers (bench/package.json devDependencies). */
export const PEER_RESPONDERS: ReadonlySet<string> = new Set(["moleculer", "nest"]);

/** The service name (and raw subject token) of a scenario's responder: `bench-<id>`. */
export function serviceName(id: string): string {
  return `bench-${id}`;
}
