/**
 * `natsmesh dashboard`'s own HTTP server: the dashboard, the capacity metrics on `/metrics`, and
 * `/healthz`, over one aggregator on a given connection.
 *
 * @module
 */
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { NatsConnection } from "@nats-io/nats-core";
import { Registry } from "prom-client";
import { createInsight, type InsightOptions, type MeshInsight } from "../insight/aggregator.js";
import { registerCapacityMetrics } from "../insight/prometheus.js";
import { createDashboard, type Dashboard } from "./dashboard.js";
import type { EventLimits } from "./events.js";

/** Options of {@link serveDashboard}. */
export interface ServeDashboardOptions extends InsightOptions {
  /** The connection the aggregator subscribes on. */
  nc: NatsConnection;
  /** Host to bind (default `127.0.0.1`: loopback). */
  host?: string;
  /** Port (default 0: a free one). */
  port?: number;
  /** NATS monitoring base URLs. */
  monitorUrls?: readonly string[];
  /** Limits of the event streams. */
  events?: EventLimits;
}

/** A listening dashboard. */
export interface DashboardServer extends AsyncDisposable {
  /** Its origin, e.g. `http://127.0.0.1:8090`. */
  readonly url: string;
  readonly insight: MeshInsight;
  readonly dashboard: Dashboard;
  /** The registry of `/metrics` (the capacity metrics). */
  readonly registry: Registry;
  /** Stops listening, ends the event streams and the aggregator (the connection stays open). */
  close(): Promise<void>;
}

/**
 * Starts an aggregator on `nc` and serves the dashboard, `/metrics` and `/healthz`.
 *
 * @param options - connection, address, aggregator options, monitoring URLs
 * @returns the listening server
 * @throws the listen error (address in use); RangeError for bad aggregator options
 * @example
 * ```ts
 * const server = await serveDashboard({ nc, port: 8090 });
 * console.log(server.url);
 * ```
 */
export async function serveDashboard(options: ServeDashboardOptions): Promise<DashboardServer> {
  const { nc, host = "127.0.0.1", port = 0, monitorUrls = [], events, ...insightOptions } = options;
  const insight = createInsight(nc, insightOptions);
  const registry = new Registry();
  registerCapacityMetrics(registry, insight);
  const dashboard = createDashboard({ insight, monitorUrls, ...(events && { events }) });
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/metrics") {
      registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
      return;
    }
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
      return;
    }
    if (!dashboard.handle(req, res)) res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  });
  server.listen(port, host);
  try {
    await once(server, "listening");
  } catch (err) {
    insight.close();
    dashboard.close();
    throw err;
  }
  const address = server.address() as AddressInfo;
  const shown = address.address.includes(":") ? `[${address.address}]` : address.address;
  const close = async () => {
    dashboard.close();
    insight.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    url: `http://${shown}:${address.port}`,
    insight,
    dashboard,
    registry,
    close,
    [Symbol.asyncDispose]: close,
  };
}
