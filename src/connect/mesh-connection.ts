/**
 * The connection handle returned by {@link connect}.
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/transport-node";

/**
 * An open NATS connection plus the mesh subject prefix. Supports `await using`.
 *
 * @example
 * ```ts
 * await using mesh = await connect();
 * mesh.nc.publish(`${mesh.prefix}.ping`);
 * ```
 */
export interface MeshConnection {
  /** The underlying nats.js connection. */
  readonly nc: NatsConnection;
  /** The validated mesh subject prefix (e.g. `"mesh"`). */
  readonly prefix: string;
  /** Closes the connection at once; safe to call more than once. */
  close(): Promise<void>;
  /** Drains subscriptions and pending publishes, then closes; safe to call more than once. */
  drain(): Promise<void>;
  /** Drains (falling back to close on error). */
  [Symbol.asyncDispose](): Promise<void>;
}

class MeshConnectionImpl implements MeshConnection {
  readonly #nc: NatsConnection;
  readonly #prefix: string;

  constructor(nc: NatsConnection, prefix: string) {
    this.#nc = nc;
    this.#prefix = prefix;
  }

  get nc(): NatsConnection {
    return this.#nc;
  }

  get prefix(): string {
    return this.#prefix;
  }

  async close(): Promise<void> {
    if (!this.#nc.isClosed()) await this.#nc.close();
  }

  async drain(): Promise<void> {
    if (this.#nc.isClosed()) return;
    if (this.#nc.isDraining()) {
      await this.#nc.closed();
      return;
    }
    await this.#nc.drain();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.drain();
    } catch {
      await this.close();
    }
  }
}

/**
 * Wraps an open nats.js connection as a {@link MeshConnection}.
 *
 * @param nc - an open connection
 * @param prefix - the mesh subject prefix (already validated)
 * @returns the mesh connection
 * @example
 * ```ts
 * const mesh = wrapConnection(nc, "mesh");
 * ```
 */
export function wrapConnection(nc: NatsConnection, prefix: string): MeshConnection {
  return new MeshConnectionImpl(nc, prefix);
}

/**
 * What natsmesh accepts wherever it takes an open connection (`serve`, `createFetch`,
 * `MeshDispatcher`, `createGateway`, `serveFault`): a nats.js connection, or {@link connect}'s
 * result as it is.
 *
 * @example
 * ```ts
 * const nc = await connect(); // a MeshConnection; a plain nats.js NatsConnection works too
 * await serve(app, { service: "orders", nc });
 * const fetch = createFetch({ nc });
 * ```
 */
export type AnyConnection = NatsConnection | MeshConnection;

/**
 * Whether a connection is {@link connect}'s {@link MeshConnection} rather than a nats.js one. Told by
 * shape, not by class, so it holds across two installed copies of natsmesh.
 *
 * @param nc - a connection passed as `nc`
 * @returns true for a {@link MeshConnection}
 * @example
 * ```ts
 * isMeshConnection(await connect()); // true
 * ```
 */
export function isMeshConnection(nc: AnyConnection): nc is MeshConnection {
  return (
    typeof (nc as NatsConnection).subscribe !== "function" && typeof (nc as MeshConnection).nc === "object"
  );
}

/**
 * The nats.js connection behind a connection passed as `nc`.
 *
 * @param nc - a nats.js connection, or {@link connect}'s result
 * @returns the nats.js connection
 * @example
 * ```ts
 * const raw = natsConnectionOf(await connect());
 * ```
 */
export function natsConnectionOf(nc: AnyConnection): NatsConnection {
  return isMeshConnection(nc) ? nc.nc : nc;
}
