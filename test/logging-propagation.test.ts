/**
 * What a request carries end to end: an incoming `x-request-id` and the W3C trace context
 * (`traceparent`, `tracestate`) reach the handler exactly as the client sent them, through `fetch` and
 * the undici dispatcher, for both adapters; the response adds none of them on its own.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFetch, MeshDispatcher, type MeshFetch, type ServiceHandle, serve } from "../src/index.js";
import { fetchApp, nodeApp } from "./support/apps.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";

const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACESTATE = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";

/** Header pairs the `/echo` handler saw, lower-cased names. */
function seen(raw: string | null): Array<[string, string]> {
  const flat = JSON.parse(decodeURIComponent(raw ?? "[]")) as string[];
  const out: Array<[string, string]> = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!.toLowerCase(), flat[i + 1]!]);
  return out;
}

let nats: NatsFixture;
let nc: NatsConnection;
let fetch: MeshFetch;
let dispatcher: MeshDispatcher;
const services: ServiceHandle[] = [];

beforeAll(async () => {
  nats = await natsFixture();
  nc = nats.nc;
  fetch = createFetch({ nc });
  dispatcher = new MeshDispatcher({ nc });
  services.push(await serve(fetchApp(), { service: "trace-fetch", nc, logger: silent, metrics: false }));
  services.push(await serve(nodeApp(), { service: "trace-node", nc, logger: silent, metrics: false }));
  // A handler that answers with trace headers of its own: they come back unchanged.
  services.push(
    await serve(
      () =>
        new Response("own", {
          headers: {
            traceparent: "00-11111111111111111111111111111111-2222222222222222-00",
            tracestate: "a=b",
          },
        }),
      { service: "trace-own", nc, logger: silent, metrics: false },
    ),
  );
});

afterAll(async () => {
  for (const svc of services) await svc.stop();
  await dispatcher?.close();
  await nats?.[Symbol.asyncDispose]();
});

describe.each(["trace-fetch", "trace-node"])("propagation - %s", (service) => {
  const sent = { "X-Request-Id": "req-end-to-end-7", traceparent: TRACEPARENT, tracestate: TRACESTATE };

  it("propagation - fetch: the handler sees x-request-id, traceparent and tracestate exactly as sent", async () => {
    const res = await fetch(`http://${service}/echo`, { headers: sent });
    const pairs = seen(res.headers.get("x-echo-headers"));
    expect(pairs.filter(([k]) => k === "x-request-id")).toEqual([["x-request-id", "req-end-to-end-7"]]);
    expect(pairs.filter(([k]) => k === "traceparent")).toEqual([["traceparent", TRACEPARENT]]);
    expect(pairs.filter(([k]) => k === "tracestate")).toEqual([["tracestate", TRACESTATE]]);
    expect(res.headers.get("x-request-id")).toBe("req-end-to-end-7");
    expect(res.headers.has("traceparent")).toBe(false);
    expect(res.headers.has("tracestate")).toBe(false);
  });

  it("propagation - undici dispatcher: the same, through undici.request", async () => {
    const res = await request(`http://${service}/echo`, { dispatcher, headers: sent });
    await res.body.dump();
    const pairs = seen(res.headers["x-echo-headers"] as string);
    // The Fetch API lists headers sorted by name; Node's rawHeaders keep the order sent.
    expect(pairs.filter(([k]) => ["x-request-id", "traceparent", "tracestate"].includes(k)).sort()).toEqual([
      ["traceparent", TRACEPARENT],
      ["tracestate", TRACESTATE],
      ["x-request-id", "req-end-to-end-7"],
    ]);
    expect(res.headers["x-request-id"]).toBe("req-end-to-end-7");
    expect(res.headers.traceparent).toBeUndefined();
    expect(res.headers.tracestate).toBeUndefined();
  });

  it("propagation - without trace context the handler gets none and the response has none", async () => {
    const res = await fetch(`http://${service}/echo`);
    const names = seen(res.headers.get("x-echo-headers")).map(([k]) => k);
    expect(names).not.toContain("traceparent");
    expect(names).not.toContain("tracestate");
    expect(res.headers.has("traceparent")).toBe(false);
  });
});

describe("propagation - handler's own trace headers", () => {
  it("propagation - trace headers a handler sets come back unchanged, whatever the request carried", async () => {
    const res = await fetch("http://trace-own/", {
      headers: { traceparent: TRACEPARENT, tracestate: TRACESTATE },
    });
    expect(res.headers.get("traceparent")).toBe("00-11111111111111111111111111111111-2222222222222222-00");
    expect(res.headers.get("tracestate")).toBe("a=b");
    expect(await res.text()).toBe("own");
  });
});
