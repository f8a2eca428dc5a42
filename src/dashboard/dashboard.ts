/**
 * The web dashboard's HTTP side: the page and its assets, `/api/mesh` (the picture as JSON) and
 * `/api/events` (server-sent events: the picture and each service's new chart point, every tick).
 * Mounted on the gateway's admin port and served by `natsmesh dashboard`.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { MeshInsight } from "../insight/aggregator.js";
import type { MeshView } from "../insight/view.js";
import { dashboardAssets } from "./assets.js";
import { EventClients, type EventLimits, sseEvent } from "./events.js";
import { type MonitorFacts, NatsMonitor } from "./monitor.js";

/** Options of {@link createDashboard}. */
export interface DashboardOptions {
  /** The aggregator whose picture the page shows. */
  insight: MeshInsight;
  /** NATS monitoring base URLs (`http://127.0.0.1:8222`); none: the page says it is not configured. */
  monitorUrls?: readonly string[];
  /** Limits of the event streams. */
  events?: EventLimits;
}

/** A mounted dashboard. */
export interface Dashboard {
  /**
   * Answers a dashboard request.
   *
   * @returns false when the path is not the dashboard's (the caller answers it)
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** The event streams (for their counters). */
  readonly events: EventClients;
  /** Ends the event streams and stops listening to the aggregator (the aggregator stays open). */
  close(): void;
}

/** The JSON of `/api/mesh` and of each event: the picture, and the NATS servers' facts. */
export interface DashboardState {
  view: MeshView;
  monitor: MonitorFacts;
}

const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

/**
 * Creates the dashboard's request handler. Nothing listens here: mount {@link Dashboard.handle} on
 * an HTTP server (the gateway's admin server does, and `natsmesh dashboard`'s own).
 *
 * @param options - the aggregator, the NATS monitoring URLs, event limits
 * @returns the dashboard
 * @throws TypeError for a monitoring URL that is not http(s)
 * @example
 * ```ts
 * const dashboard = createDashboard({ insight: createInsight(nc) });
 * createServer((req, res) => dashboard.handle(req, res) || res.writeHead(404).end()).listen(8090, "127.0.0.1");
 * ```
 */
export function createDashboard({ insight, monitorUrls = [], events: limits }: DashboardOptions): Dashboard {
  const monitor = new NatsMonitor(monitorUrls);
  const events = new EventClients(limits);
  const state = (): DashboardState => ({ view: insight.view(), monitor: monitor.latest() });
  const stop = insight.onUpdate((view) => {
    if (events.size === 0) return;
    events.send("update", JSON.stringify({ view, monitor: monitor.latest() }));
  });
  return {
    events,
    handle(req, res) {
      const path = (req.url ?? "/").split("?")[0]!;
      if (path === "/api/mesh") {
        void monitor.read().then(() => {
          const text = JSON.stringify(state());
          res.writeHead(200, { ...SECURITY_HEADERS, "content-type": "application/json" });
          res.end(req.method === "HEAD" ? undefined : text);
        });
        return true;
      }
      if (path === "/api/events") {
        const first = sseEvent("init", JSON.stringify({ ...state(), history: insight.history() }));
        for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
        events.open(res, first);
        return true;
      }
      const asset = dashboardAssets().get(path);
      if (!asset) return false;
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        "content-type": asset.type,
        "content-length": asset.body.length,
      });
      res.end(req.method === "HEAD" ? undefined : asset.body);
      return true;
    },
    close() {
      stop();
      events.close();
    },
  };
}
