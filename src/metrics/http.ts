/**
 * `serveMetricsHttp()`: a small HTTP server answering `GET /metrics` for Prometheus.
 *
 * @module
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { register as globalRegistry, type Registry } from "prom-client";

/**
 * Options of {@link serveMetricsHttp}.
 *
 * @example
 * ```ts
 * await using server = await serveMetricsHttp({ host: "0.0.0.0", port: 9464, path: "/metrics" });
 * ```
 */
export interface MetricsHttpOptions {
  /** TCP port (default 9464; 0 for any free port). */
  port?: number;
  /** Interface to listen on (default: every interface, as Node does). */
  host?: string;
  /** Registry to expose (default: prom-client's global `register`, where `serve()` records). */
  registry?: Registry;
  /** Path of the endpoint (default `/metrics`). */
  path?: string;
}

/**
 * A running metrics endpoint.
 *
 * @example
 * ```ts
 * await using server = await serveMetricsHttp({ port: 0 });
 * console.log(`scrape ${server.url}`);
 * ```
 */
export interface MetricsHttpServer {
  /** The node:http server. */
  readonly server: Server;
  /** The port it listens on. */
  readonly port: number;
  /** The endpoint's URL, e.g. `http://127.0.0.1:9464/metrics`. */
  readonly url: string;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
  /** `close()`, for `await using server = await serveMetricsHttp(...)`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Serves a registry in the Prometheus text format on `GET <path>` (and `HEAD`); other paths answer
 * 404, other methods 405.
 *
 * @param options - port, host, registry and path
 * @returns the running server, once it listens
 * @throws the listen error (`EADDRINUSE`...)
 * @example
 * ```ts
 * const metrics = await serveMetricsHttp({ port: 9464 });
 * // curl http://localhost:9464/metrics
 * await metrics.close();
 * ```
 */
export async function serveMetricsHttp({
  port = 9464,
  host,
  registry = globalRegistry,
  path = "/metrics",
}: MetricsHttpOptions = {}): Promise<MetricsHttpServer> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname !== path) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("method not allowed\n");
      return;
    }
    registry.metrics().then(
      (text) =>
        res
          .writeHead(200, { "content-type": registry.contentType })
          .end(req.method === "HEAD" ? undefined : text),
      (err: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(`${String(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const close = () =>
    new Promise<void>((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      server.closeAllConnections();
    });
  return {
    server,
    port: address.port,
    url: `http://${shownHost}:${address.port}${path}`,
    close,
    [Symbol.asyncDispose]: close,
  };
}
