/**
 * Connecting to NATS: options, environment and natscli context resolution, typed errors.
 * The only natsmesh module that imports `@nats-io/transport-node`; other modules import NATS
 * types from here.
 *
 * @example
 * ```ts
 * import { connect } from "./connect/index.js";
 * await using mesh = await connect();
 * ```
 *
 * @module
 */
export {
  type ConnectionOptions,
  connect,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Status,
  type Subscription,
  type SubscriptionOptions,
} from "./connect.js";
export { CONTEXT_SELECTED_BY, type ContextSelection } from "./context-file.js";
export { CONNECT_DEFAULTS, ENV_VARS, type Env } from "./defaults.js";
export { ConfigError, ConnectError, ERROR_CODES } from "./errors.js";
export {
  type AnyConnection,
  isMeshConnection,
  type MeshConnection,
  natsConnectionOf,
  wrapConnection,
} from "./mesh-connection.js";
export {
  type MeshConnectOptions,
  type ResolvedOptions,
  type ResolvedSource,
  resolveOptions,
} from "./options.js";
export { PREFIX_PATTERN } from "./prefix.js";
export { SETTING_ORIGIN, type SettingKey, type SettingOrigin } from "./settings.js";
export { ConnectionSource, type ConnectionSourceOptions, type ResolvedConnection } from "./source.js";
export { diagnoseTls, explainTlsError, TlsHandshakeError } from "./tls-diagnosis.js";
