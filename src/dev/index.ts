/**
 * Development helpers: run a real local `nats-server`, or reuse the one that is already there.
 *
 * - {@link startLocalServer}: spawn nats-server on 127.0.0.1 and a free port.
 * - {@link ensureNats}: use `NATS_URL` when it answers, else start a local server.
 *
 * @example
 * ```ts
 * import { ensureNats } from "natsmesh/dev";
 * await using nats = await ensureNats();
 * console.log(`NATS_URL=${nats.url}`);
 * ```
 *
 * @module
 */
export { type EnsuredNats, type EnsureNatsOptions, ensureNats } from "./ensure-nats.js";
export { NatsServerNotFoundError } from "./find-binary.js";
export {
  type LocalServer,
  type LocalServerExit,
  type LocalServerOptions,
  NatsServerStartError,
  startLocalServer,
} from "./local-server.js";
