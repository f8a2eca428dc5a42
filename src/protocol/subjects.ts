import { InvalidServiceError } from "./errors.js";

/** Default subject prefix: requests for `weather` go to `mesh.weather.<method>`. */
export const DEFAULT_PREFIX = "mesh";

const TOKEN = "[a-z0-9_-]+";
const SERVICE_RE = new RegExp(`^${TOKEN}(\\.${TOKEN})*$`);
/**
 * A valid subject prefix: dot-separated tokens of letters, digits, `_` and `-` (no wildcards, no spaces).
 *
 * @example
 * ```ts
 * PREFIX_PATTERN.test("mesh.prod"); // true
 * ```
 */
export const PREFIX_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const METHOD_RE = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/**
 * Checks a service name: lower-case subject-safe tokens `[a-z0-9_-]`, dots for hierarchy.
 *
 * @param service - the name to check, e.g. `weather` or `billing.invoices`.
 * @returns the same name.
 * @throws {@link InvalidServiceError} when the name is empty or has another character.
 * @example
 * ```ts
 * assertServiceName("weather"); // "weather"
 * ```
 */
export function assertServiceName(service: string): string {
  if (!SERVICE_RE.test(service)) {
    throw new InvalidServiceError(
      `invalid service name '${service}': use lower-case letters, digits, '_' and '-', with '.' between parts`,
    );
  }
  return service;
}

/**
 * Checks a subject prefix (`mesh`, `v2`, `team.mesh`).
 *
 * @throws {@link InvalidServiceError} when the prefix is not a dot-separated list of subject-safe tokens.
 */
export function assertPrefix(prefix: string): string {
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new InvalidServiceError(
      `invalid subject prefix '${prefix}': use letters, digits, '_' and '-', with '.' between parts`,
    );
  }
  return prefix;
}

/**
 * The subject a request for `service` with `method` is published to: `<prefix>.<service>.<method>`,
 * the method lower-cased as the last token.
 *
 * @example
 * ```ts
 * requestSubject("mesh", "weather", "GET"); // "mesh.weather.get"
 * ```
 */
export function requestSubject(prefix: string, service: string, method: string): string {
  return `${prefix}.${service}.${methodToken(method)}`;
}

/** The wildcard subject a service's instances subscribe to: `<prefix>.<service>.*`. */
export function serviceSubject(prefix: string, service: string): string {
  return `${prefix}.${service}.*`;
}

/** Token after the service that marks a request for one named instance: `<prefix>.<service>.$I.<id>.<method>`. */
export const INSTANCE_TOKEN = "$I";
/** Token after the service that marks a request for every instance: `<prefix>.<service>.$ALL.<method>`. */
export const EVERY_TOKEN = "$ALL";

/** A valid instance id: one subject token of letters, digits, `_` and `-` (NUIDs are). */
export const INSTANCE_PATTERN = /^[A-Za-z0-9_-]+$/;

/**
 * Checks an instance id: one token of letters, digits, `_` and `-` (the ids `serve()` makes are NUIDs).
 *
 * @param instance - the id, as in a response's `mesh-instance`.
 * @returns the same id.
 * @throws {@link InvalidServiceError} when it is empty or has another character (a `.`, a wildcard, a space).
 * @example
 * ```ts
 * assertInstanceId("hx2Kq0l1eDzNaBvVQhTz5A"); // "hx2Kq0l1eDzNaBvVQhTz5A"
 * ```
 */
export function assertInstanceId(instance: string): string {
  if (!INSTANCE_PATTERN.test(instance)) {
    throw new InvalidServiceError(
      `invalid instance id '${instance}': use letters, digits, '_' and '-' (the id in a response's mesh-instance)`,
    );
  }
  return instance;
}

/**
 * The subject a request for one instance is published to: `<prefix>.<service>.$I.<instance>.<method>`.
 * No queue group listens there: only the named instance answers (PROTOCOL.md §10).
 *
 * @throws {@link InvalidServiceError} for an invalid instance id or method.
 * @example
 * ```ts
 * instanceRequestSubject("mesh", "weather", "i1", "GET"); // "mesh.weather.$I.i1.get"
 * ```
 */
export function instanceRequestSubject(
  prefix: string,
  service: string,
  instance: string,
  method: string,
): string {
  return `${prefix}.${service}.${INSTANCE_TOKEN}.${assertInstanceId(instance)}.${methodToken(method)}`;
}

/** The subject an instance subscribes to, without a queue group, for requests named to it: `<prefix>.<service>.$I.<instance>.*`. */
export function instanceSubject(prefix: string, service: string, instance: string): string {
  return `${prefix}.${service}.${INSTANCE_TOKEN}.${instance}.*`;
}

/**
 * The subject a request for every instance is published to: `<prefix>.<service>.$ALL.<method>`.
 *
 * @example
 * ```ts
 * everyRequestSubject("mesh", "weather", "GET"); // "mesh.weather.$ALL.get"
 * ```
 */
export function everyRequestSubject(prefix: string, service: string, method: string): string {
  return `${prefix}.${service}.${EVERY_TOKEN}.${methodToken(method)}`;
}

/** The subject every instance subscribes to, without a queue group: `<prefix>.<service>.$ALL.*`. */
export function everySubject(prefix: string, service: string): string {
  return `${prefix}.${service}.${EVERY_TOKEN}.*`;
}

/**
 * The subject token for an HTTP method (lower-case). Methods are HTTP tokens; a method that is not a
 * valid token cannot be sent.
 *
 * @throws {@link InvalidServiceError} for a method that is not an HTTP token.
 */
export function methodToken(method: string): string {
  if (!METHOD_RE.test(method) || method.includes(".") || method === "*") {
    throw new InvalidServiceError(`invalid HTTP method '${method}'`);
  }
  return method.toLowerCase();
}

/**
 * Extracts the service name from a URL host: `weather.nats` → `weather` when `.nats` is a configured
 * suffix. The host is lower-cased; a port is ignored.
 *
 * @param hostname - the URL's hostname (no port).
 * @param suffixes - suffixes to strip, each starting with a dot.
 * @throws {@link InvalidServiceError} when what remains is not a valid service name.
 */
export function serviceFromHost(hostname: string, suffixes: readonly string[]): string {
  let host = hostname.toLowerCase();
  for (const suffix of suffixes) {
    if (host.endsWith(suffix) && host.length > suffix.length) {
      host = host.slice(0, -suffix.length);
      break;
    }
  }
  return assertServiceName(host);
}

/**
 * The number a subject's last token spells in lower-case base 36 (`_INBOX.abc.1z` → 71), or -1 when
 * that token is empty, longer than 10 characters or not lower-case base 36. Reply subjects end in
 * such a number (`id.toString(36)`); reading it from the string's characters costs no slice and no
 * string hashing per message, and makes the lookup a small-integer Map key.
 *
 * @example
 * ```ts
 * lastTokenNumber("_INBOX.x.a"); // 10
 * ```
 */
export function lastTokenNumber(subject: string): number {
  let n = 0;
  let scale = 1;
  let i = subject.length - 1;
  const stop = Math.max(-1, i - 10);
  for (; i > stop; i--) {
    const c = subject.charCodeAt(i);
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (c >= 97 && c <= 122) d = c - 87;
    else break;
    n += d * scale;
    scale *= 36;
  }
  if (i === subject.length - 1) return -1;
  return i < 0 || subject.charCodeAt(i) === 46 ? n : -1;
}

/** The token that marks access-record subjects: `<prefix>.<service>.$TAP.<instance>` (PROTOCOL.md §11). */
export const TAP_TOKEN = "$TAP";

/**
 * The subject an instance publishes its access records to, `<prefix>.<service>.$TAP.<instance>`, or
 * with no instance the wildcard a tap subscribes to, `<prefix>.<service>.$TAP.*`. Two tokens after the
 * service, so an instance's `<prefix>.<service>.*` subscription never sees them.
 *
 * @param prefix - the subject prefix, e.g. `mesh`
 * @param service - the service name
 * @param instance - one instance's id; omitted, every instance (`*`)
 * @example
 * ```ts
 * tapSubject("mesh", "orders", "a1"); // "mesh.orders.$TAP.a1"
 * tapSubject("mesh", "orders"); // "mesh.orders.$TAP.*"
 * ```
 */
export function tapSubject(prefix: string, service: string, instance = "*"): string {
  return `${prefix}.${service}.${TAP_TOKEN}.${instance}`;
}
