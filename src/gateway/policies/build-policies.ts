/**
 * Builds a route's policies from the untyped `cors`, `auth` and `rateLimit` blocks of the gateway
 * configuration.
 */
import { isAbsolute, resolve } from "node:path";
import { type AuthHookOptions, authHook } from "./auth-hook.js";
import { ConfigFields } from "./config-fields.js";
import { cors } from "./cors.js";
import { CORS_KEYS, type CorsOptions } from "./cors-settings.js";
import { JWT_AUTH_KEYS, type JwtAuthOptions, jwtAuth } from "./jwt-auth.js";
import { PolicyConfigError } from "./policy-config-error.js";
import { RATE_LIMIT_KEYS, type RateLimitOptions, rateLimit } from "./rate-limit.js";
import type { AuthHook, Policy } from "./types.js";

/**
 * The policy blocks of one route, as parsed from YAML or JSON (other route fields are ignored).
 *
 * @example
 * ```ts
 * const config: PolicyConfig = {
 *   cors: { origins: ["https://app.example.com"], credentials: true },
 *   rateLimit: { requests: 10, per: "second", key: "ip" },
 *   auth: { hook: true },
 * };
 * ```
 */
export interface PolicyConfig {
  /** CORS block: see {@link CorsOptions}. */
  cors?: unknown;
  /** Rate limit block: see {@link RateLimitOptions} (without `now`). */
  rateLimit?: unknown;
  /** Auth block: `{ hook: true }` for the API hook, or JWT settings, see {@link JwtAuthOptions}. */
  auth?: unknown;
}

/**
 * What the API gives {@link buildPolicies} besides the configuration.
 *
 * @example
 * ```ts
 * const policies = buildPolicies({ auth: { hook: true } }, "routes[0]", { auth: myHook, baseDir: "/etc/natsmesh" });
 * ```
 */
export interface BuildPoliciesOptions {
  /** The function used by `auth: { hook: true }`. */
  auth?: AuthHook;
  /** Told about an auth hook that threw (the caller gets a generic 500). */
  onAuthHookError?: AuthHookOptions["onError"];
  /** Directory that a relative `auth.jwks` path is resolved against; default the working directory. */
  baseDir?: string;
}

/**
 * Validates a route's policy blocks and builds its policies. An absent block (or `false`) adds no
 * policy. The order is fixed: **cors, auth, rate limit**.
 *
 * - CORS first: preflights carry no credentials and must not be refused by auth nor spend rate limit
 *   tokens; it also puts the CORS headers on every later answer.
 * - Auth before the rate limit: only authenticated requests create and spend buckets, so anonymous
 *   traffic cannot drain a shared bucket (`key: route`, callers behind one NAT), nor churn the bounded
 *   bucket map with made-up `header:` keys to reset other clients' limits. The price: failed auth
 *   attempts are not rate limited. Verifying a JWT is cheap, but an expensive auth hook (a database
 *   lookup) or guessable credentials need a limit in front of the gateway or in the hook.
 *
 * The gateway runs the policies in order and stops at the first `respond`. It should add the
 * `responseHeaders` of the policies that continued before it to that answer too, so a 401 or 429
 * to a cross-origin caller keeps its CORS headers and the page can read it.
 *
 * @param config - the route's `cors`, `auth` and `rateLimit` blocks, untyped
 * @param where - names the route in errors, e.g. `gateway.yaml: routes[1] (name 'api')`
 * @param options - the API auth hook and where relative paths start
 * @returns the policies, in the order they must run
 * @throws {@link PolicyConfigError} naming `where` and the faulty field, e.g.
 *   `gateway.yaml: routes[1] (name 'api'): rateLimit.requests must be a positive integer (got 0)`
 * @example
 * ```ts
 * const policies = buildPolicies(
 *   { cors: { origins: ["https://app.example.com"] }, auth: { hook: true }, rateLimit: { requests: 10, per: "second" } },
 *   "gateway.yaml: routes[0] (name 'api')",
 *   { auth: async (req) => ({ action: "continue" }) },
 * );
 * ```
 */
export function buildPolicies(
  config: PolicyConfig,
  where: string,
  options: BuildPoliciesOptions = {},
): Policy[] {
  const fields = new ConfigFields(where);
  const route = fields.record(config, "route");
  const policies: Policy[] = [];
  const block = (name: keyof PolicyConfig, known: readonly string[]): Record<string, unknown> | undefined => {
    const value = route[name];
    return value === undefined || value === false ? undefined : fields.record(value, name, known);
  };
  const corsBlock = block("cors", CORS_KEYS);
  if (corsBlock) policies.push(at(where, "cors", () => cors(corsBlock as unknown as CorsOptions)));
  const authBlock = block("auth", ["hook", ...JWT_AUTH_KEYS]);
  if (authBlock) policies.push(authPolicy(authBlock, where, fields, options));
  const limitBlock = block("rateLimit", RATE_LIMIT_KEYS);
  if (limitBlock)
    policies.push(at(where, "rateLimit", () => rateLimit(limitBlock as unknown as RateLimitOptions)));
  return policies;
}

function authPolicy(
  block: Record<string, unknown>,
  where: string,
  fields: ConfigFields,
  options: BuildPoliciesOptions,
): Policy {
  if (block.hook !== undefined) {
    if (block.hook !== true) fields.fail("auth.hook", "must be true (omit auth for no authentication)");
    const other = Object.keys(block).find((name) => name !== "hook");
    if (other !== undefined) fields.fail(`auth.${other}`, "cannot be combined with hook: true");
    if (options.auth === undefined)
      fields.fail("auth.hook", "is true but no auth hook was given to the gateway (options.auth)");
    return authHook(options.auth, { onError: options.onAuthHookError });
  }
  if (block.secret === undefined && block.secretEnv === undefined && block.jwks === undefined)
    fields.fail("auth", "needs hook: true or one of secret, secretEnv, jwks");
  const jwks = block.jwks;
  const settings =
    typeof jwks === "string" && options.baseDir !== undefined && !isAbsolute(jwks)
      ? { ...block, jwks: resolve(options.baseDir, jwks) }
      : block;
  return at(where, "auth", () => jwtAuth(settings as JwtAuthOptions));
}

/** Runs a factory, reporting its configuration errors at `where` under `block`. */
function at(where: string, block: string, build: () => Policy): Policy {
  try {
    return build();
  } catch (err) {
    throw err instanceof PolicyConfigError ? err.relocate(where, block) : err;
  }
}
