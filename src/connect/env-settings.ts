/**
 * Reads connection settings from `NATS_*` environment variables.
 *
 * @module
 */
import { ENV_VARS, type Env } from "./defaults.js";
import { nonEmpty, SETTING_ORIGIN, type SettingKey, type SettingsLayer, splitServers } from "./settings.js";

const ENV_BY_SETTING = {
  servers: ENV_VARS.url,
  user: ENV_VARS.user,
  pass: ENV_VARS.password,
  token: ENV_VARS.token,
  creds: ENV_VARS.creds,
  nkey: ENV_VARS.nkey,
  cert: ENV_VARS.cert,
  key: ENV_VARS.key,
  ca: ENV_VARS.ca,
  /** Not read from the environment (natscli has no such variable); named for completeness. */
  inboxPrefix: "inboxPrefix",
  prefix: ENV_VARS.prefix,
} as const satisfies Record<SettingKey, string>;

/**
 * Builds the settings layer defined by the environment. Empty variables count as unset.
 *
 * @param env - the environment to read, e.g. `process.env`
 * @returns the env layer
 * @example
 * ```ts
 * const layer = envSettings({ NATS_URL: "nats://a:4222,nats://b:4222" });
 * layer.values.servers; // ["nats://a:4222", "nats://b:4222"]
 * ```
 */
export function envSettings(env: Env): SettingsLayer {
  const read = (key: Exclude<SettingKey, "servers" | "inboxPrefix">) => nonEmpty(env[ENV_BY_SETTING[key]]);
  return {
    origin: SETTING_ORIGIN.env,
    values: {
      servers: splitServers(env[ENV_VARS.url]),
      user: read("user"),
      pass: read("pass"),
      token: read("token"),
      creds: read("creds"),
      nkey: read("nkey"),
      cert: read("cert"),
      key: read("key"),
      ca: read("ca"),
      prefix: read("prefix"),
    },
    subject: (key) => ({ variable: ENV_BY_SETTING[key] }),
  };
}
