/**
 * A client's outlier ejection (`createFetch({ eject })`, `MeshDispatcher`): the insight reports of
 * the services it calls, watched from its first call on, and its calls routed around an instance
 * that went silent (docs/TRAFFIC.md §10). The watch itself is `insight/silent-instances.ts`, shared
 * with the gateway.
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { checkEjectSettings, type EjectSettings, SilentInstances } from "../insight/silent-instances.js";

/**
 * `eject` of `createFetch` and `MeshDispatcher`: `true` for the defaults, settings, or `false` (the
 * default: a client watches no reports).
 *
 * @example
 * ```ts
 * const fetch = createFetch({ eject: true });
 * ```
 */
export type ClientEjectOption = boolean | EjectSettings;

/** Outlier ejection for one client: its watch starts on the connection of its first call. */
export class ClientEjection {
  readonly #settings: Required<EjectSettings>;
  #silent: SilentInstances | undefined;

  /**
   * @param option - the client's `eject` option
   * @returns the client's ejection, or undefined when it is off
   * @throws RangeError for a `silentIntervals` or `maxMs` below 1
   */
  static of(option: ClientEjectOption | undefined): ClientEjection | undefined {
    if (option === undefined || option === false) return undefined;
    return new ClientEjection(checkEjectSettings(option === true ? {} : option));
  }

  private constructor(settings: Required<EjectSettings>) {
    this.#settings = settings;
  }

  /**
   * Sends one attempt of a call to `service`: to the queue group, or to a healthy instance while
   * another of the service is silent.
   *
   * @param send - sends the attempt, named to an instance or (undefined) to the queue group
   */
  route<T>(
    nc: NatsConnection,
    prefix: string,
    service: string,
    send: (instance: string | undefined) => Promise<T>,
  ): Promise<T> {
    this.#silent ??= new SilentInstances(nc, prefix, this.#settings, "called");
    return this.#silent.route(service, send);
  }

  /** Stops watching. */
  close(): void {
    this.#silent?.close();
    this.#silent = undefined;
  }
}
