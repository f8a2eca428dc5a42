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
export {
  ENSURE_NATS_DEFAULTS,
  type EnsuredNats,
  type EnsureNatsOptions,
  ensureNats,
} from "./ensure-nats.js";
export {
  type FindNatsServerOptions,
  findNatsServer,
  NATS_SERVER_INSTALL_HINT,
  NATS_SERVER_LOOKUP,
  NatsServerNotFoundError,
} from "./find-binary.js";
export {
  LOCAL_SERVER_DEFAULTS,
  type LocalServer,
  type LocalServerExit,
  type LocalServerOptions,
  startLocalServer,
} from "./local-server.js";
export { acceptsTcp } from "./tcp-probe.js";
