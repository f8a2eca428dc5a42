/**
 * Names in the NATS micro protocol (ADR-32): service names, ids and versions, and how natsmesh's
 * dotted service names map onto them.
 *
 * @module
 */

/** What the micro protocol accepts as a service name or instance id (nats.go `micro`: `[A-Za-z0-9_-]+`). */
export const MICRO_NAME = /^[A-Za-z0-9_-]+$/;

/** Semantic version 2.0.0, the regular expression semver.org publishes (nats.go `micro` checks the same). */
export const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

/** Version reported when `serve()` is given none. */
export const DEFAULT_VERSION = "0.0.0";

/**
 * The micro service name of a natsmesh service: dots (hierarchy) become `_`, since micro names are
 * one subject token. `billing.invoices` → `billing_invoices`. The natsmesh name travels in the
 * metadata key `natsmesh.service`, which tells `billing.invoices` and a service really named
 * `billing_invoices` apart.
 *
 * @param service - a valid natsmesh service name
 * @returns the micro name
 * @example
 * ```ts
 * microName("billing.invoices"); // "billing_invoices"
 * ```
 */
export function microName(service: string): string {
  return service.replaceAll(".", "_");
}

/**
 * Checks a service version for the micro protocol.
 *
 * @param version - the version, e.g. `1.4.0` or `2.0.0-rc.1`
 * @returns the same version
 * @throws RangeError when it is not a semantic version
 * @example
 * ```ts
 * assertVersion("1.2.3"); // "1.2.3"
 * ```
 */
export function assertVersion(version: string): string {
  if (!SEMVER.test(version)) {
    throw new RangeError(`invalid service version '${version}': use a semantic version such as 1.2.3`);
  }
  return version;
}

/**
 * Checks an instance id for the micro protocol (it becomes the last token of `$SRV.PING.<name>.<id>`).
 *
 * @param id - the instance id
 * @returns the same id
 * @throws RangeError when it has a character other than `[A-Za-z0-9_-]`
 * @example
 * ```ts
 * assertMicroId("weather-1"); // "weather-1"
 * ```
 */
export function assertMicroId(id: string): string {
  if (!MICRO_NAME.test(id)) {
    throw new RangeError(
      `invalid instance id '${id}' for the NATS micro protocol: use letters, digits, '_' and '-'`,
    );
  }
  return id;
}
