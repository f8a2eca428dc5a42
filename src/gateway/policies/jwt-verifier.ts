/**
 * The key material of JWT authentication: a shared secret (HMAC) or a JWKS file (RSA, EC, EdDSA),
 * turned into one verify function at build time.
 */
import { createPublicKey, type JsonWebKey } from "node:crypto";
import { readFileSync } from "node:fs";
import {
  createLocalJWKSet,
  type JSONWebKeySet,
  type JWK,
  type JWTVerifyOptions,
  type JWTVerifyResult,
  jwtVerify,
} from "jose";
import type { ConfigFields } from "./config-fields.js";

/** Verifies a compact JWT with the configured key; rejects with a `jose` error when it is not valid. */
export type JwtVerify = (token: string, options: JWTVerifyOptions) => Promise<JWTVerifyResult>;

/** Algorithms a shared secret can verify. */
export const HMAC_ALGORITHMS = ["HS256", "HS384", "HS512"] as const;

/** Algorithms a JWKS file can verify. */
export const PUBLIC_KEY_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
] as const;

/** Shortest shared secret accepted, in bytes: RFC 7518 §3.2 wants at least the hash size (HS256). */
export const MIN_SECRET_BYTES = 32;

/** Smallest RSA modulus `jose` verifies with, in bits. */
export const MIN_RSA_BITS = 2048;

/** Where the key comes from, exactly one of the three. */
export interface JwtKeySource {
  /** A shared secret (HS256/384/512). */
  secret?: unknown;
  /** Name of the environment variable holding the shared secret. */
  secretEnv?: unknown;
  /** Path of a JWKS JSON file of public keys. */
  jwks?: unknown;
}

/** A verify function and the algorithms its key kind allows. */
export interface JwtVerifier {
  /** Verifies a token. */
  verify: JwtVerify;
  /** `hmac` for a shared secret, `public` for a JWKS. */
  kind: "hmac" | "public";
  /** Algorithms accepted when none are configured: HS256, or those the JWKS keys imply. */
  defaultAlgorithms: string[];
}

/**
 * Builds the verify function from exactly one of `secret`, `secretEnv` and `jwks`. The environment
 * variable and the JWKS file are read once, now; later changes need a rebuild.
 *
 * @param source - the key fields of the auth block
 * @param fields - reports errors at the block's place
 * @returns the verify function and the key kind
 * @throws {@link PolicyConfigError} when none or several sources are given, the secret is shorter than
 *   32 bytes, the variable is unset, or the JWKS file is missing, unreadable or holds no valid public key
 * @example
 * ```ts
 * const { verify } = jwtVerifier({ jwks: "/etc/natsmesh/jwks.json" }, new ConfigFields("jwtAuth()"));
 * ```
 */
export function jwtVerifier(source: JwtKeySource, fields: ConfigFields): JwtVerifier {
  const given = (["secret", "secretEnv", "jwks"] as const).filter((name) => source[name] !== undefined);
  if (given.length !== 1)
    fields.fail(
      "",
      `needs exactly one of secret, secretEnv, jwks (got ${given.length === 0 ? "none" : given.join(" and ")})`,
    );
  if (source.jwks !== undefined) {
    const jwks = loadJwks(fields.string(source.jwks, "jwks"), fields);
    let set: ReturnType<typeof createLocalJWKSet>;
    try {
      set = createLocalJWKSet(jwks);
    } catch (err) {
      fields.fail("jwks", `file ${source.jwks} is not a valid JWKS`, err);
    }
    const defaultAlgorithms = [...new Set(jwks.keys.map(impliedAlgorithm))];
    return { kind: "public", defaultAlgorithms, verify: (token, options) => jwtVerify(token, set, options) };
  }
  const secret =
    source.secret !== undefined
      ? secretValue(source.secret, fields)
      : secretFromEnv(source.secretEnv, fields);
  const key = new TextEncoder().encode(secret);
  return {
    kind: "hmac",
    defaultAlgorithms: ["HS256"],
    verify: (token, options) => jwtVerify(token, key, options),
  };
}

/** Never echoes the value: it is a secret. */
function secretValue(value: unknown, fields: ConfigFields, field = "secret"): string {
  if (typeof value !== "string") return fields.fail(field, "must be a string");
  if (Buffer.byteLength(value) < MIN_SECRET_BYTES)
    fields.fail(field, `must be at least ${MIN_SECRET_BYTES} bytes long (RFC 7518 §3.2)`);
  return value;
}

function secretFromEnv(name: unknown, fields: ConfigFields): string {
  const variable = fields.string(name, "secretEnv");
  const value = process.env[variable];
  if (value === undefined || value === "") fields.fail("secretEnv", `names ${variable}, which is not set`);
  return secretValue(value, fields, `secretEnv (${variable})`);
}

function loadJwks(path: string, fields: ConfigFields): JSONWebKeySet {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
    fields.fail("jwks", `cannot load ${path} (${reason})`, err);
  }
  const keys = (json as { keys?: unknown } | null)?.keys;
  if (typeof json !== "object" || !Array.isArray(keys) || keys.length === 0)
    fields.fail("jwks", `file ${path} must hold a JWKS with at least one key: {"keys": [...]}`);
  for (const [i, key] of keys.entries()) checkPublicKey(key, `${path}: keys[${i}]`, fields);
  return json as JSONWebKeySet;
}

/** The key's `alg`, or the usual algorithm of its type and curve. */
function impliedAlgorithm(jwk: JWK): string {
  if (typeof jwk.alg === "string") return jwk.alg;
  if (jwk.kty === "EC") return jwk.crv === "P-384" ? "ES384" : jwk.crv === "P-521" ? "ES512" : "ES256";
  return jwk.kty === "OKP" ? "EdDSA" : "RS256";
}

function checkPublicKey(key: unknown, at: string, fields: ConfigFields): void {
  if (typeof key !== "object" || key === null || Array.isArray(key))
    fields.fail("jwks", `${at} is not a JWK object`);
  const jwk = key as Record<string, unknown>;
  if (jwk.kty === "oct") fields.fail("jwks", `${at} is a symmetric key: use secret or secretEnv for HMAC`);
  if (jwk.d !== undefined)
    fields.fail("jwks", `${at} holds private key material ('d'): publish public keys only`);
  let bits: number | undefined;
  try {
    bits = createPublicKey({ key: jwk as JsonWebKey, format: "jwk" }).asymmetricKeyDetails?.modulusLength;
  } catch (err) {
    fields.fail(
      "jwks",
      `${at} is not a valid public key (${err instanceof Error ? err.message : String(err)})`,
      err,
    );
  }
  // jose refuses RSA keys under 2048 bits when verifying: better to say so now.
  if (jwk.kty === "RSA" && (bits ?? 0) < MIN_RSA_BITS)
    fields.fail("jwks", `${at} is an RSA key of ${bits ?? 0} bits (at least ${MIN_RSA_BITS} needed)`);
}
