import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  AUTH_HOOK_FAILED,
  authHook,
  buildPolicies,
  cors,
  type HeaderPairs,
  jwtAuth,
  type Policy,
  PolicyConfigError,
  type PolicyDecision,
  type PolicyRequest,
  rateLimit,
} from "../src/gateway/policies/index.js";
import { TokenBuckets } from "../src/gateway/policies/token-buckets.js";

const APP = "https://app.example.com";
const SECRET = "0123456789abcdef0123456789abcdef-test-secret";
const WHERE = "gateway.yaml: routes[1] (name 'api')";

const request = (over: Partial<PolicyRequest> = {}): PolicyRequest => ({
  method: "GET",
  path: "/items?x=1",
  headers: {},
  clientIp: "203.0.113.7",
  route: "api",
  ...over,
});

const preflight = (origin: string, method: string, headers: Record<string, string> = {}): PolicyRequest =>
  request({
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": method, ...headers },
  });

/** All values of `name` (case-insensitive) in header pairs. */
const values = (pairs: HeaderPairs | undefined, name: string): string[] =>
  (pairs ?? []).filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
const header = (pairs: HeaderPairs | undefined, name: string): string | undefined => values(pairs, name)[0];

/** Headers of a decision: the response headers of a continue, the headers of a respond. */
const headersOf = (d: PolicyDecision): HeaderPairs | undefined =>
  d.action === "continue" ? d.responseHeaders : d.headers;

function expectRespond(d: PolicyDecision, status: number): Extract<PolicyDecision, { action: "respond" }> {
  expect(d.action).toBe("respond");
  if (d.action !== "respond") throw new Error("unreachable");
  expect(d.status).toBe(status);
  return d;
}

function expectContinue(d: PolicyDecision): Extract<PolicyDecision, { action: "continue" }> {
  expect(d.action).toBe("continue");
  if (d.action !== "continue") throw new Error("unreachable");
  return d;
}

function configError(build: () => unknown): PolicyConfigError {
  try {
    build();
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyConfigError);
    return err as PolicyConfigError;
  }
  throw new Error("expected a PolicyConfigError");
}

describe("policies - cors", () => {
  const policy = cors({
    origins: [APP, "http://localhost:5173"],
    exposeHeaders: ["x-request-id", "RateLimit-Remaining"],
    maxAge: 600,
  });

  it("policies - cors answers an allowed preflight 204 with the Allow headers", async () => {
    const d = expectRespond(
      await policy.check(
        preflight(APP, "PATCH", { "access-control-request-headers": "content-type, x-trace" }),
      ),
      204,
    );
    expect(d.message).toBeUndefined();
    expect(header(d.headers, "Access-Control-Allow-Origin")).toBe(APP);
    expect(header(d.headers, "Access-Control-Allow-Methods")).toBe("GET, HEAD, PUT, PATCH, POST, DELETE");
    expect(header(d.headers, "Access-Control-Allow-Headers")).toBe("content-type, x-trace");
    expect(header(d.headers, "Access-Control-Max-Age")).toBe("600");
    expect(header(d.headers, "Vary")).toBe("Origin, Access-Control-Request-Headers");
    expect(header(d.headers, "Access-Control-Allow-Credentials")).toBeUndefined();
  });

  it("policies - cors refuses a preflight from another origin or for another method with 403", async () => {
    const origin = expectRespond(await policy.check(preflight("https://evil.example", "GET")), 403);
    expect(origin.code).toBe("NM_ERR_CORS_REJECTED");
    expect(origin.message).toContain("https://evil.example");
    expect(header(origin.headers, "Access-Control-Allow-Origin")).toBeUndefined();
    const method = expectRespond(await policy.check(preflight(APP, "PROPFIND")), 403);
    expect(method.message).toContain("PROPFIND");
    expect(header(method.headers, "Access-Control-Allow-Origin")).toBeUndefined();
  });

  it("policies - cors preflight lists configured methods and headers; origins match case-insensitively", async () => {
    const strict = cors({
      origins: ["https://App.Example.com"],
      methods: ["get", "post"],
      allowHeaders: ["x-a"],
    });
    const d = expectRespond(
      await strict.check(preflight(APP, "post", { "access-control-request-headers": "x-b" })),
      204,
    );
    expect(header(d.headers, "Access-Control-Allow-Methods")).toBe("GET, POST");
    expect(header(d.headers, "Access-Control-Allow-Headers")).toBe("x-a");
    expect(header(d.headers, "Vary")).toBe("Origin");
    expectRespond(await strict.check(preflight(APP, "DELETE")), 403);
  });

  it("policies - cors adds Allow-Origin, Vary and Expose-Headers to an actual request from an allowed origin", async () => {
    const d = expectContinue(await policy.check(request({ headers: { origin: APP } })));
    expect(d.responseHeaders).toEqual([
      ["Vary", "Origin"],
      ["Access-Control-Allow-Origin", APP],
      ["Access-Control-Expose-Headers", "x-request-id, RateLimit-Remaining"],
    ]);
    expect(d.forwardHeaders).toBeUndefined();
  });

  it("policies - cors lets a request from another origin continue without CORS headers", async () => {
    const other = expectContinue(
      await policy.check(request({ headers: { origin: "https://evil.example" } })),
    );
    expect(other.responseHeaders).toEqual([["Vary", "Origin"]]);
    const none = expectContinue(await policy.check(request()));
    expect(none.responseHeaders).toEqual([["Vary", "Origin"]]);
    // OPTIONS without Access-Control-Request-Method is no preflight: it goes on to the service.
    const options = expectContinue(
      await policy.check(request({ method: "OPTIONS", headers: { origin: APP } })),
    );
    expect(header(options.responseHeaders, "Access-Control-Allow-Origin")).toBe(APP);
  });

  it("policies - cors with credentials reflects the origin and never sends *", async () => {
    const anyCredentialed = cors({ origins: "*", credentials: true, methods: ["*"], allowHeaders: ["*"] });
    const actual = expectContinue(await anyCredentialed.check(request({ headers: { origin: APP } })));
    expect(actual.responseHeaders).toEqual([
      ["Vary", "Origin"],
      ["Access-Control-Allow-Origin", APP],
      ["Access-Control-Allow-Credentials", "true"],
    ]);
    const pre = expectRespond(
      await anyCredentialed.check(preflight(APP, "PUT", { "access-control-request-headers": "x-a" })),
      204,
    );
    for (const name of [
      "Access-Control-Allow-Origin",
      "Access-Control-Allow-Methods",
      "Access-Control-Allow-Headers",
    ])
      expect(header(pre.headers, name)).not.toBe("*");
    expect(header(pre.headers, "Access-Control-Allow-Methods")).toBe("PUT");
    expect(header(pre.headers, "Access-Control-Allow-Headers")).toBe("x-a");
    expect(header(pre.headers, "Access-Control-Allow-Credentials")).toBe("true");
    // A credentialed "null" origin (sandboxed frame, file://) is not reflected.
    expectRespond(await anyCredentialed.check(preflight("null", "GET")), 403);
    const listed = cors({ origins: [APP], credentials: true });
    const d = expectContinue(await listed.check(request({ headers: { origin: APP } })));
    expect(header(d.responseHeaders, "Access-Control-Allow-Credentials")).toBe("true");
    expect(header(d.responseHeaders, "Access-Control-Allow-Origin")).toBe(APP);
  });

  it("policies - cors with origins * and no credentials sends * and no Vary", async () => {
    const any = cors({ origins: "*", methods: ["*"], allowHeaders: ["*"] });
    const d = expectContinue(await any.check(request({ headers: { origin: "https://x.example" } })));
    expect(d.responseHeaders).toEqual([["Access-Control-Allow-Origin", "*"]]);
    const pre = expectRespond(await any.check(preflight("https://x.example", "DELETE")), 204);
    expect(pre.headers).toEqual([
      ["Access-Control-Allow-Origin", "*"],
      ["Access-Control-Allow-Methods", "*"],
      ["Access-Control-Allow-Headers", "*"],
    ]);
  });
});

describe("policies - rate limit", () => {
  const clock = () => {
    let t = 1_000_000;
    return { now: () => t, advance: (ms: number) => (t += ms) };
  };
  const limits = (d: PolicyDecision) => ({
    limit: header(headersOf(d), "RateLimit-Limit"),
    remaining: header(headersOf(d), "RateLimit-Remaining"),
    reset: header(headersOf(d), "RateLimit-Reset"),
  });

  it("policies - rate limit allows the burst, then answers 429 with Retry-After and RateLimit-* headers", async () => {
    const c = clock();
    const policy = rateLimit({ requests: 2, per: "second", burst: 3, now: c.now });
    const seen: Array<ReturnType<typeof limits>> = [];
    for (let i = 0; i < 3; i++) seen.push(limits(expectContinue(await policy.check(request()))));
    // 2 tokens/s: each spent token takes 500 ms to come back; Reset is until the bucket is full.
    expect(seen).toEqual([
      { limit: "3", remaining: "2", reset: "1" },
      { limit: "3", remaining: "1", reset: "1" },
      { limit: "3", remaining: "0", reset: "2" },
    ]);
    const d = expectRespond(await policy.check(request()), 429);
    expect(d.code).toBe("NM_ERR_RATE_LIMITED");
    expect(header(d.headers, "Retry-After")).toBe("1");
    expect(limits(d)).toEqual({ limit: "3", remaining: "0", reset: "2" });
  });

  it("policies - rate limit Retry-After is the wait for the next token, rounded up", async () => {
    const c = clock();
    const policy = rateLimit({ requests: 1, per: "minute", now: c.now });
    expectContinue(await policy.check(request()));
    expect(header(expectRespond(await policy.check(request()), 429).headers, "Retry-After")).toBe("60");
    c.advance(59_500);
    const d = expectRespond(await policy.check(request()), 429);
    expect(header(d.headers, "Retry-After")).toBe("1");
    expect(header(d.headers, "RateLimit-Reset")).toBe("1");
    c.advance(500);
    expect(limits(expectContinue(await policy.check(request())))).toEqual({
      limit: "1",
      remaining: "0",
      reset: "60",
    });
  });

  it("policies - rate limit refills over time, up to the burst", async () => {
    const c = clock();
    const policy = rateLimit({ requests: 10, per: 2_000, burst: 2, now: c.now });
    expectContinue(await policy.check(request()));
    expectContinue(await policy.check(request()));
    expectRespond(await policy.check(request()), 429);
    c.advance(199);
    expectRespond(await policy.check(request()), 429);
    c.advance(1);
    expect(limits(expectContinue(await policy.check(request()))).remaining).toBe("0");
    c.advance(60_000);
    expect(limits(expectContinue(await policy.check(request()))).remaining).toBe("1");
  });

  it("policies - rate limit keeps one bucket per IP, header value or route", async () => {
    const c = clock();
    const byIp = rateLimit({ requests: 1, per: "second", now: c.now });
    expectContinue(await byIp.check(request({ clientIp: "10.0.0.1" })));
    expectRespond(await byIp.check(request({ clientIp: "10.0.0.1" })), 429);
    expectContinue(await byIp.check(request({ clientIp: "10.0.0.2" })));

    const byHeader = rateLimit({ requests: 1, per: "second", key: "header:X-Api-Key", now: c.now });
    expectContinue(await byHeader.check(request({ headers: { "x-api-key": "a" } })));
    expectRespond(
      await byHeader.check(request({ headers: { "x-api-key": "a" }, clientIp: "10.9.9.9" })),
      429,
    );
    expectContinue(await byHeader.check(request({ headers: { "x-api-key": "b" } })));
    // Without the header, the caller is counted by IP.
    expectContinue(await byHeader.check(request()));
    expectRespond(await byHeader.check(request()), 429);
    expectContinue(await byHeader.check(request({ clientIp: "10.0.0.3" })));

    const byRoute = rateLimit({ requests: 1, per: "second", key: "route", now: c.now });
    expectContinue(await byRoute.check(request({ clientIp: "10.0.0.1" })));
    expectRespond(await byRoute.check(request({ clientIp: "10.0.0.2" })), 429);
  });

  it("policies - rate limit forgets the least recently used key beyond maxKeys", async () => {
    const c = clock();
    const policy = rateLimit({ requests: 1, per: "minute", maxKeys: 3, now: c.now });
    expectContinue(await policy.check(request({ clientIp: "a" })));
    expectRespond(await policy.check(request({ clientIp: "a" })), 429);
    for (const ip of ["b", "c", "d"]) expectContinue(await policy.check(request({ clientIp: ip })));
    // "a" was pushed out: it starts over with a full bucket.
    expectContinue(await policy.check(request({ clientIp: "a" })));
    // "c" is still remembered.
    expectRespond(await policy.check(request({ clientIp: "c" })), 429);
  });

  it("policies - rate limit memory stays bounded: a cap, and idle full buckets are swept", () => {
    const capped = new TokenBuckets({ capacity: 1, ratePerMs: 1 / 1000, maxKeys: 100 });
    for (let i = 0; i < 10_000; i++) capped.take(`k${i}`, 0);
    expect(capped.size).toBe(100);

    const swept = new TokenBuckets({ capacity: 5, ratePerMs: 5 / 1000, maxKeys: 10_000 });
    for (let i = 0; i < 100; i++) swept.take(`idle${i}`, 0);
    expect(swept.size).toBe(100);
    // One second later every idle bucket is full again: each take drops up to two of them.
    for (let i = 0; i < 50; i++) swept.take("active", 1_000 + i);
    expect(swept.size).toBe(1);
  });
});

describe("policies - jwt", () => {
  let dir: string;
  let jwksPath: string;
  let rsa: Awaited<ReturnType<typeof generateKeyPair>>;
  let ec: Awaited<ReturnType<typeof generateKeyPair>>;
  const secret = new TextEncoder().encode(SECRET);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "natsmesh-policies-"));
    rsa = await generateKeyPair("RS256");
    ec = await generateKeyPair("ES256");
    const keys = [
      { ...(await exportJWK(rsa.publicKey)), kid: "rsa-1", use: "sig" },
      { ...(await exportJWK(ec.publicKey)), kid: "ec-1" },
    ];
    jwksPath = join(dir, "jwks.json");
    writeFileSync(jwksPath, JSON.stringify({ keys }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const bearer = (token: string) => request({ headers: { authorization: `Bearer ${token}` } });
  const hs256 = (claims: Record<string, unknown> = {}, key: Uint8Array = secret) =>
    new SignJWT({
      sub: "user-42",
      iss: "https://auth.example.com",
      aud: "natsmesh",
      exp: Math.floor(Date.now() / 1000) + 300,
      roles: ["admin", "ops"],
      ...claims,
    })
      .setProtectedHeader({ alg: "HS256" })
      .sign(key);
  const policy = () =>
    jwtAuth({
      secret: SECRET,
      issuer: "https://auth.example.com",
      audience: "natsmesh",
      forwardClaims: { sub: "x-auth-subject", roles: "X-Auth-Roles", tenant: "x-auth-tenant" },
    });

  it("policies - jwt accepts a valid HS256 token and forwards the claims", async () => {
    const d = expectContinue(await policy().check(bearer(await hs256())));
    expect(d.forwardHeaders).toEqual([
      ["x-auth-subject", "user-42"],
      ["x-auth-roles", '["admin","ops"]'],
    ]);
    expect(d.responseHeaders).toBeUndefined();
    // The scheme is case-insensitive.
    const lower = request({ headers: { authorization: `bearer ${await hs256()}` } });
    expectContinue(await policy().check(lower));
  });

  it("policies - jwt refuses an expired token with 401 invalid_token", async () => {
    const expired = await hs256({ exp: Math.floor(Date.now() / 1000) - 60 });
    const d = expectRespond(await policy().check(bearer(expired)), 401);
    expect(d.code).toBe("NM_ERR_UNAUTHORIZED");
    expect(d.message).toBe("token expired");
    expect(header(d.headers, "WWW-Authenticate")).toBe(
      'Bearer error="invalid_token", error_description="token expired"',
    );
  });

  it("policies - jwt refuses a token signed with another secret, issuer or audience", async () => {
    const other = new TextEncoder().encode("another-secret-that-is-long-enough-000");
    for (const token of [
      await hs256({}, other),
      await hs256({ iss: "https://evil.example" }),
      await hs256({ aud: "someone-else" }),
    ]) {
      const d = expectRespond(await policy().check(bearer(token)), 401);
      expect(header(d.headers, "WWW-Authenticate")).toBe(
        'Bearer error="invalid_token", error_description="invalid token"',
      );
    }
    // HS384 is not in the default algorithms of a secret.
    const hs384 = await new SignJWT({}).setProtectedHeader({ alg: "HS384" }).sign(secret);
    expectRespond(await jwtAuth({ secret: SECRET }).check(bearer(hs384)), 401);
  });

  it("policies - jwt answers a request without a bearer token 401 with WWW-Authenticate: Bearer", async () => {
    for (const headers of [{}, { authorization: "Basic dXNlcjpwYXNz" }, { authorization: "Bearer " }]) {
      const d = expectRespond(await policy().check(request({ headers })), 401);
      expect(d.code).toBe("NM_ERR_UNAUTHORIZED");
      expect(d.message).toBe("missing bearer token");
      expect(d.headers).toEqual([["WWW-Authenticate", "Bearer"]]);
    }
  });

  it("policies - jwt answers malformed bearer credentials 401 invalid_token", async () => {
    for (const authorization of ["Bearer not-a-jwt", "Bearer a.b.c", `Bearer ${await hs256()} extra`]) {
      const d = expectRespond(await policy().check(request({ headers: { authorization } })), 401);
      expect(header(d.headers, "WWW-Authenticate")).toMatch(/^Bearer error="invalid_token"/);
    }
  });

  it("policies - jwt refuses a request that already carries a forwarded header", async () => {
    const spoof = request({
      headers: { authorization: `Bearer ${await hs256()}`, "x-auth-subject": "admin" },
    });
    const d = expectRespond(await policy().check(spoof), 400);
    expect(d.message).toContain("x-auth-subject");
  });

  it("policies - jwt reads the secret from the environment once, when built", async () => {
    vi.stubEnv("NATSMESH_TEST_JWT_SECRET", SECRET);
    try {
      const fromEnv = jwtAuth({ secretEnv: "NATSMESH_TEST_JWT_SECRET" });
      vi.stubEnv("NATSMESH_TEST_JWT_SECRET", "changed-later-changed-later-changed-later");
      expectContinue(await fromEnv.check(bearer(await hs256())));
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("policies - jwt verifies RS256 and ES256 tokens against a JWKS file", async () => {
    const jwks = jwtAuth({ jwks: jwksPath, forwardClaims: { sub: "x-auth-subject" } });
    const rs = await new SignJWT({})
      .setProtectedHeader({ alg: "RS256", kid: "rsa-1" })
      .setSubject("r")
      .sign(rsa.privateKey);
    expect(expectContinue(await jwks.check(bearer(rs))).forwardHeaders).toEqual([["x-auth-subject", "r"]]);
    const es = await new SignJWT({})
      .setProtectedHeader({ alg: "ES256", kid: "ec-1" })
      .setSubject("e")
      .sign(ec.privateKey);
    expect(expectContinue(await jwks.check(bearer(es))).forwardHeaders).toEqual([["x-auth-subject", "e"]]);
  });

  it("policies - jwt refuses a token signed with a key that is not in the JWKS", async () => {
    const jwks = jwtAuth({ jwks: jwksPath });
    const stranger = await generateKeyPair("RS256");
    for (const kid of ["rsa-1", "unknown", undefined]) {
      const token = await new SignJWT({})
        .setProtectedHeader(kid === undefined ? { alg: "RS256" } : { alg: "RS256", kid })
        .sign(stranger.privateKey);
      const d = expectRespond(await jwks.check(bearer(token)), 401);
      expect(header(d.headers, "WWW-Authenticate")).toMatch(/^Bearer error="invalid_token"/);
    }
    // An HMAC token cannot pass against a JWKS (algorithm confusion).
    expectRespond(await jwks.check(bearer(await hs256())), 401);
  });

  it("policies - jwt JWKS file problems are configuration errors", async () => {
    const write = (name: string, text: string) => {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    };
    const missing = join(dir, "missing.json");
    expect(configError(() => jwtAuth({ jwks: missing })).message).toBe(
      `jwtAuth(): jwks cannot load ${missing} (ENOENT)`,
    );
    expect(configError(() => jwtAuth({ jwks: write("bad.json", "{") })).message).toMatch(
      /^jwtAuth\(\): jwks cannot load .*bad\.json \(/,
    );
    expect(configError(() => jwtAuth({ jwks: write("empty.json", '{"keys":[]}') })).message).toContain(
      "must hold a JWKS with at least one key",
    );
    const privateJwk = {
      ...(await exportJWK((await generateKeyPair("ES256", { extractable: true })).privateKey)),
    };
    expect(
      configError(() => jwtAuth({ jwks: write("private.json", JSON.stringify({ keys: [privateJwk] })) }))
        .message,
    ).toContain("keys[0] holds private key material");
    const broken = { kty: "EC", crv: "P-256", x: "AAAA", y: "AAAA" };
    expect(
      configError(() => jwtAuth({ jwks: write("broken.json", JSON.stringify({ keys: [broken] })) })).message,
    ).toContain("keys[0] is not a valid public key");
    const weak = { kty: "RSA", n: "AQAB", e: "AQAB" };
    expect(
      configError(() => jwtAuth({ jwks: write("weak.json", JSON.stringify({ keys: [weak] })) })).message,
    ).toContain("keys[0] is an RSA key of 17 bits (at least 2048 needed)");
    const symmetric = { kty: "oct", k: "c2VjcmV0" };
    expect(
      configError(() => jwtAuth({ jwks: write("oct.json", JSON.stringify({ keys: [symmetric] })) })).message,
    ).toContain("keys[0] is a symmetric key");
  });
});

describe("policies - auth hook", () => {
  it("policies - auth hook decisions are used as they are", async () => {
    const pass = authHook((req) => ({
      action: "continue",
      forwardHeaders: [["x-auth-subject", req.clientIp]],
    }));
    expect(await pass.check(request())).toEqual({
      action: "continue",
      forwardHeaders: [["x-auth-subject", "203.0.113.7"]],
    });
    const deny = authHook(async () => ({
      action: "respond",
      status: 403,
      message: "nope",
      code: "APP_FORBIDDEN",
    }));
    expect(await deny.check(request())).toEqual({
      action: "respond",
      status: 403,
      message: "nope",
      code: "APP_FORBIDDEN",
    });
    expect(pass.name).toBe("auth");
  });

  it("policies - auth hook failures become a 500 that reveals nothing", async () => {
    expect.assertions(7);
    const reported: unknown[] = [];
    const onError = (err: unknown, req: PolicyRequest) => {
      reported.push(err);
      expect(req.route).toBe("api");
    };
    const hooks = [
      authHook(
        () => {
          throw new Error("db password is hunter2");
        },
        { onError },
      ),
      authHook(async () => Promise.reject(new Error("timeout")), { onError }),
      authHook(async () => ({ action: "maybe" }) as unknown as PolicyDecision, { onError }),
    ];
    for (const hook of hooks) {
      const d = await hook.check(request());
      expect(d).toEqual({
        action: "respond",
        status: 500,
        message: AUTH_HOOK_FAILED,
        code: "NM_ERR_HANDLER",
      });
    }
    expect(reported.map((e) => (e as Error).message)).toEqual([
      "db password is hunter2",
      "timeout",
      "the auth hook returned no policy decision (got object)",
    ]);
  });
});

describe("policies - buildPolicies", () => {
  const hook = async (): Promise<PolicyDecision> => ({ action: "continue" });

  it("policies - buildPolicies orders cors, auth, rate limit", async () => {
    const policies = buildPolicies(
      {
        rateLimit: { requests: 1, per: "minute" },
        auth: { hook: true },
        cors: { origins: [APP] },
      },
      WHERE,
      { auth: hook },
    );
    expect(policies.map((p) => p.name)).toEqual(["cors", "auth", "rate-limit"]);
    // A preflight is answered by the first policy: neither authenticated nor counted.
    const first = policies[0] as Policy;
    expectRespond(await first.check(preflight(APP, "GET")), 204);
    expect(buildPolicies({}, WHERE)).toEqual([]);
    expect(buildPolicies({ cors: false, auth: false, rateLimit: false }, WHERE)).toEqual([]);
    const jwt = buildPolicies({ auth: { secret: SECRET }, rateLimit: { requests: 5, per: 1000 } }, WHERE);
    expect(jwt.map((p) => p.name)).toEqual(["auth", "rate-limit"]);
  });

  it("policies - buildPolicies resolves a relative JWKS path against baseDir", async () => {
    const dir = mkdtempSync(join(tmpdir(), "natsmesh-policies-"));
    try {
      const { publicKey } = await generateKeyPair("ES256");
      writeFileSync(join(dir, "keys.json"), JSON.stringify({ keys: [await exportJWK(publicKey)] }));
      expect(buildPolicies({ auth: { jwks: "keys.json" } }, WHERE, { baseDir: dir })).toHaveLength(1);
      expect(configError(() => buildPolicies({ auth: { jwks: "keys.json" } }, WHERE)).field).toBe(
        "auth.jwks",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("policies - buildPolicies errors name the place and the field", () => {
    const cases: Array<[config: Record<string, unknown>, message: string]> = [
      [
        { rateLimit: { requests: 0, per: "second" } },
        "rateLimit.requests must be a positive integer (got 0)",
      ],
      [
        { rateLimit: { requests: 1.5, per: "second" } },
        "rateLimit.requests must be a positive integer (got 1.5)",
      ],
      [
        { rateLimit: { requests: 1, per: "hour" } },
        'rateLimit.per must be "second", "minute" or a positive number of milliseconds (got "hour")',
      ],
      [
        { rateLimit: { requests: 1, per: "second", burst: -1 } },
        "rateLimit.burst must be a positive integer (got -1)",
      ],
      [
        { rateLimit: { requests: 1, per: "second", key: "cookie" } },
        'rateLimit.key must be "ip", "route" or "header:<name>" (got "cookie")',
      ],
      [
        { rateLimit: { requests: 1, per: "second", key: "header:" } },
        "rateLimit.key must be a valid header name after 'header:' (got \"\")",
      ],
      [
        { rateLimit: { request: 1, per: "second" } },
        "rateLimit has unknown field 'request' (known: requests, per, burst, key, maxKeys)",
      ],
      [
        { rateLimit: { requests: 1, per: "second", now: 5 } },
        "rateLimit has unknown field 'now' (known: requests, per, burst, key, maxKeys)",
      ],
      [{ rateLimit: [] }, "rateLimit must be a mapping (got a list)"],
      [{ cors: null }, "cors must be a mapping (got nothing)"],
      [{ cors: {} }, "cors.origins must be a non-empty list of strings (got nothing)"],
      [
        { cors: { origins: [APP, "https://b.example/"] } },
        'cors.origins[1] must be an origin like https://app.example.com: scheme://host[:port], no path, no trailing slash, no default port (got "https://b.example/")',
      ],
      [{ cors: { origins: [APP, "*"] } }, 'cors.origins[1] cannot be "*" inside a list: write origins: "*"'],
      [{ cors: { origins: "*", maxAge: -1 } }, "cors.maxAge must be a non-negative integer (got -1)"],
      [{ cors: { origins: "*", credentials: "yes" } }, 'cors.credentials must be true or false (got "yes")'],
      [
        { cors: { origins: "*", methods: ["GET", "BAD METHOD"] } },
        'cors.methods[1] must be a valid method (got "BAD METHOD")',
      ],
      [
        { cors: { origins: "*", credentials: true, exposeHeaders: ["*"] } },
        'cors.exposeHeaders cannot be "*" with credentials: browsers read it literally; list the headers',
      ],
      [{ auth: {} }, "auth needs hook: true or one of secret, secretEnv, jwks"],
      [
        { auth: { secret: SECRET, jwks: "keys.json" } },
        "auth needs exactly one of secret, secretEnv, jwks (got secret and jwks)",
      ],
      [{ auth: { secret: "short" } }, "auth.secret must be at least 32 bytes long (RFC 7518 §3.2)"],
      [
        { auth: { secretEnv: "NATSMESH_TEST_UNSET_VARIABLE" } },
        "auth.secretEnv names NATSMESH_TEST_UNSET_VARIABLE, which is not set",
      ],
      [
        { auth: { secret: SECRET, algorithms: ["none"] } },
        'auth.algorithms[0] must be one of HS256, HS384, HS512 with a shared secret (got "none")',
      ],
      [{ auth: { secret: SECRET, issuer: "" } }, 'auth.issuer must be a non-empty string (got "")'],
      [
        { auth: { secret: SECRET, clockTolerance: "5s" } },
        'auth.clockTolerance must be a non-negative integer (got "5s")',
      ],
      [
        { auth: { secret: SECRET, forwardClaims: { sub: "authorization" } } },
        "auth.forwardClaims.sub cannot forward to 'authorization': the header is reserved",
      ],
      [
        { auth: { secret: SECRET, forwardClaims: { sub: "mesh-service" } } },
        "auth.forwardClaims.sub cannot forward to 'mesh-service': the header is reserved",
      ],
      [
        { auth: { secret: SECRET, forwardClaims: { sub: "x-who", email: "X-Who" } } },
        "auth.forwardClaims.email forwards to 'x-who', which another claim already uses",
      ],
      [
        { auth: { secret: SECRET, forwardClaims: { sub: "bad header" } } },
        'auth.forwardClaims.sub must be a valid header name (got "bad header")',
      ],
      [
        { auth: { secret: SECRET, user: "x" } },
        "auth has unknown field 'user' (known: hook, secret, secretEnv, jwks, issuer, audience, algorithms, forwardClaims, clockTolerance)",
      ],
      [
        { auth: { hook: true } },
        "auth.hook is true but no auth hook was given to the gateway (options.auth)",
      ],
      [{ auth: { hook: "yes" } }, "auth.hook must be true (omit auth for no authentication)"],
    ];
    for (const [config, message] of cases) {
      const err = configError(() => buildPolicies(config, WHERE));
      expect(err.message).toBe(`${WHERE}: ${message}`);
      expect(err.where).toBe(WHERE);
      expect(err.code).toBe("NM_ERR_GATEWAY_CONFIG");
      expect(err.status).toBe(500);
    }
    const combined = configError(() =>
      buildPolicies({ auth: { hook: true, secret: SECRET } }, WHERE, { auth: hook }),
    );
    expect(combined.message).toBe(`${WHERE}: auth.secret cannot be combined with hook: true`);
  });

  it("policies - buildPolicies never puts a secret in an error message", () => {
    const secret = "short-but-very-secret";
    const err = configError(() => buildPolicies({ auth: { secret, algorithms: ["RS256"] } }, WHERE));
    expect(err.message).not.toContain(secret);
    expect(configError(() => buildPolicies({ auth: { secret: 42 } }, WHERE)).message).toBe(
      `${WHERE}: auth.secret must be a string`,
    );
  });

  it("policies - factories called directly report themselves as the place", () => {
    expect(configError(() => rateLimit({ requests: 0, per: "second" })).message).toBe(
      "rateLimit(): requests must be a positive integer (got 0)",
    );
    expect(configError(() => cors({ origins: [] })).message).toBe(
      "cors(): origins must be a non-empty list of strings (got a list)",
    );
    expect(configError(() => jwtAuth({})).message).toBe(
      "jwtAuth(): options needs exactly one of secret, secretEnv, jwks (got none)",
    );
    expect(configError(() => authHook(undefined as unknown as () => PolicyDecision)).message).toBe(
      "authHook(): hook must be a function",
    );
  });
});
