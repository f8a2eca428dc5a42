/**
 * `HOST:PORT` listen addresses.
 *
 * @module
 */

/**
 * Where a server listens.
 *
 * @example
 * ```ts
 * const { address } = await gateway.listen();
 * console.log(`${address.host}:${address.port}`);
 * ```
 */
export interface HostPort {
  /** Host or IP address; `[::1]` is given as `::1`. */
  host: string;
  /** TCP port; 0 picks a free one. */
  port: number;
}

const HOST_PORT_RE = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/;

/**
 * Parses a listen address: `HOST:PORT`, `[IPv6]:PORT`, `:PORT` (all interfaces) or a bare `PORT`
 * (loopback).
 *
 * @param text - the address, e.g. `127.0.0.1:8080`
 * @returns the host and port, or `undefined` when `text` is not an address
 * @example
 * ```ts
 * parseHostPort("127.0.0.1:8080"); // { host: "127.0.0.1", port: 8080 }
 * parseHostPort("[::1]:0");        // { host: "::1", port: 0 }
 * parseHostPort(":8080");          // { host: "0.0.0.0", port: 8080 }
 * ```
 */
export function parseHostPort(text: string): HostPort | undefined {
  const trimmed = text.trim();
  const bare = /^\d{1,5}$/.test(trimmed) ? `127.0.0.1:${trimmed}` : trimmed;
  const m = HOST_PORT_RE.exec(bare);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65_535) return undefined;
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

/**
 * Formats an address as a URL origin.
 *
 * @param scheme - `http` or `https`
 * @param address - the bound address
 * @returns e.g. `http://127.0.0.1:8080` or `https://[::1]:8443`
 * @example
 * ```ts
 * formatOrigin("http", { host: "127.0.0.1", port: 8080 }); // "http://127.0.0.1:8080"
 * ```
 */
export function formatOrigin(scheme: string, address: HostPort): string {
  const host = address.host.includes(":") ? `[${address.host}]` : address.host;
  return `${scheme}://${host}:${address.port}`;
}
