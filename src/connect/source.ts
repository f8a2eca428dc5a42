import type { NatsConnection } from "@nats-io/nats-core";
import { assertPrefix, DEFAULT_PREFIX } from "../protocol/index.js";
import { connect } from "./connect.js";
import { type AnyConnection, isMeshConnection } from "./mesh-connection.js";
import type { MeshConnectOptions } from "./options.js";
import { validatePrefix } from "./prefix.js";

/** How a client, server or gateway gets its NATS connection. */
export interface ConnectionSourceOptions {
  /**
   * An open connection to use — a nats.js connection, or `connect()`'s result as it is (its prefix
   * is then the default); it stays open when the user of it closes.
   */
  nc?: AnyConnection;
  /** Options to open a connection of its own (NATS_* environment when omitted); closed on close. */
  connection?: MeshConnectOptions;
  /** Subject prefix; defaults to NATS_PREFIX, then `mesh`. */
  prefix?: string;
}

/** A connection and the subject prefix to use on it. */
export interface ResolvedConnection {
  nc: NatsConnection;
  prefix: string;
}

/**
 * Lazily provides a connection: the given `nc`, or one opened on first use from `connection`
 * options and the environment. Closing closes only a connection it opened itself.
 */
export class ConnectionSource {
  readonly #options: ConnectionSourceOptions;
  #pending: Promise<ResolvedConnection> | undefined;
  #owned: { close(): Promise<void> } | undefined;
  #ready: ResolvedConnection | undefined;

  constructor(options: ConnectionSourceOptions = {}) {
    if (options.prefix !== undefined) assertPrefix(options.prefix);
    this.#options = options;
    const given = options.nc;
    if (given) {
      const mesh = isMeshConnection(given);
      const prefix =
        options.prefix ?? (mesh ? given.prefix : envPrefix(options.connection?.env ?? process.env));
      this.#ready = { nc: mesh ? given.nc : given, prefix };
      this.#pending = Promise.resolve(this.#ready);
    }
  }

  /** The connection once {@link get} has resolved (undefined before), without a promise to await. */
  get ready(): ResolvedConnection | undefined {
    return this.#ready;
  }

  /** The connection, opening it on first call. */
  get(): Promise<ResolvedConnection> {
    if (!this.#pending) {
      this.#pending = connect(this.#options.connection).then((mc) => {
        this.#owned = mc;
        this.#ready = { nc: mc.nc, prefix: this.#options.prefix ?? mc.prefix };
        return this.#ready;
      });
      // A failed connect is retried on the next call rather than cached forever.
      this.#pending.catch(() => {
        this.#pending = undefined;
      });
    }
    return this.#pending;
  }

  /** Closes the connection if this source opened it. */
  async close(): Promise<void> {
    const owned = this.#owned;
    this.#owned = undefined;
    if (owned) await owned.close();
  }
}

function envPrefix(env: Record<string, string | undefined>): string {
  const value = env.NATS_PREFIX;
  return value ? validatePrefix(value, { variable: "NATS_PREFIX" }) : DEFAULT_PREFIX;
}
