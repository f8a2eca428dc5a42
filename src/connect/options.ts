/**
 * Connection options and their resolution from natscli context, `NATS_*` environment
 * variables and explicit options.
 *
 * @module
 */
import type { Authenticator, NodeConnectionOptions } from "@nats-io/transport-node";
import { credsFileAuthenticator, nkeyAuthenticatorFor } from "./auth-files.js";
import { type ContextSelection, loadContext, selectContext } from "./context-file.js";
import { CONNECT_DEFAULTS, ENV_VARS, type Env } from "./defaults.js";
import { envSettings } from "./env-settings.js";
import { ConfigError } from "./errors.js";
import { validatePrefix } from "./prefix.js";
import { parseServers } from "./server-urls.js";
import {
  type PickedSetting,
  pickSetting,
  SETTING_ORIGIN,
  type SettingKey,
  type SettingOrigin,
  type SettingsLayer,
  splitServers,
} from "./settings.js";
import { type NodeTlsOptions, tlsFileOptions } from "./tls-files.js";

/**
 * Options for {@link connect}: every nats.js (transport-node) connection option, plus
 * file-based credentials, a natscli context, the mesh subject prefix and an injectable env.
 *
 * @example
 * ```ts
 * const options: MeshConnectOptions = { servers: "nats://127.0.0.1:4223", creds: "~/me.creds", prefix: "mesh.dev" };
 * ```
 */
export interface MeshConnectOptions extends NodeConnectionOptions {
  /** Subject prefix of the mesh (default `NATS_PREFIX`, else `"mesh"`). */
  prefix?: string;
  /** Path to a natscli/nsc `.creds` file (user JWT + seed). */
  creds?: string;
  /** A user nkey seed (`SU...`) or a path to a file containing one. */
  nkey?: string;
  /** Path to a PEM client certificate (requires {@link key}). */
  cert?: string;
  /** Path to the PEM private key of {@link cert}. */
  key?: string;
  /** Path to a PEM CA certificate to verify the server. */
  ca?: string;
  /** natscli context name, or path to a context JSON file (overrides `NATS_CONTEXT`). */
  context?: string;
  /** Environment to read `NATS_*` variables from (default `process.env`). */
  env?: Env;
}

/** Where each resolved setting came from (never contains secrets). */
export interface ResolvedSource {
  /** The natscli context used, or `null`. */
  context: ContextSelection | null;
  /** Origin of each setting that is set. */
  settings: Partial<Record<SettingKey, SettingOrigin>>;
}

/** The result of {@link resolveOptions}. */
export interface ResolvedOptions {
  /** Options ready for transport-node `connect()`. */
  connectOptions: NodeConnectionOptions;
  /** The validated mesh subject prefix. */
  prefix: string;
  source: ResolvedSource;
}

function optionSettings(options: MeshConnectOptions): SettingsLayer {
  if (options.port !== undefined && splitServers(options.servers)) {
    throw new ConfigError("port", "'port' and 'servers' are mutually exclusive");
  }
  const servers = options.port !== undefined ? [`127.0.0.1:${options.port}`] : splitServers(options.servers);
  return {
    origin: SETTING_ORIGIN.option,
    values: {
      servers,
      user: options.user,
      pass: options.pass,
      token: options.token,
      creds: options.creds,
      nkey: options.nkey,
      cert: options.cert,
      key: options.key,
      ca: options.ca,
      inboxPrefix: options.inboxPrefix,
      prefix: options.prefix,
    },
    subject: (key) => ({ variable: key === "servers" && options.port !== undefined ? "port" : key }),
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function buildTls(
  explicit: NodeTlsOptions | null | undefined,
  files: NodeTlsOptions,
  tlsRequired: boolean,
): NodeTlsOptions | null | undefined {
  const hasFiles = Object.keys(files).length > 0;
  if (explicit === null) {
    if (tlsRequired || hasFiles) {
      throw new ConfigError("tls", "'tls: null' conflicts with a tls:// URL or certificate settings");
    }
    return null;
  }
  if (explicit === undefined && !tlsRequired && !hasFiles) return undefined;
  return { ...files, ...definedOnly(explicit ?? {}) };
}

/**
 * Merges connection settings, in increasing priority: the natscli context (the `context`
 * option, else `NATS_CONTEXT`, else the selected context in `$XDG_CONFIG_HOME/nats/context.txt`),
 * then `NATS_*` environment variables, then explicit options. Credentials embedded in server
 * URLs are stripped and used as user/password or token unless those are set explicitly.
 * Referenced files (creds, nkey, cert, key, ca) are read and validated now.
 *
 * @param options - explicit options; `options.env` replaces `process.env`
 * @returns options for transport-node `connect()`, the prefix, and where settings came from
 * @throws {@link ConfigError} naming the variable at fault (`NATS_URL`, `NATS_CREDS`,
 * `NATS_CONTEXT`, `NATS_PREFIX`, an option name...)
 * @example
 * ```ts
 * const { connectOptions, prefix } = await resolveOptions({ env: { NATS_URL: "nats://u:p@127.0.0.1:4223" } });
 * // connectOptions.servers: ["nats://127.0.0.1:4223"], connectOptions.user: "u", prefix: "mesh"
 * ```
 */
export async function resolveOptions(options: MeshConnectOptions = {}): Promise<ResolvedOptions> {
  const {
    prefix: _prefix,
    creds: _creds,
    nkey: _nkey,
    cert: _cert,
    key: _key,
    ca: _ca,
    context,
    env: givenEnv,
    servers: _servers,
    port: _port,
    user: _user,
    pass: _pass,
    token: _token,
    inboxPrefix: _inboxPrefix,
    tls: explicitTls,
    authenticator: explicitAuthenticator,
    ...passthrough
  } = options;
  const env = givenEnv ?? process.env;
  const layers: SettingsLayer[] = [optionSettings(options), envSettings(env)];
  const selection = await selectContext(context, env);
  if (selection) layers.push(await loadContext(selection, env));

  const settings: ResolvedSource["settings"] = {};
  const pick = <K extends SettingKey>(key: K) => {
    const picked = pickSetting(layers, key);
    if (picked) settings[key] = picked.origin;
    return picked;
  };

  const serversPick = pick("servers");
  if (!serversPick) settings.servers = SETTING_ORIGIN.default;
  const parsed = parseServers(serversPick?.value ?? [CONNECT_DEFAULTS.servers], {
    variable: ENV_VARS.url,
    ...serversPick?.subject,
  });

  const auth: Pick<NodeConnectionOptions, "user" | "pass" | "token"> = {};
  const user = pick("user");
  const pass = pick("pass");
  const token = pick("token");
  if (user || pass || token) {
    Object.assign(auth, definedOnly({ user: user?.value, pass: pass?.value, token: token?.value }));
  } else if (parsed.credentials) {
    Object.assign(auth, parsed.credentials);
    for (const key of Object.keys(parsed.credentials) as SettingKey[]) settings[key] = SETTING_ORIGIN.url;
  }

  const authenticators: Authenticator[] = [];
  if (explicitAuthenticator) authenticators.push(...[explicitAuthenticator].flat());
  const creds = pick("creds");
  if (creds) authenticators.push(await credsFileAuthenticator(creds.value, creds.subject, env));
  const nkey = pick("nkey");
  if (nkey) authenticators.push(await nkeyAuthenticatorFor(nkey.value, nkey.subject, env));

  const tlsFiles = await tlsFileOptions({ cert: pick("cert"), key: pick("key"), ca: pick("ca") }, env);
  const tls = buildTls(explicitTls, tlsFiles, parsed.tlsRequired);

  const prefixPick: PickedSetting<string> | undefined = pick("prefix");
  if (!prefixPick) settings.prefix = SETTING_ORIGIN.default;
  const prefix = prefixPick
    ? validatePrefix(prefixPick.value, prefixPick.subject)
    : (CONNECT_DEFAULTS.prefix as string);
  const inboxPrefix = pick("inboxPrefix")?.value;

  const connectOptions: NodeConnectionOptions = {
    name: CONNECT_DEFAULTS.name,
    maxReconnectAttempts: CONNECT_DEFAULTS.maxReconnectAttempts,
    reconnectJitter: CONNECT_DEFAULTS.reconnectJitter,
    reconnectJitterTLS: CONNECT_DEFAULTS.reconnectJitterTLS,
    noAsyncTraces: CONNECT_DEFAULTS.noAsyncTraces,
    ...definedOnly(passthrough),
    servers: parsed.servers,
    ...auth,
    ...(inboxPrefix !== undefined && { inboxPrefix }),
    ...(tls !== undefined && { tls }),
    ...(authenticators.length > 0 && {
      authenticator: authenticators.length === 1 ? authenticators[0] : authenticators,
    }),
  };
  return { connectOptions, prefix, source: { context: selection ?? null, settings } };
}
