/**
 * The mesh dashboard: a web page (JavaScript modules, uPlot charts, every asset served here) over an
 * insight aggregator, live through server-sent events. Mounted on the gateway's admin port and
 * served by `natsmesh dashboard`.
 *
 * @example
 * ```ts
 * import { serveDashboard } from "natsmesh/internal";
 * const server = await serveDashboard({ nc, port: 8090 });
 * ```
 *
 * @module
 */
export { createDashboard, type Dashboard, type DashboardOptions, type DashboardState } from "./dashboard.js";
export { EventClients, type EventLimits } from "./events.js";
export { type MonitorFacts, monitorUrlsFrom, NatsMonitor, type ServerFacts } from "./monitor.js";
export { type DashboardServer, type ServeDashboardOptions, serveDashboard } from "./server.js";
