/**
 * The admin listener, apart from public traffic: `/healthz`, `/readyz` and `/metrics`, and the mesh
 * dashboard when the gateway runs one.
 *
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

/** The answer of `/readyz`: why the gateway cannot serve now, and what else to show. */
export interface ReadinessReport {
  /** Why the gateway cannot serve now, or `undefined` when it is ready. */
  reason: string | undefined;
  /** More fields of the JSON answer (e.g. the worker processes). */
  detail?: Record<string, unknown>;
}

/** What the admin endpoints report on. */
export interface AdminSources {
  /** The Prometheus text of `/metrics` and its content type. */
  metrics: () => Promise<{ text: string; contentType: string }>;
  /** What `/readyz` reports. */
  readiness: () => ReadinessReport | Promise<ReadinessReport>;
  /** The mesh dashboard (`/`, `/assets/*`, `/api/*`), when the gateway runs one: true when it answered. */
  dashboard?: { handle(req: IncomingMessage, res: ServerResponse): boolean } | undefined;
}

function json(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

async function route(req: IncomingMessage, res: ServerResponse, sources: AdminSources): Promise<void> {
  const path = (req.url ?? "/").split("?")[0];
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("allow", "GET, HEAD");
    json(res, 405, { error: "method not allowed" });
    return;
  }
  if (path === "/healthz") return json(res, 200, { status: "ok" });
  if (path === "/readyz") {
    const { reason, detail } = await sources.readiness();
    return reason === undefined
      ? json(res, 200, { status: "ready", ...detail })
      : json(res, 503, { status: "not ready", reason, ...detail });
  }
  if (path === "/metrics") {
    const { text, contentType } = await sources.metrics();
    res.writeHead(200, { "content-type": contentType, "content-length": Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  if (sources.dashboard?.handle(req, res)) return;
  const endpoints = ["/healthz", "/readyz", "/metrics"];
  if (sources.dashboard) endpoints.push("/", "/api/mesh", "/api/events");
  json(res, 404, { error: "not found", endpoints });
}

/**
 * Creates the admin server: `/healthz` answers 200 while the process is up, `/readyz` 200 when
 * ready (503 with the reason otherwise), `/metrics` the Prometheus text format.
 *
 * @param sources - the metrics and the readiness check
 * @returns an HTTP server, not yet listening
 * @example
 * ```ts
 * const registry = new Registry();
 * createAdminServer({
 *   metrics: async () => ({ text: await registry.metrics(), contentType: registry.contentType }),
 *   readiness: () => ({ reason: undefined }),
 * }).listen(9090, "127.0.0.1");
 * ```
 */
export function createAdminServer(sources: AdminSources): Server {
  return createServer((req, res) => {
    route(req, res, sources).catch(() => {
      if (!res.headersSent) json(res, 500, { error: "internal error" });
      else res.destroy();
    });
  });
}
