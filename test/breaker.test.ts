/** Circuit breakers in the client and the gateway, against a real nats-server and a service that fails on demand. */

import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGateway, type GatewayConfig, GatewayConfigError } from "../src/gateway/index.js";
import { createFetch, type ServiceHandle, serve } from "../src/index.js";
import { CircuitOpenError } from "../src/traffic/index.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

describe("breaker - circuit breakers against a failing service", () => {
  let nats: NatsFixture;
  const state = { healthy: false, calls: 0 };
  let svc: ServiceHandle;

  beforeAll(async () => {
    nats = await natsFixture();
    svc = await serve(
      () => {
        state.calls++;
        return new Response(state.healthy ? "fine" : "down", { status: state.healthy ? 200 : 503 });
      },
      { service: "flaky", nc: nats.nc, logger: silent },
    );
  });
  afterAll(async () => {
    await svc?.stop();
    await nats?.[Symbol.asyncDispose]();
  });

  it("breaker - client: 503 answers open the circuit, calls then fail fast without reaching the service; after the pause a good probe closes it", async () => {
    state.healthy = false;
    state.calls = 0;
    const registry = new Registry();
    await using fetch = createFetch({
      nc: nats.nc,
      retry: false,
      breaker: { minimumCalls: 4, failureRatio: 0.5, openMs: 300, registry },
    });
    const gauge = async () =>
      (await registry.metrics()).match(/natsmesh_client_circuit_state\{service="flaky"\} (\d)/)?.[1];
    for (let i = 0; i < 4; i++) expect((await fetch("http://flaky/")).status).toBe(503);
    expect(await gauge()).toBe("2");
    // Refused in the client: nothing goes out on the connection.
    const sent = nats.nc.stats().outMsgs;
    const refused = await fetch("http://flaky/").catch((err: unknown) => err);
    expect(nats.nc.stats().outMsgs).toBe(sent);
    expect(refused).toBeInstanceOf(CircuitOpenError);
    expect(refused).toMatchObject({ status: 503, code: "NM_ERR_CIRCUIT_OPEN", service: "flaky" });
    expect(state.calls).toBe(4);

    state.healthy = true;
    // Until the pause is over every call is refused; then one probe goes through and closes it.
    const res = await check(() => fetch("http://flaky/").catch(() => undefined), 3000, {
      name: "circuit closes",
    });
    expect(await res!.text()).toBe("fine");
    expect(state.calls).toBe(5);
    expect(await gauge()).toBe("0");
  });

  it("breaker - gateway: an open circuit answers 503 NM_ERR_CIRCUIT_OPEN with Retry-After, shown in natsmesh_gateway_circuit_state", async () => {
    state.healthy = false;
    state.calls = 0;
    await using gateway = createGateway({
      listen: "127.0.0.1:0",
      nc: nats.nc,
      logger: silent,
      breaker: { minimumCalls: 4, openMs: 60_000 },
    });
    const { url } = await gateway.listen();
    for (let i = 0; i < 4; i++) expect((await fetch(`${url}/flaky/`)).status).toBe(503);
    const refused = await fetch(`${url}/flaky/`);
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("60");
    expect(await refused.json()).toMatchObject({ code: "NM_ERR_CIRCUIT_OPEN" });
    expect(state.calls).toBe(4);
    expect(await gateway.metrics.metrics()).toMatch(/natsmesh_gateway_circuit_state\{service="flaky"\} 2/);
  });

  it("breaker - gateway: the configuration's breaker block enables it; bad values are refused before anything listens", async () => {
    state.healthy = false;
    state.calls = 0;
    await using gateway = createGateway({
      listen: "127.0.0.1:0",
      nc: nats.nc,
      logger: silent,
      config: { breaker: { minimumCalls: 2, failureRatio: 1, openMs: 60_000 } },
    });
    const { url } = await gateway.listen();
    for (let i = 0; i < 2; i++) expect((await fetch(`${url}/flaky/`)).status).toBe(503);
    expect(await (await fetch(`${url}/flaky/`)).json()).toMatchObject({ code: "NM_ERR_CIRCUIT_OPEN" });
    expect(state.calls).toBe(2);
    const bad = (breaker: unknown) => () =>
      createGateway({ nc: nats.nc, logger: silent, config: { breaker } as GatewayConfig });
    expect(bad({ failureRatio: 2 })).toThrow(
      /breaker.failureRatio must be a number above 0 and at most 1, got 2/,
    );
    expect(bad({ openMs: 0 })).toThrow(GatewayConfigError);
    expect(bad({ windows: 3 })).toThrow(/windows/);
  });
});
