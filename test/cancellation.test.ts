/**
 * A caller that gives up (its timeout, its AbortSignal) frees the instance (issue #18 item 5): the
 * abort reaches the instance in every state of the exchange (PROTOCOL.md §8.4), the handler learns of
 * it (Fetch: `request.signal`, as the Fetch standard's "abort a Request"; Node: `req` emits 'aborted'
 * and 'close', `res` 'close', as node:http does when a client disconnects), the concurrency slot is
 * freed after `cancelGrace` even for a handler that ignores the signal, the cancellation is counted as
 * one (status 499), never as a handler error, and `stop({ timeout })` resolves by its deadline.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFetch, type MeshFetch, type ServiceHandle, serve } from "../src/index.js";
import { createMetrics } from "../src/metrics/index.js";
import { awaitAbortHandler } from "./support/abort-waiter.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

describe("cancellation", () => {
  let nats: NatsFixture;
  let fetch: MeshFetch;
  const services: ServiceHandle[] = [];

  beforeAll(async () => {
    nats = await natsFixture();
    // The default heartbeat (1000 ms): a 300 ms timeout gives up before the instance's first heartbeat.
    fetch = createFetch({ nc: nats.nc, timeout: 300, retry: false });
  });
  afterAll(async () => {
    for (const s of services) await s.stop({ timeout: 1000 });
    await nats?.[Symbol.asyncDispose]();
  });

  it("cancellation - a caller's timeout before any heartbeat aborts a Fetch handler's signal", async () => {
    const waiter = awaitAbortHandler();
    services.push(await serve(waiter.handler, { service: "cancel-fetch", nc: nats.nc, logger: silent }));
    const err = await fetch("http://cancel-fetch/").catch((e: unknown) => e);
    expect(String(err)).toMatch(/timeout|did not answer|within/i);
    expect(waiter.started).toBe(1);
    await check(() => waiter.aborted === 1, 5000, { name: "the handler's signal aborted" });
    expect(String(waiter.reason)).toMatch(/caller/);
  });

  it("cancellation - the abort reaches a Fetch handler that holds nothing but its request's signal, after garbage collections", async () => {
    // undici's Request follows its source signal through a weak reference: unless the instance keeps
    // the Request reachable, a collection drops the handler (its signal, its listener, its promise)
    // and the abort never arrives. Seen as a flaky gateway-hedging test before the fix.
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const waiter = awaitAbortHandler();
    services.push(await serve(waiter.handler, { service: "cancel-gc", nc: nats.nc, logger: silent }));
    const slow = createFetch({ nc: nats.nc, timeout: 1500, retry: false });
    const call = slow("http://cancel-gc/", { method: "POST", body: "x" }).catch((e: unknown) => e);
    await check(() => waiter.started === 1, 5000, { name: "the handler started" });
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(String(await call)).toMatch(/timeout|did not answer|within/i);
    await check(() => waiter.aborted === 1, 5000, { name: "the handler's signal aborted" });
  });

  it("cancellation - a caller's timeout before any heartbeat makes a Node handler's req emit 'aborted' and 'close', res 'close' (node:http on a client disconnect)", async () => {
    const events: string[] = [];
    const svc = await serve(
      (req: IncomingMessage, res: ServerResponse) => {
        req.on("aborted", () => events.push("req aborted"));
        req.on("close", () => events.push("req close"));
        req.on("error", () => undefined);
        res.on("close", () => events.push("res close"));
      },
      { service: "cancel-node", nc: nats.nc, logger: silent },
    );
    services.push(svc);
    await fetch("http://cancel-node/").catch(() => undefined);
    await check(() => events.length === 3, 5000, { name: "req and res events" });
    expect([...events].sort()).toEqual(["req aborted", "req close", "res close"]);
    // The adapter's own 500 for a destroyed response is not the handler's failure: a cancellation.
    await check(() => svc.stats().cancelled === 1, 5000, { name: "counted as cancelled" });
    expect(svc.stats()).toMatchObject({ errors: 0, lastError: "", inFlight: 0 });
  });

  it("cancellation - a handler that ignores its signal frees its slot after cancelGrace; its late answer is dropped and counted as a cancellation (499), not an error", async () => {
    const metrics = createMetrics({ registry: new Registry() });
    let calls = 0;
    let release: (() => void) | undefined;
    const svc = await serve(
      () => {
        calls++;
        if (calls > 1) return new Response("second");
        return new Promise<Response>((resolve) => {
          release = () => resolve(new Response("late"));
        });
      },
      { service: "cancel-grace", nc: nats.nc, logger: silent, concurrency: 1, cancelGrace: 200, metrics },
    );
    services.push(svc);
    await fetch("http://cancel-grace/").catch(() => undefined);
    expect(calls).toBe(1);
    await check(() => svc.stats().inFlight === 0, 5000, { name: "the slot freed after cancelGrace" });
    const second = await createFetch({ nc: nats.nc, retry: false })("http://cancel-grace/");
    expect(await second.text()).toBe("second");
    release?.();
    const stats = svc.stats();
    expect(stats).toMatchObject({ errors: 0, lastError: "", cancelled: 1, requests: 1 });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/natsmesh_service_requests_total\{[^}]*status="499"[^}]*\} 1/);
    expect(text).not.toMatch(/status="500"/);
  });

  it("cancellation - a caller's AbortSignal while the request waits for a slot frees it unrun, counted as a cancellation", async () => {
    let calls = 0;
    let release: (() => void) | undefined;
    const svc = await serve(
      () => {
        calls++;
        return new Promise<Response>((resolve) => {
          release = () => resolve(new Response("done"));
        });
      },
      { service: "cancel-queued", nc: nats.nc, logger: silent, concurrency: 1 },
    );
    services.push(svc);
    const slow = createFetch({ nc: nats.nc, retry: false, timeout: 10_000 });
    // Sent together, both reach the instance before its saturation takes it out of the queue group.
    const ac = new AbortController();
    const first = slow("http://cancel-queued/");
    const second = slow("http://cancel-queued/", { signal: ac.signal }).catch((e: unknown) => e);
    await check(() => calls === 1 && svc.stats().queued === 1, 5000, { name: "one running, one queued" });
    ac.abort(new Error("user left"));
    expect(String(await second)).toMatch(/user left/);
    // The abort reaches the queued request on the instance's next heartbeat.
    await check(() => svc.stats().cancelled === 1, 5000, { name: "the queued request cancelled" });
    release?.();
    expect(await (await first).text()).toBe("done");
    await check(() => svc.stats().inFlight === 0 && svc.stats().queued === 0, 5000, { name: "idle" });
    expect(calls).toBe(1);
    expect(svc.stats()).toMatchObject({ errors: 0, cancelled: 1 });
  });

  it("cancellation - stop({ timeout }) answers what is still running 503 NM_ERR_INSTANCE_LOST at the deadline and resolves", async () => {
    let started = false;
    const svc = await serve(
      () => {
        started = true;
        return new Promise<Response>(() => undefined);
      },
      { service: "cancel-stop", nc: nats.nc, logger: silent },
    );
    const patient = createFetch({ nc: nats.nc, retry: false, timeout: 30_000 });
    const pending = patient("http://cancel-stop/");
    await check(() => started, 5000, { name: "handler running" });
    await svc.stop({ timeout: 200 });
    const res = await pending;
    expect(res.status).toBe(503);
    expect(res.headers.get("mesh-error")).toBe("NM_ERR_INSTANCE_LOST");
  });
});
