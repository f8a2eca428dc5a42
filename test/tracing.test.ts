/**
 * OpenTelemetry spans with a tracer provider registered (the SDK's in-memory exporter): the fetch
 * client, the undici dispatcher, the gateway and `serve()` create spans that form one trace across
 * NATS, with W3C trace context in the request headers. Without a provider: test/tracing-off.test.ts.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { context, propagation, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { request } from "undici";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createGateway, type Gateway } from "../src/gateway/index.js";
import {
  createFetch,
  MeshDispatcher,
  type MeshFetch,
  NoRespondersError,
  type ServiceHandle,
  serve,
  TimeoutError,
} from "../src/index.js";
import { fetchApp } from "./support/apps.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check, type NatsServer } from "./support/nats-server.js";

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";
const TRACESTATE = "congo=t61rcWkgMzE";

let nats: NatsFixture;
let server: NatsServer;
let nc: NatsConnection;
let fetch: MeshFetch;
let dispatcher: MeshDispatcher;
let gateway: Gateway;
let base: string;
const services: ServiceHandle[] = [];

/**
 * The shared test API, plus `/inner`: starts and ends a span of its own (a child of whatever
 * context is active in the handler) and answers with the `traceparent` and `tracestate` it saw.
 */
function tracedApp(): (req: Request) => Promise<Response> {
  const app = fetchApp("traced");
  return async (req) => {
    if (new URL(req.url).pathname !== "/inner") return app(req);
    trace.getTracer("test-handler").startSpan("inner").end();
    return Response.json({
      traceparent: req.headers.get("traceparent"),
      tracestate: req.headers.get("tracestate"),
    });
  };
}

function spans(): ReadableSpan[] {
  return exporter.getFinishedSpans();
}

function one(predicate: (s: ReadableSpan) => boolean, what: string): ReadableSpan {
  const found = spans().filter(predicate);
  if (found.length !== 1) throw new Error(`expected one ${what}, found ${found.length}`);
  return found[0]!;
}

/** Waits until the spans named by `names` (kind:name) have all ended, and returns them in that order. */
async function ended(...names: Array<[SpanKind, string]>): Promise<ReadableSpan[]> {
  return check(
    () =>
      names.map(([kind, name]) =>
        one((s) => s.kind === kind && s.name === name, `${SpanKind[kind]} ${name}`),
      ),
    5000,
    { name: `spans ${names.map(([, n]) => n).join(", ")}` },
  );
}

function traceparentOf(span: ReadableSpan): string {
  const { traceId, spanId } = span.spanContext();
  return `00-${traceId}-${spanId}-01`;
}

beforeAll(async () => {
  provider.register({ contextManager: new AsyncLocalStorageContextManager() });
  nats = await natsFixture();
  ({ server, nc } = nats);
  // One CLIENT span per call; retried calls (a span per attempt) are checked through the gateway below.
  fetch = createFetch({ nc, retry: false });
  dispatcher = new MeshDispatcher({ nc });
  services.push(await serve(tracedApp(), { service: "traced", nc, logger: silent, metrics: false }));
  gateway = createGateway({
    listen: "127.0.0.1:0",
    connection: { servers: server.url },
    logger: silent,
    config: {
      routes: [
        { name: "traced-api", prefix: "/api", strip: true, service: "traced" },
        { name: "nobody-api", prefix: "/nobody", strip: true, service: "nobody" },
      ],
    },
  });
  base = (await gateway.listen()).url;
});

afterAll(async () => {
  await gateway?.close();
  for (const svc of services) await svc.stop();
  await dispatcher?.close();
  await nats?.[Symbol.asyncDispose]();
  await provider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
});

beforeEach(() => exporter.reset());

describe("tracing - fetch to service", () => {
  it("tracing - a fetch inside a user span: user span → CLIENT → SERVER → handler span, one trace", async () => {
    const tracer = trace.getTracer("test");
    const seen = await tracer.startActiveSpan("outer", async (outer) => {
      try {
        const res = await fetch("http://traced.nats/inner?q=1");
        expect(res.status).toBe(200);
        return (await res.json()) as { traceparent: string | null; tracestate: string | null };
      } finally {
        outer.end();
      }
    });
    const [outer, client, serverSpan, inner] = await ended(
      [SpanKind.INTERNAL, "outer"],
      [SpanKind.CLIENT, "GET traced"],
      [SpanKind.SERVER, "GET traced"],
      [SpanKind.INTERNAL, "inner"],
    );
    const traceId = outer!.spanContext().traceId;
    for (const s of [client!, serverSpan!, inner!]) expect(s.spanContext().traceId).toBe(traceId);
    expect(client!.parentSpanId).toBe(outer!.spanContext().spanId);
    expect(serverSpan!.parentSpanId).toBe(client!.spanContext().spanId);
    expect(inner!.parentSpanId).toBe(serverSpan!.spanContext().spanId);
    // The handler sees the trace context of the CLIENT span: its caller.
    expect(seen.traceparent).toBe(traceparentOf(client!));
    expect(seen.tracestate).toBeNull();
    expect(client!.instrumentationLibrary.name).toBe("natsmesh");
    for (const s of [client!, serverSpan!]) {
      expect(s.attributes).toMatchObject({
        "http.request.method": "GET",
        "url.path": "/inner",
        "server.address": "traced",
        "messaging.system": "nats",
        "messaging.destination.name": "mesh.traced.get",
        "http.response.status_code": 200,
      });
      expect(s.status.code).toBe(SpanStatusCode.UNSET);
    }
  });

  it("tracing - without an active span, a traceparent the caller sent is continued and replaced by the CLIENT span's", async () => {
    const res = await fetch("http://traced.nats/inner", {
      headers: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01`, tracestate: TRACESTATE },
    });
    const seen = (await res.json()) as { traceparent: string; tracestate: string };
    const [client, serverSpan] = await ended(
      [SpanKind.CLIENT, "GET traced"],
      [SpanKind.SERVER, "GET traced"],
    );
    expect(client!.spanContext().traceId).toBe(TRACE_ID);
    expect(client!.parentSpanId).toBe(CALLER_SPAN);
    expect(serverSpan!.parentSpanId).toBe(client!.spanContext().spanId);
    expect(seen).toEqual({ traceparent: traceparentOf(client!), tracestate: TRACESTATE });
  });

  it("tracing - the undici dispatcher makes the same CLIENT span", async () => {
    const res = await request("http://traced.nats/inner", { dispatcher, method: "POST", body: "x" });
    const seen = (await res.body.json()) as { traceparent: string };
    const [client, serverSpan] = await ended(
      [SpanKind.CLIENT, "POST traced"],
      [SpanKind.SERVER, "POST traced"],
    );
    expect(client!.attributes["messaging.destination.name"]).toBe("mesh.traced.post");
    expect(serverSpan!.parentSpanId).toBe(client!.spanContext().spanId);
    expect(seen.traceparent).toBe(traceparentOf(client!));
  });
});

describe("tracing - gateway", () => {
  it("tracing - public request → gateway SERVER → gateway CLIENT → service SERVER, continuing the caller's trace", async () => {
    const res = await request(`${base}/api/inner?x=1`, {
      headers: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01`, tracestate: TRACESTATE },
    });
    expect(res.statusCode).toBe(200);
    const seen = (await res.body.json()) as { traceparent: string; tracestate: string };
    const [gatewayServer, gatewayClient, serviceServer] = await ended(
      [SpanKind.SERVER, "GET traced-api"],
      [SpanKind.CLIENT, "GET traced"],
      [SpanKind.SERVER, "GET traced"],
    );
    for (const s of [gatewayServer!, gatewayClient!, serviceServer!])
      expect(s.spanContext().traceId).toBe(TRACE_ID);
    expect(gatewayServer!.parentSpanId).toBe(CALLER_SPAN);
    expect(gatewayClient!.parentSpanId).toBe(gatewayServer!.spanContext().spanId);
    expect(serviceServer!.parentSpanId).toBe(gatewayClient!.spanContext().spanId);
    expect(seen).toEqual({ traceparent: traceparentOf(gatewayClient!), tracestate: TRACESTATE });
    expect(gatewayServer!.attributes).toMatchObject({
      "http.request.method": "GET",
      "url.path": "/api/inner",
      "url.scheme": "http",
      "http.response.status_code": 200,
      "natsmesh.route": "traced-api",
      "natsmesh.service": "traced",
    });
    expect(gatewayClient!.attributes).toMatchObject({ "url.path": "/inner", "server.address": "traced" });
  });

  it("tracing - a request without trace context starts a new trace at the gateway", async () => {
    const res = await request(`${base}/api/inner`);
    const seen = (await res.body.json()) as { traceparent: string };
    const [gatewayServer, gatewayClient] = await ended(
      [SpanKind.SERVER, "GET traced-api"],
      [SpanKind.CLIENT, "GET traced"],
    );
    expect(gatewayServer!.parentSpanId).toBeUndefined();
    expect(seen.traceparent).toBe(traceparentOf(gatewayClient!));
  });
});

describe("tracing - error statuses", () => {
  it("tracing - a 5xx answer sets status ERROR on the CLIENT and SERVER spans; a 4xx does not", async () => {
    expect((await fetch("http://traced.nats/status/503")).status).toBe(503);
    const [client, serverSpan] = await ended(
      [SpanKind.CLIENT, "GET traced"],
      [SpanKind.SERVER, "GET traced"],
    );
    for (const s of [client!, serverSpan!]) {
      expect(s.status.code).toBe(SpanStatusCode.ERROR);
      expect(s.attributes["http.response.status_code"]).toBe(503);
      expect(s.attributes["error.type"]).toBe("503");
    }
    exporter.reset();
    expect((await fetch("http://traced.nats/status/404")).status).toBe(404);
    const [client4, server4] = await ended([SpanKind.CLIENT, "GET traced"], [SpanKind.SERVER, "GET traced"]);
    for (const s of [client4!, server4!]) {
      expect(s.status.code).toBe(SpanStatusCode.UNSET);
      expect(s.attributes["http.response.status_code"]).toBe(404);
    }
  });

  it("tracing - a handler that throws: SERVER span ERROR with the exception and NM_ERR_HANDLER", async () => {
    expect((await fetch("http://traced.nats/throw")).status).toBe(500);
    const [serverSpan] = await ended([SpanKind.SERVER, "GET traced"]);
    expect(serverSpan!.status.code).toBe(SpanStatusCode.ERROR);
    expect(serverSpan!.attributes["error.type"]).toBe("NM_ERR_HANDLER");
    expect(serverSpan!.events.map((e) => e.name)).toContain("exception");
  });

  it("tracing - transport failures (no responders, timeout) end the CLIENT span with ERROR and the error code", async () => {
    await expect(fetch("http://nobody.nats/")).rejects.toBeInstanceOf(NoRespondersError);
    const [noResponders] = await ended([SpanKind.CLIENT, "GET nobody"]);
    expect(noResponders!.status.code).toBe(SpanStatusCode.ERROR);
    expect(noResponders!.attributes["error.type"]).toBe("NM_ERR_NO_RESPONDERS");
    expect(noResponders!.attributes["http.response.status_code"]).toBeUndefined();
    expect(noResponders!.events.map((e) => e.name)).toEqual(["exception"]);
    exporter.reset();
    await expect(fetch("http://traced.nats/slow?ms=2000", { timeout: 100 })).rejects.toBeInstanceOf(
      TimeoutError,
    );
    const [timedOut] = await ended([SpanKind.CLIENT, "GET traced"]);
    expect(timedOut!.status.code).toBe(SpanStatusCode.ERROR);
    expect(timedOut!.attributes["error.type"]).toBe("NM_ERR_TIMEOUT");
  });

  it("tracing - the gateway answering 503 for no responders: SERVER span ERROR, one CLIENT span per attempt", async () => {
    const res = await request(`${base}/nobody/x`);
    await res.body.dump();
    expect(res.statusCode).toBe(503);
    const [gatewayServer] = await ended([SpanKind.SERVER, "GET nobody-api"]);
    expect(gatewayServer!.status.code).toBe(SpanStatusCode.ERROR);
    expect(gatewayServer!.attributes["http.response.status_code"]).toBe(503);
    expect(gatewayServer!.attributes["error.type"]).toBe("NM_ERR_NO_RESPONDERS");
    // The route's default retry policy: 3 attempts, each its own CLIENT span under the SERVER span.
    const attempts = spans().filter((s) => s.kind === SpanKind.CLIENT);
    expect(attempts.map((s) => s.name)).toEqual(["GET nobody", "GET nobody", "GET nobody"]);
    for (const s of attempts) {
      expect(s.parentSpanId).toBe(gatewayServer!.spanContext().spanId);
      expect(s.status.code).toBe(SpanStatusCode.ERROR);
      expect(s.attributes["error.type"]).toBe("NM_ERR_NO_RESPONDERS");
    }
  });
});
