/**
 * Opens a NATS connection from options, `NATS_*` environment variables and natscli contexts.
 * This is the only module of natsmesh that imports `@nats-io/transport-node`.
 *
 * @module
 */
import { connect as natsConnect } from "@nats-io/transport-node";
import { ConnectError } from "./errors.js";
import { type MeshConnection, wrapConnection } from "./mesh-connection.js";
import { type MeshConnectOptions, resolveOptions } from "./options.js";
import { diagnoseTls, explainTlsError } from "./tls-diagnosis.js";
import type { NodeTlsOptions } from "./tls-files.js";

export type {
  ConnectionOptions,
  Msg,
  MsgHdrs,
  NatsConnection,
  Status,
  Subscription,
  SubscriptionOptions,
} from "@nats-io/transport-node";

/**
 * Connects to NATS. Settings are merged from the natscli context, `NATS_*` variables and
 * `options`. Once connected the client reconnects forever; the
 * initial connection is tried once per server and fails fast.
 *
 * @param options - connection options; `options.env` replaces `process.env`
 * @returns the open connection and the mesh subject prefix
 * @throws {@link ConfigError} when the settings are invalid (names the variable at fault)
 * @throws {@link ConnectError} (`NM_ERR_CONNECT`, status 503) when no server can be reached or
 * authentication fails: `cannot connect to NATS at nats://127.0.0.1:4223: connection refused`; a TLS
 * failure names whose certificate failed and why, with a {@link TlsHandshakeError} as `cause`:
 * `...: TLS: the server refused the client certificate: it has expired (check NATS_CERT / cert) (...)`
 * @example
 * ```ts
 * await using mesh = await connect({ servers: "nats://127.0.0.1:4223" });
 * await mesh.nc.request(`${mesh.prefix}.weather.get`, "");
 * ```
 */
export async function connect(options?: MeshConnectOptions): Promise<MeshConnection> {
  const { connectOptions, prefix } = await resolveOptions(options);
  const servers = [connectOptions.servers ?? []].flat();
  try {
    return wrapConnection(await natsConnect(connectOptions), prefix);
  } catch (err) {
    throw new ConnectError(servers, await explainFailure(err, servers[0], connectOptions.tls));
  }
}

/**
 * A TLS error becomes a {@link TlsHandshakeError}; a timeout over TLS is diagnosed by repeating the
 * handshake, because nats.js reports a client certificate refused after the handshake as a timeout.
 */
async function explainFailure(
  err: unknown,
  server: string | undefined,
  tls: NodeTlsOptions | null | undefined,
): Promise<unknown> {
  const known = explainTlsError(err) ?? explainTlsError((err as { cause?: unknown } | undefined)?.cause);
  if (known) return known;
  const timedOut = err instanceof Error && /timeout/i.test(`${err.name} ${err.message}`);
  if (!timedOut || tls === null || server === undefined) return err;
  return (await diagnoseTls(server, tls ?? {})) ?? err;
}
