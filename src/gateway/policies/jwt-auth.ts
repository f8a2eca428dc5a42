/**
 * The JWT policy: verifies `Authorization: Bearer <jwt>` and forwards chosen claims as headers.
 */
import { errors, type JWTPayload, type JWTVerifyOptions } from "jose";
import { ErrorCode } from "../../protocol/errors.js";
import { isHopByHop, RESERVED_PREFIX } from "../../protocol/headers.js";
import { GatewayErrorCode } from "../errors.js";
import { ConfigFields, describeValue } from "./config-fields.js";
import { incomingHeader } from "./incoming-header.js";
import { HMAC_ALGORITHMS, type JwtVerify, jwtVerifier, PUBLIC_KEY_ALGORITHMS } from "./jwt-verifier.js";
import type { HeaderPairs, Policy, PolicyDecision, PolicyRequest } from "./types.js";

/**
 * Options of the {@link jwtAuth} policy (the `auth` block of a route). Exactly one of `secret`, `secretEnv`, `jwks`.
 *
 * @example
 * ```ts
 * const policy = jwtAuth({
 *   jwks: "https://auth.example.com/.well-known/jwks.json",
 *   issuer: "https://auth.example.com/",
 *   audience: "orders-api",
 *   forwardClaims: { sub: "x-user-id" },
 *   clockTolerance: 30, // seconds
 * });
 * ```
 */
export interface JwtAuthOptions {
  /** Shared secret for HS256/384/512, at least 32 bytes. Prefer `secretEnv` over a secret in a file. */
  secret?: string;
  /** Name of the environment variable holding the shared secret; read once, when the policy is built. */
  secretEnv?: string;
  /** Path of a JWKS JSON file of public keys (RS*, PS*, ES*, EdDSA); read once, when the policy is built. */
  jwks?: string;
  /** Required `iss` claim (one of the list). */
  issuer?: string | readonly string[];
  /** Required `aud` claim (one of the list). */
  audience?: string | readonly string[];
  /**
   * Accepted `alg` values; default `["HS256"]` with a secret; with a JWKS, each key's `alg`, or what its
   * type implies (RSA: RS256, EC P-256: ES256, P-384: ES384, P-521: ES512, Ed25519: EdDSA).
   */
  algorithms?: readonly string[];
  /**
   * Claims to forward to the service, claim → header name, e.g. `{ sub: "x-auth-subject" }`. Strings go
   * as they are, other values (and strings with control characters) as JSON; an absent claim sends no
   * header. A request that already carries one of these headers is refused (400), so a caller cannot
   * pose as someone else.
   */
  forwardClaims?: Readonly<Record<string, string>>;
  /** Allowed clock skew for `exp` and `nbf`, in seconds; default 0. */
  clockTolerance?: number;
}

/** The fields of a JWT `auth` block. */
export const JWT_AUTH_KEYS = [
  "secret",
  "secretEnv",
  "jwks",
  "issuer",
  "audience",
  "algorithms",
  "forwardClaims",
  "clockTolerance",
] as const;

/** Header names a claim cannot be forwarded as: framing, routing and credentials. */
const UNFORWARDABLE: ReadonlySet<string> = new Set([
  "authorization",
  "host",
  "content-length",
  "content-type",
  "x-request-id",
]);

/** The challenge sent with a 401 when no bearer token came (RFC 6750 §3). */
const CHALLENGE = "Bearer";

/** Stands for bearer credentials that are not a single token. */
const MALFORMED = "\u0000malformed";

/**
 * Creates a JWT authentication policy. The token comes from `Authorization: Bearer <jwt>` and is
 * verified with `jose` against the key, algorithms, issuer, audience, `exp` and `nbf`.
 *
 * - No `Authorization` header, another scheme, or an empty token: 401 `NM_ERR_UNAUTHORIZED` with
 *   `WWW-Authenticate: Bearer`.
 * - A token that does not verify (malformed, bad signature, unknown key, expired, wrong issuer or
 *   audience): 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
 * - A request carrying a header that `forwardClaims` sets: 400 `NM_ERR_MALFORMED`.
 * - A valid token: continue, forwarding the `forwardClaims` headers.
 *
 * @param options - the key (exactly one of `secret`, `secretEnv`, `jwks`) and claim checks; see {@link JwtAuthOptions}
 * @returns a policy named `auth`
 * @throws {@link PolicyConfigError} when the options are invalid, the secret is too short or unset,
 *   the JWKS file cannot be loaded, or an algorithm does not fit the key kind
 * @example
 * ```ts
 * const policy = jwtAuth({ secretEnv: "JWT_SECRET", issuer: "https://auth.example.com", forwardClaims: { sub: "x-auth-subject" } });
 * ```
 */
export function jwtAuth(options: JwtAuthOptions): Policy {
  const fields = new ConfigFields("jwtAuth()");
  const block = fields.record(options, "", JWT_AUTH_KEYS);
  const { verify, kind, defaultAlgorithms } = jwtVerifier(block, fields);
  const allowed: readonly string[] = kind === "hmac" ? HMAC_ALGORITHMS : PUBLIC_KEY_ALGORITHMS;
  const algorithms =
    block.algorithms === undefined
      ? defaultAlgorithms
      : fields.stringList(block.algorithms, "algorithms").map((alg, i) => {
          if (!allowed.includes(alg))
            fields.fail(
              `algorithms[${i}]`,
              `must be one of ${allowed.join(", ")} with ${kind === "hmac" ? "a shared secret" : "a JWKS"} (got ${describeValue(alg)})`,
            );
          return alg;
        });
  const verifyOptions: JWTVerifyOptions = { algorithms };
  if (block.issuer !== undefined) verifyOptions.issuer = fields.stringOrList(block.issuer, "issuer");
  if (block.audience !== undefined) verifyOptions.audience = fields.stringOrList(block.audience, "audience");
  if (block.clockTolerance !== undefined)
    verifyOptions.clockTolerance = fields.nonNegativeInteger(block.clockTolerance, "clockTolerance");
  return new JwtAuthPolicy(verify, verifyOptions, forwardClaims(fields, block.forwardClaims));
}

class JwtAuthPolicy implements Policy {
  readonly name = "auth";
  readonly #verify: JwtVerify;
  readonly #options: JWTVerifyOptions;
  readonly #forward: ReadonlyArray<[claim: string, header: string]>;

  constructor(verify: JwtVerify, options: JWTVerifyOptions, forward: Array<[claim: string, header: string]>) {
    this.#verify = verify;
    this.#options = options;
    this.#forward = forward;
  }

  async check(req: PolicyRequest): Promise<PolicyDecision> {
    const spoofed = this.#forward.find(([, header]) => req.headers[header] !== undefined);
    if (spoofed !== undefined)
      return {
        action: "respond",
        status: 400,
        message: `header '${spoofed[1]}' is set by the gateway and cannot be sent`,
        code: ErrorCode.Malformed,
      };
    const token = bearerToken(incomingHeader(req.headers, "authorization"));
    if (token === undefined) return unauthorized(CHALLENGE, "missing bearer token");
    if (token === MALFORMED) return invalidToken("malformed bearer credentials");
    let payload: JWTPayload;
    try {
      ({ payload } = await this.#verify(token, this.#options));
    } catch (err) {
      return invalidToken(err instanceof errors.JWTExpired ? "token expired" : "invalid token");
    }
    const forwardHeaders: HeaderPairs = [];
    for (const [claim, header] of this.#forward) {
      const value = payload[claim];
      if (value !== undefined) forwardHeaders.push([header, headerText(value)]);
    }
    return forwardHeaders.length > 0 ? { action: "continue", forwardHeaders } : { action: "continue" };
  }
}

/**
 * The token of a `Bearer` credential (scheme case-insensitive); `undefined` when there is none (no
 * header, another scheme, nothing after `Bearer`); {@link MALFORMED} when more than one word follows.
 */
function bearerToken(authorization: string | undefined): string | undefined {
  const [scheme, ...rest] = (authorization ?? "").trim().split(/[ \t]+/);
  if (scheme?.toLowerCase() !== "bearer" || rest.length === 0) return undefined;
  return rest.length === 1 ? rest[0] : MALFORMED;
}

function invalidToken(reason: string): PolicyDecision {
  return unauthorized(`Bearer error="invalid_token", error_description="${reason}"`, reason);
}

function unauthorized(challenge: string, message: string): PolicyDecision {
  return {
    action: "respond",
    status: 401,
    headers: [["WWW-Authenticate", challenge]],
    message,
    code: GatewayErrorCode.Unauthorized,
  };
}

function headerText(value: unknown): string {
  return typeof value === "string" && !hasControl(value) ? value : JSON.stringify(value);
}

/** Whether `text` holds a character a header value cannot carry as is (controls other than tab). */
function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

function forwardClaims(fields: ConfigFields, value: unknown): Array<[claim: string, header: string]> {
  if (value === undefined) return [];
  const claims = fields.record(value, "forwardClaims");
  const seen = new Set<string>();
  return Object.entries(claims).map(([claim, header]) => {
    const field = `forwardClaims.${claim}`;
    const name = fields.token(header, field, "header name").toLowerCase();
    if (UNFORWARDABLE.has(name) || isHopByHop(name) || name.startsWith(RESERVED_PREFIX))
      fields.fail(field, `cannot forward to '${name}': the header is reserved`);
    if (seen.has(name)) fields.fail(field, `forwards to '${name}', which another claim already uses`);
    seen.add(name);
    return [claim, name];
  });
}
