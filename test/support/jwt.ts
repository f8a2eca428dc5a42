/**
 * NATS decentralized-auth JWTs for tests, signed by hand with @nats-io/nkeys (no @nats-io/jwt
 * dependency): an operator, accounts and users, and a `.creds` file for a user. The claims follow
 * nats-io/jwt v2 (`nats.type`, `nats.version: 2`); nats-server 2.9 trusts them with
 * `operator: <jwt file>`, `resolver: MEMORY` and `resolver_preload` (see {@link operatorConfig}).
 */
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { createAccount, createOperator, createUser, type KeyPair } from "@nats-io/nkeys";
import type { ServerConfig } from "./nats-server.js";

const b64url = (data: Uint8Array | string) => Buffer.from(data).toString("base64url");
const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function base32(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = "";
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** Encodes and signs a JWT with `issuer`'s key; `jti` is the claims' hash, as nats-io/jwt makes it. */
export function signJwt(
  issuer: KeyPair,
  subject: string,
  name: string,
  nats: Record<string, unknown>,
): string {
  const header = b64url(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" }));
  const claims: Record<string, unknown> = {
    iat: Math.floor(Date.now() / 1000),
    iss: issuer.getPublicKey(),
    name,
    sub: subject,
    nats: { ...nats, version: 2 },
  };
  claims.jti = base32(createHash("sha256").update(JSON.stringify(claims)).digest());
  const payload = b64url(JSON.stringify(claims));
  const signature = b64url(issuer.sign(new TextEncoder().encode(`${header}.${payload}`)));
  return `${header}.${payload}.${signature}`;
}

const NO_LIMITS = {
  subs: -1,
  data: -1,
  payload: -1,
  imports: -1,
  exports: -1,
  wildcards: true,
  conn: -1,
  leaf: -1,
};

/** A signed account: its key pair and JWT. */
export interface TestAccount {
  kp: KeyPair;
  jwt: string;
}

/** Permissions of a user JWT (`pub`/`sub` with `allow`/`deny` lists). */
export interface UserPermissions {
  pub?: { allow?: string[]; deny?: string[] };
  sub?: { allow?: string[]; deny?: string[] };
}

/** An operator that signs accounts, which sign users. */
export class TestOperator {
  readonly kp = createOperator();
  readonly jwt: string;

  constructor(readonly name = "natsmesh-test-operator") {
    this.jwt = signJwt(this.kp, this.kp.getPublicKey(), name, { type: "operator" });
  }

  /** An account signed by this operator, without limits; `extra` adds e.g. `exports`/`imports`. */
  account(name: string, extra: Record<string, unknown> = {}): TestAccount {
    const kp = createAccount();
    const jwt = signJwt(this.kp, kp.getPublicKey(), name, {
      type: "account",
      limits: NO_LIMITS,
      default_permissions: { pub: {}, sub: {} },
      ...extra,
    });
    return { kp, jwt };
  }
}

/** The text of a `.creds` file for a new user of `account` (as `nsc` writes it). */
export function userCreds(account: TestAccount, name: string, permissions: UserPermissions = {}): string {
  const user = createUser();
  const jwt = signJwt(account.kp, user.getPublicKey(), name, {
    type: "user",
    pub: permissions.pub ?? {},
    sub: permissions.sub ?? {},
    subs: -1,
    data: -1,
    payload: -1,
  });
  const seed = new TextDecoder().decode(user.getSeed());
  return [
    "-----BEGIN NATS USER JWT-----",
    jwt,
    "------END NATS USER JWT------",
    "",
    "************************* IMPORTANT *************************",
    "NKEY Seed printed below can be used to sign and prove identity.",
    "NKEYs are sensitive and should be treated as secrets.",
    "",
    "-----BEGIN USER NKEY SEED-----",
    seed,
    "------END USER NKEY SEED------",
    "",
  ].join("\n");
}

/**
 * Writes the operator JWT to `dir` and returns the server configuration that trusts it, with the
 * accounts preloaded into a memory resolver.
 */
export async function operatorConfig(
  dir: string,
  operator: TestOperator,
  accounts: TestAccount[],
): Promise<ServerConfig> {
  const file = path.join(dir, "operator.jwt");
  await writeFile(file, operator.jwt);
  return {
    operator: file,
    resolver: "MEMORY",
    resolver_preload: Object.fromEntries(accounts.map((a) => [a.kp.getPublicKey(), a.jwt])),
  };
}
