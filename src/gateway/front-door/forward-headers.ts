/**
 * The headers of the request sent to the service, built from the public request's headers.
 *
 * @module
 */
import { type HeaderList, HOP_BY_HOP, MeshHeader, RESERVED_PREFIX } from "../../protocol/index.js";
import { BadRequestError } from "../errors.js";
import type { HeaderPairs } from "../policies/types.js";

/** What the forwarded headers are built from. */
export interface ForwardInput {
  /** The public request's raw headers, names and values alternating (HTTP/2 pseudo-headers included). */
  rawHeaders: readonly string[];
  /** The socket peer, a plain IP. */
  peer: string;
  /** Whether the peer is a trusted proxy (its X-Forwarded-* and Forwarded headers are kept). */
  trusted: boolean;
  /** `http` or `https`: how the request reached the gateway. */
  scheme: string;
  /** The `Host` header or HTTP/2 `:authority`, if any. */
  host: string | undefined;
  /** The request id to forward. */
  requestId: string;
  /** Body length in bytes. */
  bodyLength: number;
  /** Headers added by the route's policies; they replace client headers of the same names. */
  policyHeaders: HeaderPairs;
}

/** Headers the gateway sets itself: the client's copies are dropped (or, from a trusted proxy, extended). */
const OWN = new Set([
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "forwarded",
  MeshHeader.RequestId,
  "content-length",
  "expect",
  "host",
]);
/** Printable ASCII and HTAB: what a header value may hold to cross the wire unchanged. */
const VALUE_RE = /^[\t\x20-\x7e]*$/;

function connectionTokens(raw: readonly string[]): Set<string> | undefined {
  let tokens: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toLowerCase() === "connection") {
      tokens ??= new Set();
      for (const t of raw[i + 1]!.split(",")) tokens.add(t.trim().toLowerCase());
    }
  }
  return tokens;
}

/**
 * Builds the forwarded request's headers: the client's headers without hop-by-hop ones, those named
 * in `Connection`, HTTP/2 pseudo-headers and reserved `mesh-*` names; then `host`, the
 * `X-Forwarded-For/-Proto/-Host` trio (the client's values kept and extended only from a trusted
 * proxy), `x-request-id`, the policies' headers and `content-length`.
 *
 * @param input - the public request's headers and what the gateway knows about it
 * @returns the header list for the {@link WireRequest}
 * @throws {@link BadRequestError} for a header value with bytes outside printable ASCII
 * @example
 * ```ts
 * forwardHeaders({ rawHeaders: req.rawHeaders, peer: "10.0.0.2", trusted: false, scheme: "http",
 *   host: req.headers.host, requestId: "abc", bodyLength: 0, policyHeaders: [] });
 * ```
 */
export function forwardHeaders(input: ForwardInput): HeaderList {
  const raw = input.rawHeaders;
  const dropped = connectionTokens(raw);
  const replaced =
    input.policyHeaders.length > 0 ? new Set(input.policyHeaders.map(([n]) => n.toLowerCase())) : undefined;
  const out: HeaderList = [];
  const xff: string[] = [];
  const forwarded: string[] = [];
  let proto: string | undefined;
  let xhost: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (name.charCodeAt(0) === 58) continue; // ":" HTTP/2 pseudo-header
    if (!VALUE_RE.test(value))
      throw new BadRequestError(`header '${name}' has a value that is not printable ASCII`);
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower.startsWith(RESERVED_PREFIX) || dropped?.has(lower)) continue;
    if (replaced?.has(lower)) continue;
    if (!OWN.has(lower)) {
      out.push(name, value);
      continue;
    }
    if (!input.trusted) continue;
    if (lower === "x-forwarded-for") xff.push(value);
    else if (lower === "forwarded") forwarded.push(value);
    else if (lower === "x-forwarded-proto") proto ??= value;
    else if (lower === "x-forwarded-host") xhost ??= value;
  }
  if (input.host !== undefined) out.push("host", input.host);
  xff.push(input.peer);
  out.push("x-forwarded-for", xff.join(", "), "x-forwarded-proto", proto ?? input.scheme);
  const fwdHost = xhost ?? input.host;
  if (fwdHost !== undefined) out.push("x-forwarded-host", fwdHost);
  for (const value of forwarded) out.push("forwarded", value);
  out.push(MeshHeader.RequestId, input.requestId);
  for (const [name, value] of input.policyHeaders) out.push(name, value);
  if (input.bodyLength > 0) out.push("content-length", String(input.bodyLength));
  return out;
}
