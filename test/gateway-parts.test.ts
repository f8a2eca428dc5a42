/**
 * The gateway's pure parts, without sockets: the retry loop, routing, request checks, forwarded
 * headers and configuration errors.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readConfigFile } from "../src/gateway/config/config-file.js";
import { resolveConfig } from "../src/gateway/config/resolve-config.js";
import { parseSize } from "../src/gateway/config/size.js";
import { forwardHeaders } from "../src/gateway/front-door/forward-headers.js";
import { checkRequestLine } from "../src/gateway/front-door/request-target.js";
import { Router } from "../src/gateway/front-door/router.js";
import { TrustedProxies } from "../src/gateway/front-door/trusted-proxies.js";
import { createGateway, GatewayConfigError, PolicyConfigError } from "../src/gateway/index.js";
import { ConnectionClosedError, NoRespondersError, TimeoutError } from "../src/protocol/index.js";
import { isIdempotent } from "../src/traffic/idempotency.js";
import { backoffDelay, type RetryEvent, withRetry } from "../src/traffic/retry.js";
import { REPO_ROOT } from "./support/nats-server.js";

const target = { service: "svc", subject: "mesh.svc.get" };
const POLICY = { attempts: 4, backoffMs: 100, maxBackoffMs: 300 };

/** A fake clock whose sleep advances time instead of waiting. */
function fakeTime() {
  let now = 0;
  const slept: number[] = [];
  return {
    now: () => now,
    sleep: async (ms: number) => {
      slept.push(ms);
      now += ms;
    },
    slept,
  };
}

describe("gateway - retry loop", () => {
  it("gateway - retries retryable errors with jittered exponential backoff until one succeeds", async () => {
    const time = fakeTime();
    const events: RetryEvent[] = [];
    let calls = 0;
    const result = await withRetry(
      async (n) => {
        calls++;
        if (n < 3) throw new NoRespondersError(target);
        return `ok on ${n}`;
      },
      {
        policy: POLICY,
        retryable: (err) => err instanceof NoRespondersError,
        now: time.now,
        sleep: time.sleep,
        random: () => 0.5,
        onRetry: (e) => {
          events.push(e);
        },
      },
    );
    expect(result).toBe("ok on 3");
    expect(calls).toBe(3);
    // equal jitter: half the step plus half of it times random (0.5): 75, then 150
    expect(time.slept).toEqual([75, 150]);
    expect(events.map((e) => [e.attempt, e.delayMs])).toEqual([
      [1, 75],
      [2, 150],
    ]);
  });

  it("gateway - a first attempt made outside the loop counts as attempt 1: the loop goes on from 2", async () => {
    const time = fakeTime();
    const seen: number[] = [];
    const result = await withRetry(
      async (n) => {
        seen.push(n);
        if (n < 3) throw new NoRespondersError(target);
        return `ok on ${n}`;
      },
      { policy: POLICY, retryable: (err) => err instanceof NoRespondersError, random: () => 0.5, ...time },
      { error: new NoRespondersError(target) },
    );
    expect(result).toBe("ok on 3");
    expect(seen).toEqual([2, 3]);
    expect(time.slept).toEqual([75, 150]);
    // A first failure that may not be retried is thrown as it is, with no attempt made.
    const fatal = new TimeoutError(target, 10);
    seen.length = 0;
    await expect(
      withRetry(
        async (n) => `never ${seen.push(n)}`,
        { policy: POLICY, retryable: () => false, ...time },
        { error: fatal },
      ),
    ).rejects.toBe(fatal);
    expect(seen).toEqual([]);
  });

  it("gateway - a backoff that wakes past the deadline (a busy event loop) starts no attempt", async () => {
    const time = fakeTime();
    let calls = 0;
    const last = new NoRespondersError(target);
    await expect(
      withRetry(
        async () => {
          calls++;
          throw last;
        },
        {
          policy: POLICY,
          retryable: () => true,
          random: () => 0.5,
          deadline: 100,
          now: time.now,
          // The first backoff (75 ms) fits the deadline, but the loop wakes 50 ms late.
          sleep: async (ms: number) => {
            await time.sleep(ms + 50);
          },
        },
      ),
    ).rejects.toBe(last);
    expect(calls).toBe(1);
  });

  it("gateway - a non-retryable error is thrown at once, the last error once attempts run out", async () => {
    const time = fakeTime();
    const timeout = new TimeoutError(target, 10);
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw timeout;
        },
        { policy: POLICY, retryable: (e) => e instanceof NoRespondersError, ...time },
      ),
    ).rejects.toBe(timeout);
    expect(calls).toBe(1);

    calls = 0;
    await expect(
      withRetry(
        async (n) => {
          calls++;
          throw new ConnectionClosedError({ ...target, service: `svc${n}` });
        },
        { policy: POLICY, retryable: () => true, ...time },
      ),
    ).rejects.toMatchObject({ service: "svc4" });
    expect(calls).toBe(4);
  });

  it("gateway - no retry starts when its backoff would end past the deadline", async () => {
    const time = fakeTime();
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new NoRespondersError(target);
        },
        { policy: POLICY, retryable: () => true, deadline: 200, random: () => 0.99, ...time },
      ),
    ).rejects.toBeInstanceOf(NoRespondersError);
    // first backoff ≈ 100 (ends at 100 < 200), second ≈ 199 (would end at 299 ≥ 200)
    expect(calls).toBe(2);
    expect(time.slept).toHaveLength(1);
  });

  it("gateway - backoff stays within [step/2, step] and is capped by maxBackoffMs", () => {
    for (let retry = 1; retry <= 6; retry++) {
      const step = Math.min(300, 100 * 2 ** (retry - 1));
      expect(backoffDelay(retry, POLICY, () => 0)).toBe(step / 2);
      expect(backoffDelay(retry, POLICY, () => 0.999999)).toBe(step);
    }
  });

  it("gateway - idempotent requests: GET, HEAD, OPTIONS, PUT, DELETE, or any with an Idempotency-Key", () => {
    for (const m of ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"])
      expect(isIdempotent(m, undefined)).toBe(true);
    expect(isIdempotent("POST", undefined)).toBe(false);
    expect(isIdempotent("PATCH", "")).toBe(false);
    expect(isIdempotent("POST", "order-1")).toBe(true);
  });
});

describe("gateway - routing and request checks", () => {
  const config = resolveConfig(
    {
      routes: [
        { name: "api", prefix: "/api", service: "api" },
        { name: "billing", prefix: "/api/billing/", strip: true, service: "billing" },
        { name: "docs", host: "docs.example.com", service: "docs" },
        { name: "any", host: "*.example.com", prefix: "/", service: "wild" },
      ],
    },
    { source: "test", baseDir: "." },
  );
  const router = new Router(config.routes, config.fallback);
  const match = (host: string | undefined, path: string) => {
    const m = router.match(host, path);
    return m && [m.route.name, m.service, m.path];
  };

  it("gateway - exact host, then wildcard host, then longest prefix, then the default rule", () => {
    expect(match("docs.example.com", "/api/x")).toEqual(["docs", "docs", "/api/x"]);
    expect(match("a.example.com", "/api/x")).toEqual(["any", "wild", "/api/x"]);
    expect(match(undefined, "/api/billing/invoices?p=2")).toEqual(["billing", "billing", "/invoices?p=2"]);
    expect(match(undefined, "/api/billing?p=2")).toEqual(["billing", "billing", "/?p=2"]);
    expect(match(undefined, "/api/billingx")).toEqual(["api", "api", "/api/billingx"]);
    expect(match(undefined, "/weather/city?q=x")).toEqual(["default", "weather", "/city?q=x"]);
    expect(match(undefined, "/weather")).toEqual(["default", "weather", "/"]);
    expect(match(undefined, "/Not%20A%20Service/x")).toBeUndefined();
  });

  it("gateway - request lines the wire cannot carry, or that could bypass a prefix, are refused", () => {
    expect(checkRequestLine("GET", "/a/b?q=z%C3%BC")).toBe("/a/b?q=z%C3%BC");
    expect(() => checkRequestLine("GET", "/a%zz")).toThrow(/percent-encoding/);
    expect(() => checkRequestLine("GET", "/api/../admin")).toThrow(/segments/);
    expect(() => checkRequestLine("GET", "/api/%2e%2E/admin")).toThrow(/segments/);
    expect(() => checkRequestLine("GET", "*")).toThrow(/path/);
    expect(() => checkRequestLine("GET", "/é")).toThrow(/printable ASCII/);
    expect(() => checkRequestLine("GE.T", "/")).toThrow(/method/);
  });

  it("gateway - forwarded headers: hop-by-hop, Connection-named, pseudo and mesh-* dropped; X-Forwarded-* set", () => {
    const raw = [
      ":authority",
      "gw.example.com",
      "Connection",
      "keep-alive, X-Secret-Hop",
      "X-Secret-Hop",
      "1",
      "Keep-Alive",
      "timeout=5",
      "Mesh-Instance",
      "forged",
      "X-Forwarded-For",
      "6.6.6.6",
      "Accept",
      "text/plain",
    ];
    const base = {
      rawHeaders: raw,
      peer: "10.0.0.2",
      scheme: "https",
      host: "gw.example.com",
      requestId: "id-1",
    };
    const untrusted = forwardHeaders({ ...base, trusted: false, bodyLength: 3, policyHeaders: [] });
    expect(untrusted).toEqual([
      "Accept",
      "text/plain",
      "host",
      "gw.example.com",
      "x-forwarded-for",
      "10.0.0.2",
      "x-forwarded-proto",
      "https",
      "x-forwarded-host",
      "gw.example.com",
      "x-request-id",
      "id-1",
      "content-length",
      "3",
    ]);
    const trusted = forwardHeaders({
      ...base,
      trusted: true,
      bodyLength: 0,
      policyHeaders: [["accept", "x/y"]],
    });
    expect(trusted).toContain("6.6.6.6, 10.0.0.2");
    expect(trusted.filter((h) => h.toLowerCase() === "accept")).toEqual(["accept"]); // replaced by the policy's
  });

  it("gateway - the client IP is the right-most untrusted X-Forwarded-For hop, from trusted peers only", () => {
    const trusted = new TrustedProxies(["10.0.0.0/8", "::1"]);
    expect(trusted.clientIp("203.0.113.9", ["1.1.1.1"])).toBe("203.0.113.9");
    expect(trusted.clientIp("10.0.0.2", ["6.6.6.6, 203.0.113.7", "10.1.1.1"])).toBe("203.0.113.7");
    expect(trusted.clientIp("::1", ["not-an-ip, 10.2.2.2"])).toBe("10.2.2.2");
    expect(trusted.has("::ffff:10.0.0.1")).toBe(true);
  });

  it("gateway - sizes accept bytes and kb/mb strings", () => {
    expect(parseSize(65_536)).toBe(65_536);
    expect(parseSize("64kb")).toBe(65_536);
    expect(parseSize("1MB")).toBe(1_048_576);
    expect(parseSize("1.5k")).toBe(1536);
    expect(parseSize("lots")).toBeUndefined();
    expect(parseSize(-1)).toBeUndefined();
  });
});

describe("gateway - configuration errors", () => {
  const bad = (config: unknown) => () => resolveConfig(config, { source: "gateway.yaml", baseDir: "." });

  it("gateway - each problem names the source, the route (index and name) and what is wrong", () => {
    const routes = [
      { prefix: "/a", service: "a" },
      { prefix: "/b", service: "b" },
      { name: "billing", prefix: "/billing", service: "Bad Name" },
    ];
    expect(bad({ routes })).toThrow(
      /^gateway\.yaml: routes\[2\] \(name 'billing'\): service 'Bad Name' is not a valid service name/,
    );
    expect(bad({ routes: [{ prefix: "/a", service: "a", timout: 5 }] })).toThrow(
      "gateway.yaml: routes[0]: has unknown field 'timout'",
    );
    expect(bad({ routes: [{ name: "x", service: "a" }] })).toThrow(
      "gateway.yaml: routes[0] (name 'x'): needs a 'prefix' or a 'host'",
    );
    expect(bad({ routes: [{ name: "x", prefix: "/a", service: "a", maxBody: "big" }] })).toThrow(
      "gateway.yaml: routes[0] (name 'x'): maxBody must be a size",
    );
    expect(bad({ routes: [{ name: "x", prefix: "/a", service: "a", retry: { attempts: 0 } }] })).toThrow(
      "gateway.yaml: routes[0] (name 'x'): retry.attempts must be a whole number ≥ 1 (got 0)",
    );
    expect(bad({ routes: [routes[0], { ...routes[1], name: "/a" }] })).toThrow(
      /routes\[1\] \(name '\/a'\): name '\/a' is already used/,
    );
    expect(bad({ limits: { maxConnections: 0 } })).toThrow(
      "gateway.yaml: limits.maxConnections must be a whole number ≥ 1",
    );
    expect(bad({ trustedProxies: ["10.0.0.0/33"] })).toThrow(
      "gateway.yaml: trustedProxies[0] must be an IP address or CIDR",
    );
    expect(bad({ listen: "nowhere" })).toThrow("gateway.yaml: listen must be HOST:PORT");
    expect(bad({ rotes: [] })).toThrow("gateway.yaml: has unknown field 'rotes'");
  });

  it("gateway - a bad policy block is reported at its route, by buildPolicies", () => {
    const config = {
      routes: [{ name: "api", prefix: "/api", service: "api", rateLimit: { requests: 0, per: "second" } }],
    };
    expect(bad(config)).toThrow(PolicyConfigError);
    expect(bad(config)).toThrow(/^gateway\.yaml: routes\[0\] \(name 'api'\): rateLimit\.requests/);
  });

  it("gateway - createGateway reads the file and reports syntax and content errors with the file name", async () => {
    const dir = await mkdtemp(join(tmpdir(), "natsmesh-test-gwcfg-"));
    try {
      const file = join(dir, "gateway.yaml");
      await writeFile(file, "routes:\n  - name: billing\n    prefix: /billing\n    service: Bad Name\n");
      expect(() => createGateway({ configFile: file })).toThrow(
        `${file}: routes[0] (name 'billing'): service 'Bad Name' is not a valid service name`,
      );
      await writeFile(file, "routes:\n  - name: a\n   prefix: /x\n");
      expect(() => createGateway({ configFile: file })).toThrow(
        new RegExp(`^${file}: line 3, column \\d+: `),
      );
      expect(() => createGateway({ configFile: join(dir, "missing.yaml") })).toThrow(GatewayConfigError);
      expect(() => createGateway({ configFile: join(dir, "missing.yaml") })).toThrow(
        /cannot read the file \(ENOENT\)/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("gateway - example configuration", () => {
  it("gateway - examples/gateway.yaml is a valid configuration", () => {
    const saved = process.env.BILLING_JWT_SECRET;
    process.env.BILLING_JWT_SECRET = "an example secret of at least 32 bytes!";
    try {
      const raw = readConfigFile(join(REPO_ROOT, "examples", "gateway.yaml"));
      const config = resolveConfig(raw, {
        source: "examples/gateway.yaml",
        baseDir: join(REPO_ROOT, "examples"),
      });
      expect(config.routes.map((r) => [r.name, r.service, r.policies.map((p) => p.name)])).toEqual([
        ["billing", "billing", ["cors", "auth", "rate-limit"]],
        ["weather", "weather", []],
        ["docs", "docs", ["cors"]],
      ]);
      expect(config.admin).toEqual({ host: "127.0.0.1", port: 9090 });
    } finally {
      if (saved === undefined) delete process.env.BILLING_JWT_SECRET;
      else process.env.BILLING_JWT_SECRET = saved;
    }
  });
});
