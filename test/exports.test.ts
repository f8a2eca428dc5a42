/**
 * The names each entry point exports at run time, sorted. Everything in `natsmesh` and its public
 * subpaths is a semver promise (docs/ARCHITECTURE.md, "Public surface"): a change here is a change to
 * that promise and shows as a diff of these snapshots (`npx vitest run test/exports.test.ts -u`
 * rewrites them). Type-only exports do not exist at run time and are not listed.
 */
import { describe, expect, it } from "vitest";

async function names(entry: Promise<object>): Promise<string[]> {
  return Object.keys(await entry).sort();
}

describe("exports - public entry points", () => {
  it("exports - natsmesh: the client, serve, connect and the errors", async () => {
    expect(await names(import("../src/index.js"))).toMatchInlineSnapshot(`
      [
        "BadResponseError",
        "CircuitOpenError",
        "ClosedError",
        "ConfigError",
        "ConnectError",
        "ConnectionClosedError",
        "ErrorCode",
        "InstanceLostError",
        "InvalidServiceError",
        "LightResponse",
        "MalformedMessageError",
        "MeshDispatcher",
        "MeshError",
        "NoRespondersError",
        "PayloadTooLargeError",
        "PermissionDeniedError",
        "RedirectError",
        "RedirectOutsideError",
        "StreamError",
        "TimeoutError",
        "TlsHandshakeError",
        "connect",
        "createFetch",
        "serve",
      ]
    `);
  });

  it("exports - natsmesh/gateway", async () => {
    expect(await names(import("../src/gateway/index.js"))).toMatchInlineSnapshot(`
      [
        "BadRequestError",
        "BodyTooLargeError",
        "GatewayConfigError",
        "GatewayErrorCode",
        "GatewayWorkerError",
        "NO_RETRY",
        "NoRouteError",
        "PolicyConfigError",
        "RequestTimeoutError",
        "backoffDelay",
        "buildPolicies",
        "cors",
        "createGateway",
        "createGatewayCluster",
        "jwtAuth",
        "rateLimit",
        "withRetry",
      ]
    `);
  });

  it("exports - natsmesh/traffic", async () => {
    expect(await names(import("../src/traffic/index.js"))).toMatchInlineSnapshot(`
      [
        "CircuitBreaker",
        "CircuitOpenError",
        "CircuitState",
        "DEFAULT_FAULT_PREFIX",
        "IDEMPOTENCY_KEY",
        "IDEMPOTENT_METHODS",
        "MappingError",
        "NO_RETRY",
        "backoffDelay",
        "canaryMapping",
        "isIdempotent",
        "mergeMappingsFile",
        "renderMappings",
        "withRetry",
      ]
    `);
  });

  it("exports - natsmesh/discovery", async () => {
    expect(await names(import("../src/discovery/index.js"))).toMatchInlineSnapshot(`
      [
        "DEFAULT_QUERY_TIMEOUT",
        "MetadataKey",
        "MicroVerb",
        "queryServices",
      ]
    `);
  });

  it("exports - natsmesh/metrics", async () => {
    expect(await names(import("../src/metrics/index.js"))).toMatchInlineSnapshot(`
      [
        "DEFAULT_BUCKETS",
        "createMetrics",
        "defaultMetrics",
        "serveMetricsHttp",
      ]
    `);
  });

  it("exports - natsmesh/insight", async () => {
    expect(await names(import("../src/insight/index.js"))).toMatchInlineSnapshot(`
      [
        "CALLERS_PREFIX",
        "CAPACITY_METRICS",
        "CallerReportError",
        "DEFAULT_REPORT_INTERVAL",
        "REPORT_PREFIX",
        "ReportError",
        "callerReportSubject",
        "createInsight",
        "histogramQuantile",
        "instancesNeeded",
        "parseCallerReport",
        "parseReport",
        "registerCapacityMetrics",
        "reportSubject",
        "startCallerReporter",
      ]
    `);
  });

  it("exports - natsmesh/log", async () => {
    expect(await names(import("../src/log/index.js"))).toMatchInlineSnapshot(`
      [
        "LOG_LEVELS",
        "createLogger",
      ]
    `);
  });

  it("exports - natsmesh/fault", async () => {
    expect(await names(import("../src/fault/index.js"))).toMatchInlineSnapshot(`
      [
        "FAULT_HEADER",
        "serveFault",
      ]
    `);
  });

  it("exports - natsmesh/tap", async () => {
    expect(await names(import("../src/tap/index.js"))).toMatchInlineSnapshot(`
      [
        "DEFAULT_TAP_BUFFER",
        "decodeAccessRecords",
        "tap",
        "tapSubject",
      ]
    `);
  });

  it("exports - natsmesh/dev", async () => {
    expect(await names(import("../src/dev/index.js"))).toMatchInlineSnapshot(`
      [
        "NatsServerNotFoundError",
        "NatsServerStartError",
        "ensureNats",
        "startLocalServer",
      ]
    `);
  });
});

describe("exports - natsmesh/internal (unstable)", () => {
  it("exports - natsmesh/internal: the machinery, and every public name below the gateway", async () => {
    expect(await names(import("../src/internal.js"))).toMatchInlineSnapshot(`
      [
        "ACCESS_RECORD_VERSION",
        "AccessRecords",
        "BadResponseError",
        "CLIENT_CIRCUIT_GAUGE",
        "CONNECT_DEFAULTS",
        "CONTEXT_SELECTED_BY",
        "CallGuard",
        "ChunkReader",
        "CircuitBreaker",
        "CircuitOpenError",
        "CircuitState",
        "ClosedError",
        "ConcurrencyLimiter",
        "ConfigError",
        "ConnectError",
        "ConnectionClosedError",
        "ConnectionSource",
        "DEDUPE_DEFAULTS",
        "DEFAULT_BUCKETS",
        "DEFAULT_CHUNK_SIZE",
        "DEFAULT_CONCURRENCY",
        "DEFAULT_FAULT_PREFIX",
        "DEFAULT_LOG_LEVEL",
        "DEFAULT_PREFIX",
        "DEFAULT_QUERY_TIMEOUT",
        "DEFAULT_RECORD_BUFFER",
        "DEFAULT_RETRY",
        "DEFAULT_STALL",
        "DEFAULT_SUFFIXES",
        "DEFAULT_TAP_BUFFER",
        "DEFAULT_TIMEOUT",
        "DEFAULT_VERSION",
        "DEFAULT_WINDOW",
        "DURABLE_DEFAULTS",
        "DeadlineLanes",
        "Deadlines",
        "DedupeOutcome",
        "DurableState",
        "DurableStore",
        "ENDPOINT_NAME",
        "ENSURE_NATS_DEFAULTS",
        "ENV_VARS",
        "ERROR_CODES",
        "EVERY_TOKEN",
        "ErrorCode",
        "FrameKind",
        "GATEWAY_CIRCUIT_GAUGE",
        "HOP_BY_HOP",
        "IDEMPOTENCY_KEY",
        "IDEMPOTENT_METHODS",
        "INSTANCES_HEADER",
        "INSTANCE_PATTERN",
        "INSTANCE_TOKEN",
        "InstanceLostError",
        "InvalidServiceError",
        "Kind",
        "LOCAL_SERVER_DEFAULTS",
        "LOG_LEVELS",
        "MALFORMED_LOG_INTERVAL_MS",
        "MAX_ABORT_REASON",
        "MAX_HEAD_SIZE",
        "MAX_HEARTBEAT",
        "MAX_WINDOW",
        "METHOD_LABELS",
        "METRICS_SUBJECT",
        "METRIC_NAMES",
        "MICRO_NAME",
        "MIN_HEARTBEAT",
        "MalformedMessageError",
        "MappingError",
        "MeshDispatcher",
        "MeshError",
        "MeshHeader",
        "MetadataKey",
        "MicroResponseType",
        "MicroVerb",
        "NATS_SERVER_INSTALL_HINT",
        "NATS_SERVER_LOOKUP",
        "NO_RETRY",
        "NatsServerNotFoundError",
        "NatsServerStartError",
        "NoRespondersError",
        "PREFIX_PATTERN",
        "PREFIX_SIZE",
        "PayloadTooLargeError",
        "PermissionDeniedError",
        "QueueGate",
        "RECENTLY_SERVED_MS",
        "RESERVED_PREFIX",
        "RecentlyServed",
        "RedirectError",
        "RedirectOutsideError",
        "RequestMux",
        "SEMVER",
        "SETTING_ORIGIN",
        "SMALL_BODY_WAIT_MS",
        "SRV_PREFIX",
        "ServiceBreakers",
        "ServiceRecorder",
        "StreamError",
        "StreamHeader",
        "StreamReceiver",
        "StreamSender",
        "TAKE_BYTES",
        "TAP_TOKEN",
        "TRACER_NAME",
        "TimeoutError",
        "TlsHandshakeError",
        "VERSION",
        "WAIT_FOR_CAPACITY_MS",
        "abortReason",
        "acceptsTcp",
        "answerDiscovery",
        "assertInstanceId",
        "assertMicroId",
        "assertPrefix",
        "assertServiceName",
        "assertVersion",
        "backoffDelay",
        "brandError",
        "callService",
        "canaryMapping",
        "chunkSizeFor",
        "circuitGauge",
        "connect",
        "controlSubject",
        "createFetch",
        "createLogger",
        "createMetrics",
        "declaredLength",
        "decodeAccessRecords",
        "decodeFrame",
        "decodeRequest",
        "decodeResponse",
        "defaultMetrics",
        "describeExit",
        "describeInstance",
        "diagnoseTls",
        "encodeAbort",
        "encodeAccessRecord",
        "encodeFrame",
        "encodeRequest",
        "encodeResponse",
        "endGatewaySpan",
        "endSpan",
        "ensureNats",
        "envLogLevel",
        "errorResponse",
        "everyRequestSubject",
        "everySubject",
        "explainTlsError",
        "exposeMetricsOverNats",
        "failSpan",
        "fetchAdapter",
        "findNatsServer",
        "headerListGetter",
        "headerListSetter",
        "headerValue",
        "infoResponse",
        "instanceRequestSubject",
        "instanceSubject",
        "internalError",
        "isHopByHop",
        "isIdempotent",
        "isMeshConnection",
        "isRetryableFailure",
        "kindOf",
        "lastTokenNumber",
        "mergeMappingsFile",
        "meshTracer",
        "methodIndex",
        "methodToken",
        "metricsSubject",
        "microName",
        "natsConnectionOf",
        "nodeAdapter",
        "pingResponse",
        "queryServices",
        "readRequest",
        "readSmall",
        "recordHandlerError",
        "recordPath",
        "renderMappings",
        "requestSubject",
        "resolveOptions",
        "runInSpan",
        "serve",
        "serveMetricsHttp",
        "serviceFromHost",
        "serviceNameOf",
        "serviceSubject",
        "startClientSpan",
        "startGatewaySpan",
        "startLocalServer",
        "startServerSpan",
        "statsResponse",
        "tap",
        "tapSubject",
        "toWireHandler",
        "withRetry",
        "wrapConnection",
      ]
    `);
  });
});

describe("exports - package.json", () => {
  it("exports - package.json names exactly these entry points", async () => {
    const { default: pkg } = await import("../package.json", { with: { type: "json" } });
    expect(Object.keys(pkg.exports)).toEqual([
      ".",
      "./dev",
      "./discovery",
      "./metrics",
      "./insight",
      "./log",
      "./gateway",
      "./traffic",
      "./fault",
      "./tap",
      "./internal",
      "./package.json",
    ]);
  });
});
