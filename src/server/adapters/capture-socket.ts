/**
 * The socket behind a Node handler's `req.socket` and `res.socket` (adapters/node.ts).
 *
 * @module
 */
import { Duplex } from "node:stream";
import type { WriteCallback } from "./body-sink.js";

/** What a {@link CaptureSocket} tells the request it serves. */
export interface SocketUser {
  /** The socket closed: destroyed by the handler, or because the caller left. */
  socketClosed(): void;
}

/**
 * Nothing is written through this socket (the response's bytes go to the adapter directly); it
 * carries the connection facts handlers read, and its 'close' is what a destroyed response or
 * request ends in. Like an HTTP keep-alive connection, one serves many requests one after another:
 * after a response it goes back to a {@link SocketPool}, unless it was destroyed.
 */
export class CaptureSocket extends Duplex {
  /** The request it serves now. */
  user: SocketUser | undefined;

  constructor() {
    super({ decodeStrings: false });
    this.on("close", () => this.user?.socketClosed());
  }

  override _read(): void {}

  /** Bytes a handler writes to the socket itself (not through `res`) are dropped: no HTTP is spoken here. */
  override _write(_chunk: unknown, _encoding: BufferEncoding, cb: WriteCallback): void {
    cb();
  }

  /** As net.Socket's; there is no connection to time out or tune. */
  setTimeout(): this {
    return this;
  }

  /** As net.Socket's; a no-op. */
  setNoDelay(): this {
    return this;
  }

  /** As net.Socket's; a no-op. */
  setKeepAlive(): this {
    return this;
  }
}
for (const [name, value] of Object.entries({
  remoteAddress: "127.0.0.1",
  remotePort: 0,
  remoteFamily: "IPv4",
  encrypted: false,
})) {
  Object.defineProperty(CaptureSocket.prototype, name, { value, writable: true, configurable: true });
}

/** Free sockets kept for the next requests; beyond this many in flight at once, new ones are made. */
const POOL_SIZE = 256;

/** The free sockets of one adapter. */
export class SocketPool {
  readonly #free: CaptureSocket[] = [];

  /** A free socket, or a new one. */
  take(): CaptureSocket {
    return this.#free.pop() ?? new CaptureSocket();
  }

  /** Gives a socket back after its response; a destroyed one is dropped. */
  give(socket: CaptureSocket): void {
    socket.user = undefined;
    if (!socket.destroyed && this.#free.length < POOL_SIZE) this.#free.push(socket);
  }
}
