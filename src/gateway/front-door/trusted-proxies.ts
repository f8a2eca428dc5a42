/**
 * Trusted proxies: which peers may tell the gateway who the client is (X-Forwarded-*, Forwarded).
 *
 * @module
 */
import { BlockList, isIP } from "node:net";

/**
 * The peer's address as a plain IP: `::ffff:10.0.0.1` → `10.0.0.1`.
 *
 * @param address - a socket's `remoteAddress`
 * @returns the address, IPv4-mapped IPv6 unwrapped; `""` when unknown
 * @example
 * ```ts
 * plainIp("::ffff:127.0.0.1"); // "127.0.0.1"
 * ```
 */
export function plainIp(address: string | undefined): string {
  if (!address) return "";
  return address.startsWith("::ffff:") && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/**
 * A set of IPs and CIDRs whose forwarding headers the gateway believes.
 *
 * @example
 * ```ts
 * const trusted = new TrustedProxies(["10.0.0.0/8", "127.0.0.1"]);
 * trusted.has("10.1.2.3"); // true
 * ```
 */
export class TrustedProxies {
  readonly #list = new BlockList();
  readonly #empty: boolean;

  /**
   * @param entries - IPs (`127.0.0.1`, `::1`) and CIDRs (`10.0.0.0/8`), already validated
   * @throws a `TypeError` from `BlockList` for an invalid entry
   * @example
   * ```ts
   * new TrustedProxies([]); // trusts nobody
   * ```
   */
  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const [ip = "", bits] = entry.split("/");
      const type = isIP(ip) === 6 ? "ipv6" : "ipv4";
      if (bits === undefined) this.#list.addAddress(ip, type);
      else this.#list.addSubnet(ip, Number(bits), type);
    }
    this.#empty = entries.length === 0;
  }

  /**
   * @param ip - an IP address (IPv4-mapped IPv6 works)
   * @returns whether `ip` is trusted
   * @example
   * ```ts
   * trusted.has("::ffff:10.0.0.1");
   * ```
   */
  has(ip: string): boolean {
    if (this.#empty) return false;
    const family = isIP(ip);
    return family !== 0 && this.#list.check(ip, family === 6 ? "ipv6" : "ipv4");
  }

  /**
   * The client's address: the peer itself when untrusted; otherwise the right-most address of the
   * `X-Forwarded-For` chain that is not a trusted proxy (the first hop nobody trusted could forge).
   *
   * @param peer - the socket peer, a plain IP
   * @param forwardedFor - the `X-Forwarded-For` values, in order (a list may hold comma-separated lists)
   * @returns the client IP
   * @example
   * ```ts
   * trusted.clientIp("10.0.0.2", ["203.0.113.7, 10.0.0.9"]); // "203.0.113.7" when 10.0.0.0/8 is trusted
   * ```
   */
  clientIp(peer: string, forwardedFor: readonly string[]): string {
    if (!this.has(peer)) return peer;
    const hops = forwardedFor.flatMap((v) => v.split(",")).map((v) => v.trim());
    let client = peer;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = plainIp(hops[i]);
      if (isIP(hop) === 0) break;
      client = hop;
      if (!this.has(hop)) break;
    }
    return client;
  }
}
