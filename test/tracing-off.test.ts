/**
 * Tracing without an OpenTelemetry provider: natsmesh creates nothing and touches no header, through
 * fetch and through the gateway; a provider registered later is seen at the next request, and
 * disabling it turns tracing off again. With a provider from the start: test/tracing.test.ts.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { context, propagation, SpanKind, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGateway, type Gateway } from "../src/gateway/index.js";
import { createFetch, type MeshFetch, type ServiceHandle, serve } from "../src/index.js";
import { meshTracer } from "../src/tracing/index.js";
import { fetchApp } from "./support/apps.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import type { NatsServer } from "./support/nats-server.js";

const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACESTATE = "congo=t61rcWkgMzE";
const TRACE_HEADERS = ["traceparent", "tracestate", "baggage"];

let nats: NatsFixture;
let server: NatsServer;
let nc: NatsConnection;
let fetch: MeshFetch;
let gateway: Gateway;
let base: string;
let service: ServiceHandle;

/** The trace headers the `/echo` handler saw, as [lower-case name, value] pairs. */
function traceHeadersSeen(raw: string | string[] | null | undefined): Array<[string, string]> {
  const flat = JSON.parse(decodeURIComponent(String(raw ?? "[]"))) as string[];
  const out: Array<[string, string]> = [];
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!.toLowerCase();
    if (TRACE_HEADERS.includes(name)) out.push([name, flat[i + 1]!]);
  }
  return out;
}

beforeAll(async () => {
  nats = await natsFixture();
  ({ server, nc } = nats);
  fetch = createFetch({ nc });
  service = await serve(fetchApp("plain"), { service: "plain", nc, logger: silent, metrics: false });
  gateway = createGateway({
    listen: "127.0.0.1:0",
    connection: { servers: server.url },
    logger: silent,
    config: { routes: [{ name: "plain-api", prefix: "/api", strip: true, service: "plain" }] },
  });
  base = (await gateway.listen()).url;
});

afterAll(async () => {
  await gateway?.close();
  await service?.stop();
  await nats?.[Symbol.asyncDispose]();
});

describe("tracing off - no provider registered", () => {
  it("tracing off - natsmesh sees no tracer", () => {
    expect(meshTracer()).toBeUndefined();
  });

  it("tracing off - fetch: a caller's traceparent and tracestate arrive unchanged, nothing is added", async () => {
    const res = await fetch("http://plain.nats/echo", {
      headers: { traceparent: TRACEPARENT, tracestate: TRACESTATE },
    });
    expect(traceHeadersSeen(res.headers.get("x-echo-headers"))).toEqual([
      ["traceparent", TRACEPARENT],
      ["tracestate", TRACESTATE],
    ]);
    expect(res.headers.has("traceparent")).toBe(false);
    const bare = await fetch("http://plain.nats/echo");
    expect(traceHeadersSeen(bare.headers.get("x-echo-headers"))).toEqual([]);
  });

  it("tracing off - gateway: a caller's traceparent and tracestate are forwarded unchanged, nothing is added", async () => {
    const res = await request(`${base}/api/echo`, {
      headers: { traceparent: TRACEPARENT, tracestate: TRACESTATE },
    });
    await res.body.dump();
    expect(traceHeadersSeen(res.headers["x-echo-headers"])).toEqual([
      ["traceparent", TRACEPARENT],
      ["tracestate", TRACESTATE],
    ]);
    expect(res.headers.traceparent).toBeUndefined();
    const bare = await request(`${base}/api/echo`);
    await bare.body.dump();
    expect(traceHeadersSeen(bare.headers["x-echo-headers"])).toEqual([]);
  });
});

describe("tracing off - a provider registered later, then disabled", () => {
  it("tracing off - the next request after register() is traced; after disable() it is not", async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    provider.register({ contextManager: new AsyncLocalStorageContextManager() });
    try {
      expect(meshTracer()).toBeDefined();
      const res = await fetch("http://plain.nats/echo", { headers: { traceparent: TRACEPARENT } });
      const seen = traceHeadersSeen(res.headers.get("x-echo-headers"));
      // One client span per attempt: on a loaded machine an unacknowledged GET is sent again
      // (PROTOCOL.md §8.4), and the instance sees the attempt it answered.
      const attempts = exporter
        .getFinishedSpans()
        .filter((s) => s.name === "GET plain" && s.kind === SpanKind.CLIENT)
        .map((s) => `00-${s.spanContext().traceId}-${s.spanContext().spanId}-01`);
      expect(attempts.length).toBeGreaterThan(0);
      expect(seen).toHaveLength(1);
      expect(seen[0]?.[0]).toBe("traceparent");
      expect(attempts).toContain(seen[0]?.[1]);
    } finally {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    }
    expect(meshTracer()).toBeUndefined();
    const res = await fetch("http://plain.nats/echo", { headers: { traceparent: TRACEPARENT } });
    expect(traceHeadersSeen(res.headers.get("x-echo-headers"))).toEqual([["traceparent", TRACEPARENT]]);
  });
});
