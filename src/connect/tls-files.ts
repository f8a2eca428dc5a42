/**
 * Builds the TLS options from certificate, key and CA file settings, checked up front.
 *
 * @module
 */
import type { NodeConnectionOptions } from "@nats-io/transport-node";
import type { Env } from "./defaults.js";
import { readSettingFile } from "./read-file.js";
import type { PickedSetting } from "./settings.js";
import { settingError } from "./settings.js";

/** TLS options accepted by transport-node (Node `tls` extras such as `rejectUnauthorized` included). */
export type NodeTlsOptions = NonNullable<NodeConnectionOptions["tls"]>;

/** The TLS file settings, each with its origin. */
export interface TlsFileSettings {
  cert?: PickedSetting<string>;
  key?: PickedSetting<string>;
  ca?: PickedSetting<string>;
}

/**
 * Verifies the TLS files are readable and returns `{ certFile, keyFile, caFile }` with absolute paths.
 *
 * @param files - the picked `cert`, `key` and `ca` settings
 * @param env - the environment providing `HOME`
 * @returns the TLS file options (empty when no file is set)
 * @throws {@link ConfigError} like `NATS_CERT: cannot read certificate /c.pem (ENOENT)`, or when a
 * certificate is given without a key (or vice versa)
 * @example
 * ```ts
 * await tlsFileOptions({ ca: { value: "/ca.pem", origin: "env", subject: { variable: "NATS_CA" } } }, env);
 * // { caFile: "/ca.pem" }
 * ```
 */
export async function tlsFileOptions(files: TlsFileSettings, env: Env): Promise<NodeTlsOptions> {
  const { cert, key, ca } = files;
  if (cert && !key) throw settingError(cert.subject, "a client certificate needs a key (NATS_KEY / key)");
  if (key && !cert) throw settingError(key.subject, "a client key needs a certificate (NATS_CERT / cert)");
  const tls: NodeTlsOptions = {};
  if (cert) tls.certFile = (await readSettingFile(cert.value, "certificate", cert.subject, env)).path;
  if (key) tls.keyFile = (await readSettingFile(key.value, "key", key.subject, env)).path;
  if (ca) tls.caFile = (await readSettingFile(ca.value, "CA certificate", ca.subject, env)).path;
  return tls;
}
