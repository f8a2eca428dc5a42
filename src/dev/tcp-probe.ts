/**
 * Checks whether a TCP port accepts connections.
 *
 * @module
 */
import { connect } from "node:net";

/**
 * Tries to open a TCP connection, and closes it at once.
 *
 * @param host - host name or IP address (IPv6 with or without brackets)
 * @param port - TCP port
 * @param timeout - how long to wait for the connection, in milliseconds
 * @returns `true` when the connection was accepted within `timeout`, `false` otherwise
 * @example
 * ```ts
 * if (await acceptsTcp("127.0.0.1", 4222, 500)) console.log("something listens on 4222");
 * ```
 */
export function acceptsTcp(host: string, port: number, timeout: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: host.replace(/^\[(.*)\]$/, "$1"), port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeout);
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}
