/**
 * The public listener: HTTP/1.1 over `node:http`, or HTTPS over `node:http2` with HTTP/2 and
 * HTTP/1.1 negotiated by ALPN, with the protection limits applied to both.
 *
 * @module
 */
import { createServer, type Server } from "node:http";
import { createSecureServer, type Http2SecureServer, constants as h2 } from "node:http2";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import type { Limits } from "../config/config-types.js";
import type { HostPort } from "../config/host-port.js";
import { HEADER_COUNT_CODE } from "./client-error.js";
import type { ConnectionTracker } from "./connection-tracker.js";
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

/** Oldest TLS version the public server accepts. */
export const TLS_MIN_VERSION = "TLSv1.2";

/**
 * Cipher suites of the public server: the TLS 1.3 suites and, for TLS 1.2, ECDHE key exchange with
 * AEAD ciphers only (Mozilla's "intermediate" list, which HTTP/2's RFC 9113 §9.2.2 also requires): no
 * CBC, no RSA key exchange, no SHA-1 MACs.
 */
export const TLS_CIPHERS = [
  "TLS_AES_128_GCM_SHA256",
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

/** How often Node checks the head and request timeouts of HTTP/1.1 connections, at most. */
const CHECK_INTERVAL_MS = 1000;

/**
 * Creates the public server (not yet listening).
 *
 * - Plain: `node:http` with `headersTimeout`, `requestTimeout`, `keepAliveTimeout`, `maxHeaderSize`.
 * - TLS: `http2.createSecureServer({ allowHTTP1: true, ALPNProtocols: ["h2", "http/1.1"] })`; HTTP/1.1
 *   connections get the same head size and keep-alive limits, and a head deadline of their own (Node
 *   applies `headersTimeout` only to `node:http` servers): each head, the first counted from the
 *   handshake, must be complete within `headersTimeout`, or it is answered 408 as on plain HTTP.
 *   HTTP/2 sessions idle for `keepAliveTimeout` are closed with a GOAWAY; a header list over
 *   `maxHeaderSize` is reset with `ENHANCE_YOUR_CALM` also when sent before the client acknowledged
 *   the server's SETTINGS (nghttp2 applies the limit only after). The body deadline
 *   (`requestTimeout`) is enforced by the request handler for both.
 * - Both: at most `maxConnections` connections; more are refused. An HTTP/1.1 request whose connection
 *   was already answered and ended (a head completed after a 408 or 400) is dropped, its socket destroyed.
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
  /** Head deadlines of HTTP/1.1 connections over TLS, while a head is awaited. */
  const heads = new WeakMap<Socket, NodeJS.Timeout>();
  const admit = (expectContinue: boolean) => (req: PublicRequest, res: PublicResponse) => {
    if ("stream" in req) {
      if (
        headerListSize(req.rawHeaders) > limits.maxHeaderSize ||
        fieldCount(req.rawHeaders) > limits.maxHeaderCount
      ) {
        req.stream.close(h2.NGHTTP2_ENHANCE_YOUR_CALM);
        return;
      }
    } else {
      clearTimeout(heads.get(req.socket));
      heads.delete(req.socket);
      // The connection was answered (408, 400) and ended before this head completed: nobody to answer.
      if (!req.socket.writable) {
        req.socket.destroy();
        return;
      }
      // Node keeps only the first `maxHeadersCount` fields (set to one more than the limit below)
      if (req.rawHeaders.length / 2 > limits.maxHeaderCount) {
        options.onClientError(headerCountError(), req.socket);
        return;
      }
    }
    onRequest(req, res, expectContinue);
  };
  const onContinue = admit(true);
  const onPlain = admit(false);
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
    server.maxHeadersCount = limits.maxHeaderCount + 1;
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
      minVersion: TLS_MIN_VERSION,
      ciphers: TLS_CIPHERS,
      honorCipherOrder: true,
      handshakeTimeout: limits.headersTimeout,
      settings: { maxHeaderListSize: limits.maxHeaderSize },
      // nghttp2's own bound on fields (pseudo-headers included); the exact limit is checked on arrival
      maxHeaderListPairs: limits.maxHeaderCount + 8,
    },
    onPlain,
  );
  // Read by Node's HTTP/1.1 connection handling, which serves the HTTP/1.1 side of this server.
  Object.assign(server, {
    keepAliveTimeout: limits.keepAliveTimeout,
    maxHeaderSize: limits.maxHeaderSize,
    maxHeadersCount: limits.maxHeaderCount + 1,
  });
  server.maxConnections = limits.maxConnections;
  server.on("connection", (socket: Socket) => tracker.addRawSocket(socket));
  // Node's HTTP/1.1 head timeout is not applied here, and an idle socket timeout is reset by every byte
  // of a trickled head: each head gets a deadline, armed at the handshake and, between requests, at the
  // first byte of the next head, cleared when the head is complete. At the deadline the connection is
  // answered as on plain HTTP/1.1 (408, then ended); at the next one, if still open, destroyed.
  const expire = (socket: TLSSocket) => {
    options.onClientError(headTimeoutError(), socket);
    if (!socket.destroyed) heads.set(socket, setTimeout(expire, limits.headersTimeout, socket));
  };
  server.on("secureConnection", (socket: TLSSocket) => {
    if (socket.alpnProtocol === "h2") return;
    tracker.addSocket(socket);
    heads.set(socket, setTimeout(expire, limits.headersTimeout, socket));
    // Runs after Node's parser saw the bytes: a complete head has cleared the deadline and is in flight.
    socket.on("data", () => {
      if (!heads.has(socket) && !tracker.isBusy(socket))
        heads.set(socket, setTimeout(expire, limits.headersTimeout, socket));
    });
    socket.once("close", () => {
      clearTimeout(heads.get(socket));
      heads.delete(socket);
    });
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

/** The error a head not received in time is reported with, as Node's own check reports it. */
function headTimeoutError(): NodeJS.ErrnoException {
  return Object.assign(new Error("request head not received in time"), { code: "ERR_HTTP_REQUEST_TIMEOUT" });
}

/** The error a head with more than `maxHeaderCount` fields is answered with (431). */
function headerCountError(): NodeJS.ErrnoException {
  return Object.assign(new Error("too many header fields"), { code: HEADER_COUNT_CODE });
}

/** Header fields of a request, HTTP/2 pseudo-headers (`:path`, ...) not counted. */
function fieldCount(rawHeaders: string[]): number {
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.charCodeAt(0) !== 58) n++;
  return n;
}

/**
 * The size of an HTTP/2 header list as `SETTINGS_MAX_HEADER_LIST_SIZE` counts it: name and value
 * octets (one per character: Node decodes them as latin1) plus 32 per field, pseudo-headers included.
 */
function headerListSize(rawHeaders: string[]): number {
  let size = (rawHeaders.length / 2) * 32;
  for (const nameOrValue of rawHeaders) size += nameOrValue.length;
  return size;
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
