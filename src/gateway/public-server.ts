/**
 * The public listener: HTTP/1.1 over `node:http`, or HTTPS over `node:http2` with HTTP/2 and
 * HTTP/1.1 negotiated by ALPN, with the protection limits applied to both.
 *
 * @module
 */
import { createServer, type Server } from "node:http";
import { createSecureServer, type Http2SecureServer } from "node:http2";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import type { Limits } from "./config-types.js";
import type { ConnectionTracker } from "./connection-tracker.js";
import type { HostPort } from "./host-port.js";
import type { PublicRequest, PublicResponse } from "./respond.js";

/** The public server, plain or TLS. */
export type PublicServer = Server | Http2SecureServer;

/** What the public server is made of. */
export interface PublicServerOptions {
  /** Certificate and key (PEM); plain HTTP/1.1 without. */
  tls: { cert: Buffer; key: Buffer } | undefined;
  /** Protection limits. */
  limits: Limits;
  /** Tracks connections and in-flight requests. */
  tracker: ConnectionTracker;
  /** Serves a request. `expectContinue` is true for `Expect: 100-continue` requests not yet continued. */
  onRequest: (req: PublicRequest, res: PublicResponse, expectContinue: boolean) => void;
  /** Answers an HTTP/1.1 request the parser refused (bad header, head too large, timeout). */
  onClientError: (err: NodeJS.ErrnoException, socket: Duplex) => void;
}

/** How often Node checks the head and request timeouts of HTTP/1.1 connections, at most. */
const CHECK_INTERVAL_MS = 1000;

/**
 * Creates the public server (not yet listening).
 *
 * - Plain: `node:http` with `headersTimeout`, `requestTimeout`, `keepAliveTimeout`, `maxHeaderSize`.
 * - TLS: `http2.createSecureServer({ allowHTTP1: true, ALPNProtocols: ["h2", "http/1.1"] })`; HTTP/1.1
 *   connections get the same head size and keep-alive limits, and an idle limit of `headersTimeout`
 *   until their first request (Node applies the head timeout only to `node:http` servers); HTTP/2
 *   sessions idle for `keepAliveTimeout` are closed with a GOAWAY. The body deadline
 *   (`requestTimeout`) is enforced by the request handler for both.
 * - Both: at most `maxConnections` connections; more are refused.
 *
 * @param options - TLS material, limits, tracker and handlers
 * @returns the server
 * @throws the platform's TLS error for an unusable certificate or key
 * @example
 * ```ts
 * const server = createPublicServer({ tls: undefined, limits, tracker, onRequest, onClientError });
 * await listen(server, { host: "127.0.0.1", port: 8080 });
 * ```
 */
export function createPublicServer(options: PublicServerOptions): PublicServer {
  const { limits, tracker, onRequest } = options;
  const onContinue = (req: PublicRequest, res: PublicResponse) => onRequest(req, res, true);
  const onPlain = (req: PublicRequest, res: PublicResponse) => onRequest(req, res, false);
  if (!options.tls) {
    const server = createServer(
      {
        headersTimeout: limits.headersTimeout,
        requestTimeout: limits.requestTimeout,
        maxHeaderSize: limits.maxHeaderSize,
        connectionsCheckingInterval: Math.min(CHECK_INTERVAL_MS, limits.headersTimeout),
        requireHostHeader: true,
      },
      onPlain,
    );
    server.keepAliveTimeout = limits.keepAliveTimeout;
    server.maxConnections = limits.maxConnections;
    server.on("connection", (socket: Socket) => tracker.addSocket(socket));
    server.on("checkContinue", onContinue);
    server.on("clientError", options.onClientError);
    return server;
  }
  const server = createSecureServer(
    {
      cert: options.tls.cert,
      key: options.tls.key,
      allowHTTP1: true,
      ALPNProtocols: ["h2", "http/1.1"],
      handshakeTimeout: limits.headersTimeout,
      settings: { maxHeaderListSize: limits.maxHeaderSize },
    },
    onPlain,
  );
  // Read by Node's HTTP/1.1 connection handling, which serves the HTTP/1.1 side of this server.
  Object.assign(server, { keepAliveTimeout: limits.keepAliveTimeout, maxHeaderSize: limits.maxHeaderSize });
  server.maxConnections = limits.maxConnections;
  server.on("connection", (socket: Socket) => tracker.addRawSocket(socket));
  server.on("secureConnection", (socket: TLSSocket) => {
    if (socket.alpnProtocol === "h2") return;
    tracker.addSocket(socket);
    socket.setTimeout(limits.headersTimeout);
  });
  server.on("session", (session) => {
    tracker.addSession(session);
    if (limits.keepAliveTimeout > 0) {
      session.setTimeout(limits.keepAliveTimeout, () => {
        if (!tracker.isBusy(session)) session.close();
      });
    }
  });
  server.on("sessionError", () => {
    // A broken session is destroyed by Node; its requests see their streams close.
  });
  server.on("checkContinue", onContinue);
  server.on("clientError", options.onClientError);
  return server;
}

/**
 * Starts listening.
 *
 * @param server - the public or admin server
 * @param address - host and port (0 for a free port)
 * @returns the bound address
 * @throws the listen error, e.g. `EADDRINUSE`
 * @example
 * ```ts
 * const { port } = await listen(server, { host: "127.0.0.1", port: 0 });
 * ```
 */
export function listen(server: Server | Http2SecureServer, address: HostPort): Promise<HostPort> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.host, () => {
      server.off("error", reject);
      const bound = server.address();
      resolve(typeof bound === "object" && bound ? { host: bound.address, port: bound.port } : address);
    });
  });
}
