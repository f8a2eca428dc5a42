/** The traffic module's pure parts: circuit breaker, call guard (retry + breaker), mappings builder. */

import { Registry } from "prom-client";
import { describe, expect, it, vi } from "vitest";
import { CallGuard } from "../src/internal.js";
import {
  ConnectionClosedError,
  InstanceLostError,
  MeshError,
  NoRespondersError,
  TimeoutError,
  type WireResponse,
} from "../src/protocol/index.js";
import {
  CircuitBreaker,
  CircuitOpenError,
  CircuitState,
  canaryMapping,
  MappingError,
  mergeMappingsFile,
} from "../src/traffic/index.js";

const target = { service: "weather", subject: "mesh.weather.get" };
const ok: WireResponse = { status: 200, statusText: "", headers: [], body: new Uint8Array(0) };
const answer = (status: number): WireResponse => ({ ...ok, status });

function clocked(options: ConstructorParameters<typeof CircuitBreaker>[0] = {}) {
  const clock = { t: 1_000 };
  const states: CircuitState[] = [];
  const breaker = new CircuitBreaker({
    failureRatio: 0.5,
    minimumCalls: 4,
    windowMs: 1000,
    openMs: 500,
    ...options,
    now: () => clock.t,
    onStateChange: (s) => states.push(s),
  });
  const run = (okay: boolean) => {
    const permit = breaker.acquire();
    if (!permit) return false;
    if (okay) permit.success();
    else permit.failure();
    return true;
  };
  return { clock, states, breaker, run };
}

describe("breaker - circuit breaker state machine (injected clock)", () => {
  it("breaker - stays closed below the minimum number of calls, opens once the failure ratio is reached", () => {
    const { breaker, run, states } = clocked();
    expect(run(false)).toBe(true);
    expect(run(false)).toBe(true);
    expect(run(false)).toBe(true);
    expect(breaker.state).toBe(CircuitState.Closed); // 3 calls < minimum 4
    expect(run(true)).toBe(true);
    expect(breaker.state).toBe(CircuitState.Closed); // the ratio is checked when a failure comes
    expect(run(false)).toBe(true); // 4 of 5 failed
    expect(breaker.state).toBe(CircuitState.Open);
    expect(states).toEqual([CircuitState.Open]);
  });

  it("breaker - a ratio below the threshold keeps it closed", () => {
    const { breaker, run } = clocked();
    for (let i = 0; i < 20; i++) run(i % 3 !== 2); // every third fails
    expect(breaker.state).toBe(CircuitState.Closed);
  });

  it("breaker - open fails fast until the pause is over, then lets one probe through; a good probe closes it", () => {
    const { breaker, run, clock, states } = clocked();
    for (let i = 0; i < 4; i++) run(false);
    expect(breaker.acquire()).toBeUndefined();
    clock.t += 200;
    expect(breaker.retryAfter()).toBe(300);
    clock.t += 300;
    expect(breaker.state).toBe(CircuitState.HalfOpen);
    const probe = breaker.acquire();
    expect(probe).toBeDefined();
    expect(breaker.acquire()).toBeUndefined(); // one probe at a time
    probe!.success();
    expect(breaker.state).toBe(CircuitState.Closed);
    expect(states).toEqual([CircuitState.Open, CircuitState.HalfOpen, CircuitState.Closed]);
    // The window starts afresh: one failure does not reopen it.
    run(false);
    expect(breaker.state).toBe(CircuitState.Closed);
  });

  it("breaker - a failed probe opens it again for a whole pause; a released probe frees its slot", () => {
    const { breaker, run, clock } = clocked({ probes: 1 });
    for (let i = 0; i < 4; i++) run(false);
    clock.t += 500;
    const released = breaker.acquire();
    released!.release();
    expect(breaker.state).toBe(CircuitState.HalfOpen);
    breaker.acquire()!.failure();
    expect(breaker.state).toBe(CircuitState.Open);
    clock.t += 499;
    expect(breaker.acquire()).toBeUndefined();
    clock.t += 1;
    expect(breaker.acquire()).toBeDefined();
  });

  it("breaker - failures slide out of the window; outcomes of calls started before a state change are ignored", () => {
    const { breaker, run, clock } = clocked();
    run(false);
    run(false);
    run(false);
    clock.t += 1000; // the window moved past them
    run(false);
    run(true);
    run(true);
    run(true);
    expect(breaker.state).toBe(CircuitState.Closed);
    const late = breaker.acquire()!;
    for (let i = 0; i < 4; i++) run(false);
    expect(breaker.state).toBe(CircuitState.Open);
    clock.t += 500;
    expect(breaker.state).toBe(CircuitState.HalfOpen);
    late.success(); // started while closed: says nothing about the probe
    expect(breaker.state).toBe(CircuitState.HalfOpen);
  });

  it("breaker - refuses impossible settings", () => {
    expect(() => new CircuitBreaker({ failureRatio: 0 })).toThrow(RangeError);
    expect(() => new CircuitBreaker({ openMs: -1 })).toThrow(RangeError);
  });
});

describe("guard - retry policy and breakers around a call", () => {
  const failing = (errors: unknown[]) => {
    let calls = 0;
    const attempt = async (_timeout: number) => {
      const err = errors[calls++];
      if (err === undefined) return ok;
      throw err;
    };
    return { attempt, calls: () => calls };
  };
  const get = { method: "GET", path: "/", headers: [], body: new Uint8Array(0) };
  const post = { ...get, method: "POST" };

  it("guard - retries idempotent requests on no responders and lost connections, up to the attempts", async () => {
    const guard = new CallGuard({ retry: { backoffMs: 1, maxBackoffMs: 1 } });
    const a = failing([new NoRespondersError(target), new ConnectionClosedError(target)]);
    await expect(guard.run("weather", get, 1000, undefined, a.attempt)).resolves.toBe(ok);
    expect(a.calls()).toBe(3);
    // A service this guard was never served by: no responders fails after the attempts.
    const b = failing([1, 2, 3].map(() => new NoRespondersError(target)));
    await expect(guard.run("unseen", get, 1000, undefined, b.attempt)).rejects.toBeInstanceOf(
      NoRespondersError,
    );
    expect(b.calls()).toBe(3);
  });

  it("guard - no responders for a service that answered lately is retried until the deadline, not the attempts", async () => {
    const guard = new CallGuard({ retry: { backoffMs: 1, maxBackoffMs: 2 } });
    await guard.run("busy", get, 1000, undefined, async () => ok);
    // Every instance stepped out (saturated): ten no-responders, then one has capacity again.
    const a = failing(Array.from({ length: 10 }, () => new NoRespondersError(target)));
    await expect(guard.run("busy", get, 5000, undefined, a.attempt)).resolves.toBe(ok);
    expect(a.calls()).toBe(11);
    // The deadline still ends the wait: 503 once it has passed. The guard's clock is faked (its
    // backoffs still sleep) and each attempt takes 20 ms of it: no attempt starts past the deadline.
    const b = failing(Array.from({ length: 100_000 }, () => new NoRespondersError(target)));
    vi.useFakeTimers({ toFake: ["performance"] });
    try {
      const started = performance.now();
      const startedAt: number[] = [];
      const slow = (t: number) => {
        startedAt.push(performance.now() - started);
        vi.advanceTimersByTime(20);
        return b.attempt(t);
      };
      await expect(guard.run("busy", get, 150, undefined, slow)).rejects.toBeInstanceOf(NoRespondersError);
      expect(b.calls()).toBeGreaterThan(3);
      for (const at of startedAt) expect(at).toBeLessThan(150);
    } finally {
      vi.useRealTimers();
    }
    // A POST is still sent once.
    const c = failing([new NoRespondersError(target)]);
    await expect(guard.run("busy", post, 1000, undefined, c.attempt)).rejects.toBeInstanceOf(
      NoRespondersError,
    );
    expect(c.calls()).toBe(1);
  });

  it("guard - a request whose instance went silent (NM_ERR_INSTANCE_LOST, the streaming heartbeats) is retried", async () => {
    const lost = new InstanceLostError(target, 2000);
    const a = failing([lost]);
    await expect(
      new CallGuard({ retry: { backoffMs: 1 } }).run("weather", get, 1000, undefined, a.attempt),
    ).resolves.toBe(ok);
    expect(a.calls()).toBe(2);
    const b = failing([new MeshError("NM_ERR_HANDLER", 500, "handler failed", target)]);
    await expect(
      new CallGuard({ retry: { backoffMs: 1 } }).run("weather", get, 1000, undefined, b.attempt),
    ).rejects.toThrow("handler failed");
    expect(b.calls()).toBe(1);
  });

  it("guard - a POST is sent once; with an Idempotency-Key or allMethods it is retried", async () => {
    const guard = new CallGuard({ retry: { backoffMs: 1 } });
    const a = failing([new NoRespondersError(target)]);
    await expect(guard.run("weather", post, 1000, undefined, a.attempt)).rejects.toBeInstanceOf(
      NoRespondersError,
    );
    expect(a.calls()).toBe(1);
    const b = failing([new NoRespondersError(target)]);
    const keyed = { ...post, headers: ["Idempotency-Key", "order-1"] };
    await expect(guard.run("weather", keyed, 1000, undefined, b.attempt)).resolves.toBe(ok);
    const all = new CallGuard({ retry: { backoffMs: 1, allMethods: true } });
    const c = failing([new NoRespondersError(target)]);
    await expect(all.run("weather", post, 1000, undefined, c.attempt)).resolves.toBe(ok);
    await expect(
      new CallGuard({ retry: false }).run(
        "weather",
        get,
        1000,
        undefined,
        failing([new NoRespondersError(target)]).attempt,
      ),
    ).rejects.toBeInstanceOf(NoRespondersError);
  });

  it("guard - timeouts are retried only with attemptTimeout, which also bounds each attempt", async () => {
    const plain = failing([new TimeoutError(target, 100)]);
    await expect(
      new CallGuard({ retry: { backoffMs: 1 } }).run("weather", get, 1000, undefined, plain.attempt),
    ).rejects.toBeInstanceOf(TimeoutError);
    expect(plain.calls()).toBe(1);
    const timeouts: number[] = [];
    const per = failing([new TimeoutError(target, 50)]);
    const guard = new CallGuard({ retry: { backoffMs: 1, attemptTimeout: 50 } });
    await expect(
      guard.run("weather", get, 1000, undefined, (t) => {
        timeouts.push(t);
        return per.attempt(t);
      }),
    ).resolves.toBe(ok);
    expect(timeouts).toEqual([50, 50]);
  });

  it("guard - no retry starts past the overall deadline; each attempt gets what is left of it", async () => {
    const guard = new CallGuard({ retry: { attempts: 10, backoffMs: 40, maxBackoffMs: 40 } });
    const timeouts: number[] = [];
    const startedAt: number[] = [];
    const a = failing(Array.from({ length: 10 }, () => new NoRespondersError(target)));
    // The guard's clock is faked (its backoffs still sleep) and each attempt takes 25 ms of it, so
    // what the guard sees does not depend on how busy the machine is.
    vi.useFakeTimers({ toFake: ["performance"] });
    try {
      const started = performance.now();
      await expect(
        guard.run("weather", get, 100, undefined, (t) => {
          timeouts.push(t);
          startedAt.push(performance.now() - started);
          vi.advanceTimersByTime(25);
          return a.attempt(t);
        }),
      ).rejects.toBeInstanceOf(NoRespondersError);
    } finally {
      vi.useRealTimers();
    }
    expect(a.calls()).toBeGreaterThanOrEqual(3); // attempts at 0, 25 and 50 ms of the 100
    expect(a.calls()).toBeLessThan(5); // backoffs of 20..40 ms within 100 ms
    for (const at of startedAt) expect(at).toBeLessThan(100);
    expect(timeouts[0]).toBe(100);
    for (let i = 1; i < timeouts.length; i++) expect(timeouts[i]).toBe(Math.ceil(100 - startedAt[i]!));
  });

  it("guard - an open circuit fails fast with CircuitOpenError (503) and shows in the gauge", async () => {
    const registry = new Registry();
    const clock = { t: 0 };
    const changes: string[] = [];
    const guard = new CallGuard({
      retry: false,
      breaker: {
        minimumCalls: 2,
        openMs: 1000,
        now: () => clock.t,
        registry,
        onStateChange: (s, st) => changes.push(`${s}:${st}`),
      },
    });
    const gauge = async () => (await registry.getSingleMetric("natsmesh_client_circuit_state")!.get()).values;
    let calls = 0;
    const unavailable = async () => {
      calls++;
      return answer(503);
    };
    await guard.run("weather", get, 1000, undefined, unavailable);
    expect(await gauge()).toEqual([{ value: 0, labels: { service: "weather" } }]);
    await guard.run("weather", get, 1000, undefined, unavailable);
    const refused = guard.run("weather", get, 1000, undefined, unavailable);
    await expect(refused).rejects.toBeInstanceOf(CircuitOpenError);
    await expect(refused).rejects.toMatchObject({
      status: 503,
      code: "NM_ERR_CIRCUIT_OPEN",
      service: "weather",
    });
    expect(calls).toBe(2);
    expect(await gauge()).toEqual([{ value: 2, labels: { service: "weather" } }]);
    clock.t += 1000;
    await expect(guard.run("weather", get, 1000, undefined, async () => ok)).resolves.toBe(ok);
    expect(await gauge()).toEqual([{ value: 0, labels: { service: "weather" } }]);
    expect(changes).toEqual(["weather:2", "weather:1", "weather:0"]);
    // Another service has a circuit of its own.
    await expect(guard.run("billing", get, 1000, undefined, async () => ok)).resolves.toBe(ok);
  });

  it("guard - 4xx answers and aborts do not count against a service", async () => {
    const clock = { t: 0 };
    const guard = new CallGuard({
      retry: false,
      breaker: { minimumCalls: 2, now: () => clock.t, registry: new Registry() },
    });
    for (let i = 0; i < 5; i++) await guard.run("weather", get, 1000, undefined, async () => answer(404));
    for (let i = 0; i < 5; i++)
      await guard
        .run("weather", get, 1000, undefined, () => Promise.reject(new Error("aborted")))
        .catch(() => {});
    expect(guard.breakerOf("weather")!.state).toBe(CircuitState.Closed);
  });
});

describe("mappings - canary mapping builder", () => {
  it("mappings - builds weighted destinations and the remainder", () => {
    const m = canaryMapping({
      service: "billing.invoices",
      from: "team.mesh",
      splits: [{ prefix: "v1", weight: 60 }],
      fault: { weight: 15, prefix: "chaos" },
    });
    expect(m).toEqual({
      service: "billing.invoices",
      subject: "team.mesh.billing.invoices.*",
      destinations: [
        { destination: "v1.billing.invoices.{{wildcard(1)}}", weight: 60 },
        { destination: "chaos.billing.invoices.{{wildcard(1)}}", weight: 15 },
      ],
      remainder: 25,
    });
  });

  it("mappings - refuses bad services, prefixes, weights and repeated destinations", () => {
    const bad = (o: Parameters<typeof canaryMapping>[0]) => () => canaryMapping(o);
    expect(bad({ service: "Bad Name", splits: [{ prefix: "v1", weight: 1 }] })).toThrow(MappingError);
    expect(bad({ service: "w", splits: [{ prefix: "v 1", weight: 1 }] })).toThrow(
      /not a valid subject prefix/,
    );
    expect(bad({ service: "w", splits: [{ prefix: "v1", weight: 1.5 }] })).toThrow(/whole percent/);
    expect(
      bad({
        service: "w",
        splits: [
          { prefix: "v1", weight: 1 },
          { prefix: "v1", weight: 2 },
        ],
      }),
    ).toThrow(/given twice/);
    expect(bad({ service: "w", splits: [] })).toThrow(/at least one split/);
    // Per-cluster: each cluster's weights sum on their own (2.10 semantics).
    const m = canaryMapping({
      service: "w",
      serverVersion: "v2.10.3",
      splits: [
        { prefix: "v1", weight: 90, cluster: "east" },
        { prefix: "v2", weight: 10, cluster: "east" },
        { prefix: "v1", weight: 50, cluster: "west" },
        { prefix: "v2", weight: 50, cluster: "west" },
      ],
    });
    expect(m.destinations).toHaveLength(4);
  });

  it("mappings - merging refuses a section without its end marker", () => {
    expect(() => mergeMappingsFile("mappings {\n  # begin natsmesh canary mesh.w.*\n", "mesh.w.*")).toThrow(
      /no end marker/,
    );
  });
});
