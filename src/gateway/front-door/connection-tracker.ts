/**
 * Tracks the public server's connections and the requests in flight on each, for a graceful close.
 *
 * @module
 */
import type { ServerHttp2Session } from "node:http2";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";

/** What a request runs on: an HTTP/1.1 socket, or an HTTP/2 session. */
export type ConnectionKey = Socket | ServerHttp2Session;

/**
 * Knows every open connection, which are idle, and how many requests are in flight, so that closing
 * can end idle connections at once, let busy ones finish, then end them.
 *
 * @example
 * ```ts
 * const tracker = new ConnectionTracker();
 * server.on("connection", (s) => tracker.addSocket(s));
 * tracker.begin(req.socket); res.once("close", () => tracker.end(req.socket));
 * await tracker.idle();
 * ```
 */
export class ConnectionTracker {
  readonly #sockets = new Set<Socket>();
  readonly #raw = new Set<Socket>();
  readonly #sessions = new Set<ServerHttp2Session>();
  readonly #busy = new Map<ConnectionKey, number>();
  #inFlight = 0;
  #waiters: Array<() => void> = [];

  /** Requests in flight on all connections. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Tracks a connection until it closes.
   *
   * @param socket - a TCP socket, or a TLS socket once its handshake is done
   * @example
   * ```ts
   * server.on("secureConnection", (s) => tracker.addSocket(s));
   * ```
   */
  addSocket(socket: Socket): void {
    this.#sockets.add(socket);
    socket.once("close", () => {
      this.#sockets.delete(socket);
      this.#busy.delete(socket);
    });
  }

  /**
   * Tracks the TCP socket under a TLS connection, from before its handshake, so that
   * {@link destroyAll} also ends handshakes that never complete.
   *
   * @param socket - the TCP socket
   * @example
   * ```ts
   * tlsServer.on("connection", (s) => tracker.addRawSocket(s));
   * ```
   */
  addRawSocket(socket: Socket): void {
    this.#raw.add(socket);
    socket.once("close", () => this.#raw.delete(socket));
  }

  /**
   * Tracks an HTTP/2 session until it closes.
   *
   * @param session - the session
   * @example
   * ```ts
   * server.on("session", (s) => tracker.addSession(s));
   * ```
   */
  addSession(session: ServerHttp2Session): void {
    this.#sessions.add(session);
    session.once("close", () => {
      this.#sessions.delete(session);
      this.#busy.delete(session);
    });
  }

  /**
   * Counts a request starting on a connection.
   *
   * @param key - the request's socket (HTTP/1.1) or session (HTTP/2)
   * @example
   * ```ts
   * tracker.begin(req.socket);
   * ```
   */
  begin(key: ConnectionKey): void {
    this.#inFlight++;
    this.#busy.set(key, (this.#busy.get(key) ?? 0) + 1);
  }

  /**
   * Counts a request finished (answered, or its client gone).
   *
   * @param key - the same key given to {@link begin}
   * @example
   * ```ts
   * res.once("close", () => tracker.end(req.socket));
   * ```
   */
  end(key: ConnectionKey): void {
    this.#inFlight--;
    const n = (this.#busy.get(key) ?? 1) - 1;
    if (n > 0) this.#busy.set(key, n);
    else this.#busy.delete(key);
    if (this.#inFlight === 0) for (const wake of this.#waiters.splice(0)) wake();
  }

  /**
   * @param key - a socket or session
   * @returns whether a request is in flight on it
   * @example
   * ```ts
   * if (!tracker.isBusy(socket)) socket.end();
   * ```
   */
  isBusy(key: object): boolean {
    return this.#busy.has(key as ConnectionKey);
  }

  /**
   * Resolves once no request is in flight.
   *
   * @returns a promise resolved at once when nothing is in flight
   * @example
   * ```ts
   * await tracker.idle();
   * ```
   */
  idle(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /**
   * Ends what is idle: HTTP/2 sessions get a GOAWAY (their open streams finish), idle HTTP/1.1
   * connections are ended.
   *
   * @example
   * ```ts
   * server.close(); tracker.closeIdle();
   * ```
   */
  closeIdle(): void {
    for (const session of this.#sessions) if (!session.closed) session.close();
    for (const socket of this.#sockets) {
      if ((socket as TLSSocket).alpnProtocol === "h2" || this.#busy.has(socket)) continue;
      socket.end();
    }
  }

  /**
   * Destroys every connection still open.
   *
   * @example
   * ```ts
   * tracker.destroyAll();
   * ```
   */
  destroyAll(): void {
    for (const session of this.#sessions) session.destroy();
    for (const socket of this.#sockets) socket.destroy();
    for (const socket of this.#raw) socket.destroy();
  }

  /** Number of open connections. */
  get connections(): number {
    return this.#sockets.size;
  }
}
