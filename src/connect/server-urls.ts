/**
 * Parses NATS server URLs: validates them, detects `tls://`, and extracts credentials embedded
 * in the URL (`nats://user:pass@host`, `nats://token@host`) the way nats.go / natscli do.
 *
 * @module
 */
import { type SettingSubject, settingError } from "./settings.js";

/**
 * URL schemes accepted for server URLs.
 *
 * @example
 * ```ts
 * SERVER_SCHEMES.tls; // "tls:"
 * ```
 */
export const SERVER_SCHEMES = { nats: "nats:", tls: "tls:" } as const;

/** Credentials found in a server URL. */
export type UrlCredentials = { user: string; pass: string } | { token: string };

/** The result of {@link parseServers}. */
export interface ParsedServers {
  /** Server URLs with credentials removed. */
  servers: string[];
  /** `true` when any URL uses the `tls://` scheme. */
  tlsRequired: boolean;
  /** Credentials embedded in the URLs, if any. */
  credentials?: UrlCredentials;
}

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * Hides any userinfo so that echoing a URL in an error never leaks a password.
 *
 * @param raw - a server URL as given
 * @returns the URL with userinfo replaced by `***`
 * @example
 * ```ts
 * redactUrl("nats://u:secret@h:4222"); // "nats://***@h:4222"
 * ```
 */
export function redactUrl(raw: string): string {
  return raw.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^/@]*@/i, "$1***@");
}

function decode(value: string, raw: string, subject: SettingSubject): string {
  try {
    return decodeURIComponent(value);
  } catch (err) {
    throw settingError(
      subject,
      `malformed URL '${redactUrl(raw)}' (bad percent-encoding in credentials)`,
      err,
    );
  }
}

function sameCredentials(a: UrlCredentials, b: UrlCredentials): boolean {
  if ("token" in a) return "token" in b && a.token === b.token;
  return "user" in b && a.user === b.user && a.pass === b.pass;
}

function parseOne(
  raw: string,
  subject: SettingSubject,
): { server: string; tls: boolean; credentials?: UrlCredentials } {
  const hasScheme = SCHEME.test(raw);
  const input = hasScheme ? raw : `nats://${raw}`;
  let url: URL;
  try {
    url = new URL(input);
  } catch (err) {
    throw settingError(subject, `malformed URL '${redactUrl(raw)}' (${(err as Error).message})`, err);
  }
  if (url.protocol !== SERVER_SCHEMES.nats && url.protocol !== SERVER_SCHEMES.tls) {
    throw settingError(
      subject,
      `unsupported scheme '${url.protocol}' in '${redactUrl(raw)}' (expected nats:// or tls://)`,
    );
  }
  if (url.hostname === "") {
    throw settingError(subject, `malformed URL '${redactUrl(raw)}' (missing host)`);
  }
  const authority = input.slice(input.indexOf("://") + 3).split(/[/?#]/, 1)[0] ?? "";
  const at = authority.lastIndexOf("@");
  const userinfo = at >= 0 ? authority.slice(0, at) : "";
  let credentials: UrlCredentials | undefined;
  if (userinfo !== "") {
    const user = decode(url.username, raw, subject);
    credentials = userinfo.includes(":")
      ? { user, pass: decode(url.password, raw, subject) }
      : { token: user };
  }
  const server = hasScheme ? `${url.protocol}//${url.host}` : url.host;
  return { server, tls: url.protocol === SERVER_SCHEMES.tls, credentials };
}

/**
 * Validates server URLs and strips embedded credentials. A URL without a scheme
 * (`127.0.0.1:4222`) is accepted as `nats://`.
 *
 * @param list - server URLs
 * @param subject - how to name the setting in errors (e.g. `NATS_URL`)
 * @returns the cleaned servers, whether TLS is required, and the embedded credentials
 * @throws {@link ConfigError} when a URL is malformed, has an unsupported scheme, or URLs embed
 * different credentials (nats.js supports one set per connection)
 * @example
 * ```ts
 * parseServers(["nats://a:p%40ss@127.0.0.1:4223"], { variable: "NATS_URL" });
 * // { servers: ["nats://127.0.0.1:4223"], tlsRequired: false, credentials: { user: "a", pass: "p@ss" } }
 * ```
 */
export function parseServers(list: readonly string[], subject: SettingSubject): ParsedServers {
  const result: ParsedServers = { servers: [], tlsRequired: false };
  for (const raw of list) {
    const { server, tls, credentials } = parseOne(raw.trim(), subject);
    result.servers.push(server);
    result.tlsRequired ||= tls;
    if (!credentials) continue;
    if (result.credentials && !sameCredentials(result.credentials, credentials)) {
      throw settingError(
        subject,
        "server URLs embed different credentials; use one set (nats.js authenticates all servers alike)",
      );
    }
    result.credentials = credentials;
  }
  return result;
}
