/**
 * Builds authenticators from a natscli credentials file or an nkey seed, validated up front.
 *
 * @module
 */
import { type Authenticator, credsAuthenticator, nkeyAuthenticator } from "@nats-io/transport-node";
import type { Env } from "./defaults.js";
import { readSettingFile } from "./read-file.js";
import { type SettingSubject, settingError } from "./settings.js";

const USER_SEED = /^SU[A-Z2-7]{56}$/;
const USER_SEED_IN_TEXT = /\bSU[A-Z2-7]{56}\b/;
/** The shape of an nkey seed (`S`, then upper-case letters and digits): such a value is a seed, not a file name. */
const SEED_LIKE = /^S[A-Z0-9]{10,}$/;
/** What a valid NATS_NKEY is, said by the errors. */
const EXPECTED_SEED =
  "expected a user seed, 'SU' and 56 base32 characters, or the path of a file holding one";

function probe(authenticator: Authenticator): void {
  // Authenticators parse lazily at connect time; signing a dummy nonce surfaces errors now.
  authenticator("natsmesh-config-check");
}

/**
 * Reads a `.creds` file (user JWT + seed) and returns a JWT authenticator for it.
 *
 * @param path - the credentials file path
 * @param subject - the setting naming the file (e.g. `NATS_CREDS`)
 * @param env - the environment providing `HOME`
 * @returns the authenticator
 * @throws {@link ConfigError} when the file is unreadable or not a valid credentials file
 * @example
 * ```ts
 * const auth = await credsFileAuthenticator("~/.nkeys/creds/O/A/u.creds", { variable: "NATS_CREDS" }, env);
 * ```
 */
export async function credsFileAuthenticator(
  path: string,
  subject: SettingSubject,
  env: Env,
): Promise<Authenticator> {
  const file = await readSettingFile(path, "credentials file", subject, env);
  const authenticator = credsAuthenticator(file.bytes);
  try {
    probe(authenticator);
  } catch (err) {
    throw settingError(
      subject,
      `${file.path} is not a valid NATS credentials file (${(err as Error).message})`,
      err,
    );
  }
  return authenticator;
}

/**
 * Returns an nkey authenticator for a user seed given literally (`SU...`) or as a seed file path
 * (the first `SU...` token in the file is used).
 *
 * @param value - a literal user seed or a path to a file containing one
 * @param subject - the setting (e.g. `NATS_NKEY`)
 * @param env - the environment providing `HOME`
 * @returns the authenticator
 * @throws {@link ConfigError} when the file is unreadable or holds no valid user seed, or when a
 * value shaped like a seed (`S` and base32 characters, no such file) is not a valid user seed:
 * `NATS_NKEY: not a valid nkey seed (expected a user seed, ...)`
 * @example
 * ```ts
 * const auth = await nkeyAuthenticatorFor("SUAM...", { variable: "NATS_NKEY" }, env);
 * ```
 */
export async function nkeyAuthenticatorFor(
  value: string,
  subject: SettingSubject,
  env: Env,
): Promise<Authenticator> {
  let seed: string;
  let where = "the literal seed";
  if (USER_SEED.test(value)) {
    seed = value;
  } else {
    const file = await readSettingFile(value, "nkey seed file", subject, env).catch((err: unknown) => {
      // A seed cut short or of another kind (an account's `SA...`): say so, not "no such file".
      if (SEED_LIKE.test(value)) throw settingError(subject, `not a valid nkey seed (${EXPECTED_SEED})`);
      throw err;
    });
    const found = new TextDecoder().decode(file.bytes).match(USER_SEED_IN_TEXT)?.[0];
    if (!found) throw settingError(subject, `${file.path} contains no nkey user seed (SU...)`);
    seed = found;
    where = file.path;
  }
  const authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  try {
    probe(authenticator);
  } catch (err) {
    throw settingError(
      subject,
      `not a valid nkey seed: ${where} does not decode (${(err as Error).message}; ${EXPECTED_SEED})`,
      err,
    );
  }
  return authenticator;
}
