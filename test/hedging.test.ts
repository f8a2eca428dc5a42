/**
 * Hedged requests in the client against a real nats-server (docs/TRAFFIC.md, "Hedged requests"): a
 * late idempotent call is sent again and answered by another instance, the copy that lost is
 * cancelled (its handler's signal fires), non-idempotent POSTs are never sent twice, the budget caps
 * the copies, and the counters count them. Outcomes and counts only: no timed assertion.
 */
import { Registry } from "prom-client";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createFetch,
  MeshDispatcher,
  type MeshFetch,
  type MeshRequestInit,
  type ServiceHandle,
  serve,
} from "../src/index.js";
import type { ClientHedgeSettings } from "../src/traffic/call-guard.js";
import {
  CLIENT_HEDGE_BUDGET_EXHAUSTED,
  CLIENT_HEDGES_SENT,
  CLIENT_HEDGES_WON,
} from "../src/traffic/hedge-metrics.js";
import { awaitAbortHandler } from "./support/abort-waiter.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

/** The value of a client hedging counter for `service` (0 before it was created). */
async function counted(registry: Registry, name: string, service: string): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values.find((v) => v.labels.service === service)?.value ?? 0;
}

describe("hedging - client", () => {
  let nats: NatsFixture;
  const services: ServiceHandle[] = [];
  const fetches: MeshFetch[] = [];

  beforeAll(async () => {
    nats = await natsFixture();
  });
  afterAll(async () => {
    for (const f of fetches) await f.close();
    for (const s of services) await s.stop({ timeout: 1000 });
    await nats?.[Symbol.asyncDispose]();
  });

  const client = (registry: Registry, hedge: ClientHedgeSettings | undefined, timeout = 10_000) => {
    const f = createFetch({ nc: nats.nc, retry: false, timeout, hedge: hedge && { registry, ...hedge } });
    fetches.push(f);
    return f;
  };

  it("hedging - a call stuck on a slow instance is answered by the fast one; the slow exchange is cancelled", async () => {
    // The slow instance takes one request at a time and never answers it: while it holds one it has
    // stepped out of the queue group (QueueGate), so the copy goes to the fast instance.
    const slow = awaitAbortHandler();
    services.push(
      await serve(slow.handler, {
        service: "hedged",
        nc: nats.nc,
        logger: silent,
        concurrency: 1,
        instance: "slow",
      }),
      await serve(() => new Response("fast"), {
        service: "hedged",
        nc: nats.nc,
        logger: silent,
        instance: "fast",
      }),
    );
    const registry = new Registry();
    const fetch = client(registry, { minDelayMs: 200, maxDelayMs: 200 });
    let calls = 0;
    // Until three calls have met the slow instance (each call does with probability ½).
    while (slow.started < 3 && calls < 60) {
      calls++;
      const res = await fetch("http://hedged/item");
      expect(res.status).toBe(200);
      expect(res.headers.get("mesh-instance")).toBe("fast");
      expect(await res.text()).toBe("fast");
      // The losing copy is cancelled: the slow handler's signal fires (and frees its one slot).
      await check(() => slow.aborted === slow.started, 5000, { name: "the slow exchange was cancelled" });
    }
    expect(slow.started).toBe(3);
    expect(String(slow.reason)).toMatch(/another copy of the request answered first/);
    // A copy went out for each call that met the slow instance, and won there.
    expect(await counted(registry, CLIENT_HEDGES_WON, "hedged")).toBeGreaterThanOrEqual(1);
    expect(await counted(registry, CLIENT_HEDGES_SENT, "hedged")).toBeGreaterThanOrEqual(
      await counted(registry, CLIENT_HEDGES_WON, "hedged"),
    );
    expect(await counted(registry, CLIENT_HEDGE_BUDGET_EXHAUSTED, "hedged")).toBe(0);
  });

  it("hedging - a POST or a streamed body is never sent twice; a GET or a keyed POST is (one instance: every copy lands there)", async () => {
    const hang = awaitAbortHandler();
    services.push(await serve(hang.handler, { service: "hang", nc: nats.nc, logger: silent }));
    const registry = new Registry();
    const fetch = client(registry, { minDelayMs: 20, maxDelayMs: 20, budgetBurst: 100 });
    const ac = new AbortController();
    const send = (init: MeshRequestInit) =>
      fetch("http://hang/", { ...init, signal: ac.signal }).catch((e: unknown) => e);
    // A PUT whose body streams: idempotent, but its body is read once.
    const streamed = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode("streamed"));
        c.close();
      },
    });
    const calls = [send({ method: "PUT", body: streamed, duplex: "half" } as MeshRequestInit)];
    // Its copy's timer, were there one, is due before the ones below.
    await check(() => hang.started >= 1, 5000, { name: "the streamed PUT arrived" });
    // Started in one turn, so their copies' timers (one delay) fire in this order, the GET's last.
    calls.push(
      send({ method: "POST", body: "a" }),
      send({ method: "POST", body: "b" }),
      send({ method: "PATCH", body: "c" }),
      send({ method: "POST", body: "d", headers: { "idempotency-key": "k-1" } }),
      send({ method: "GET" }),
    );
    // 6 requests and 2 copies (the keyed POST's, the GET's): once the GET's copy went out, every
    // earlier timer had fired.
    await check(() => hang.started >= 8, 5000, { name: "6 requests and 2 copies executed" });
    // A marker published after every earlier copy would have been: once it arrived, nothing else can.
    calls.push(send({ method: "GET", hedge: false }));
    await check(() => hang.started >= 9, 5000, { name: "the marker arrived" });
    expect(hang.started).toBe(9);
    expect(await counted(registry, CLIENT_HEDGES_SENT, "hang")).toBe(2);
    ac.abort(new Error("done"));
    for (const err of await Promise.all(calls)) expect(String(err)).toMatch(/done/);
    await check(() => hang.aborted === 9, 5000, { name: "every exchange cancelled" });
  });

  it("hedging - the budget caps copies: 10 late calls at once with 2 tokens send 2 copies, 8 refused", async () => {
    const hang = awaitAbortHandler();
    services.push(await serve(hang.handler, { service: "budget", nc: nats.nc, logger: silent }));
    const registry = new Registry();
    const fetch = client(registry, { minDelayMs: 20, maxDelayMs: 20, budgetRatio: 0.1, budgetBurst: 2 });
    const ac = new AbortController();
    const calls = Array.from({ length: 10 }, () =>
      fetch("http://budget/", { signal: ac.signal }).catch((e: unknown) => e),
    );
    const decided = async () =>
      (await counted(registry, CLIENT_HEDGES_SENT, "budget")) +
      (await counted(registry, CLIENT_HEDGE_BUDGET_EXHAUSTED, "budget"));
    await check(async () => (await decided()) === 10, 5000, { name: "every call's copy sent or refused" });
    await check(() => hang.started === 12, 5000, { name: "10 calls and 2 copies executed" });
    expect(await counted(registry, CLIENT_HEDGES_SENT, "budget")).toBe(2);
    expect(await counted(registry, CLIENT_HEDGE_BUDGET_EXHAUSTED, "budget")).toBe(8);
    ac.abort(new Error("done"));
    await Promise.all(calls);
    // A marker behind every earlier message: no copy was sent after the count.
    const marker = new AbortController();
    const last = fetch("http://budget/", { signal: marker.signal, hedge: false }).catch(() => undefined);
    await check(() => hang.started === 13, 5000, { name: "the marker arrived" });
    marker.abort();
    await last;
    await check(() => hang.aborted === 13, 5000, { name: "every exchange cancelled" });
  });

  it("hedging - off by default; per call `hedge: true` turns it on, and bad settings are refused", async () => {
    const hang = awaitAbortHandler();
    services.push(await serve(hang.handler, { service: "choice", nc: nats.nc, logger: silent }));
    const registry = new Registry();
    const plain = client(registry, undefined);
    const ac = new AbortController();
    const off = plain("http://choice/", { signal: ac.signal }).catch(() => undefined);
    const on = plain("http://choice/", {
      signal: ac.signal,
      hedge: { minDelayMs: 10, maxDelayMs: 10 },
    }).catch(() => undefined);
    await check(() => hang.started === 3, 5000, { name: "2 calls and 1 copy" });
    const marker = plain("http://choice/", { signal: ac.signal }).catch(() => undefined);
    await check(() => hang.started === 4, 5000, { name: "the marker arrived" });
    ac.abort();
    await Promise.all([off, on, marker]);
    expect(
      await plain("http://choice/", { hedge: { maxHedges: 0 } }).catch((e: unknown) => e),
    ).toBeInstanceOf(RangeError);
    expect(() => createFetch({ nc: nats.nc, hedge: { quantile: 2 } })).toThrow(/hedge.quantile/);
  });

  it("hedging - MeshDispatcher takes the same option: a late GET through undici is sent twice", async () => {
    const hang = awaitAbortHandler();
    services.push(await serve(hang.handler, { service: "undici-hedged", nc: nats.nc, logger: silent }));
    const registry = new Registry();
    const dispatcher = new MeshDispatcher({
      nc: nats.nc,
      retry: false,
      hedge: { minDelayMs: 10, maxDelayMs: 10, registry },
    });
    try {
      const ac = new AbortController();
      const pending = request("http://undici-hedged/", { dispatcher, signal: ac.signal }).catch(
        (e: unknown) => e,
      );
      await check(() => hang.started === 2, 5000, { name: "the request and its copy" });
      expect(await counted(registry, CLIENT_HEDGES_SENT, "undici-hedged")).toBe(1);
      ac.abort(new Error("done"));
      await pending;
      await check(() => hang.aborted === 2, 5000, { name: "both exchanges cancelled" });
    } finally {
      await dispatcher.close();
    }
  });
});
