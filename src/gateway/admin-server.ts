/**
 * The admin listener, apart from public traffic: `/healthz`, `/readyz` and `/metrics`.
 *
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Registry } from "prom-client";

/** What the admin endpoints report on. */
export interface AdminSources {
  /** The gateway's metrics registry. */
  registry: Registry;
  /** Why the gateway cannot serve now, or `undefined` when it is ready. */
  notReady: () => string | undefined;
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
    const reason = sources.notReady();
    return reason === undefined
      ? json(res, 200, { status: "ready" })
      : json(res, 503, { status: "not ready", reason });
  }
  if (path === "/metrics") {
    const text = await sources.registry.metrics();
    res.writeHead(200, {
      "content-type": sources.registry.contentType,
      "content-length": Buffer.byteLength(text),
    });
    res.end(text);
    return;
  }
  json(res, 404, { error: "not found", endpoints: ["/healthz", "/readyz", "/metrics"] });
}

/**
 * Creates the admin server: `/healthz` answers 200 while the process is up, `/readyz` 200 when
 * connected to NATS (503 with the reason otherwise), `/metrics` the Prometheus text format.
 *
 * @param sources - the metrics registry and the readiness check
 * @returns an HTTP server, not yet listening
 * @throws never
 * @example
 * ```ts
 * createAdminServer({ registry: metrics.registry, notReady: () => undefined }).listen(9090, "127.0.0.1");
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
