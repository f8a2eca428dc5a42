/**
 * The error family without a server: one base class, codes from the two registries, one naming
 * mechanism, and `instanceof` by a `Symbol.for` brand that holds across two copies of natsmesh.
 */
import { request } from "undici";
import { describe, expect, it } from "vitest";
import { CliError } from "../src/cli/cli-error.js";
import { MeshDispatcher } from "../src/client/dispatcher.js";
import { ConfigError, ConnectError } from "../src/connect/errors.js";
import { TlsHandshakeError } from "../src/connect/tls-diagnosis.js";
import { NatsServerNotFoundError } from "../src/dev/find-binary.js";
import { NatsServerStartError } from "../src/dev/local-server.js";
import {
  BadRequestError,
  BodyTooLargeError,
  GatewayConfigError,
  GatewayErrorCode,
  GatewayWorkerError,
  NoRouteError,
  RequestTimeoutError,
} from "../src/gateway/errors.js";
import { PolicyConfigError } from "../src/gateway/policies/policy-config-error.js";
import {
  BadResponseError,
  ClosedError,
  ConnectionClosedError,
  ErrorCode,
  InstanceLostError,
  InvalidServiceError,
  MalformedMessageError,
  MeshError,
  NoRespondersError,
  PayloadTooLargeError,
  PermissionDeniedError,
  RedirectError,
  RedirectOutsideError,
  StreamError,
  TimeoutError,
} from "../src/protocol/errors.js";
import { CircuitOpenError } from "../src/traffic/breaker.js";
import { MappingError } from "../src/traffic/mappings.js";

type ErrorsModule = typeof import("../src/protocol/errors.js");

const target = { service: "weather", subject: "mesh.weather.get" };

/** One error of every class natsmesh throws, by the name it must carry. */
const samples: Record<string, MeshError> = {
  MeshError: new MeshError(ErrorCode.Handler, 500, "the handler failed"),
  NoRespondersError: new NoRespondersError(target),
  TimeoutError: new TimeoutError(target, 100),
  ConnectionClosedError: new ConnectionClosedError(target),
  MalformedMessageError: new MalformedMessageError("no prefix"),
  BadResponseError: new BadResponseError("no prefix"),
  PayloadTooLargeError: new PayloadTooLargeError(2, 1),
  StreamError: new StreamError("chunk lost"),
  InstanceLostError: new InstanceLostError(target, 2000),
  InvalidServiceError: new InvalidServiceError("bad name"),
  PermissionDeniedError: new PermissionDeniedError(target, "publish", target.subject),
  ConfigError: new ConfigError("NATS_URL", "malformed URL"),
  ConnectError: new ConnectError(["nats://127.0.0.1:4999"], new Error("connection refused")),
  TlsHandshakeError: new TlsHandshakeError(
    "server",
    "CERT_HAS_EXPIRED",
    "the server's certificate has expired",
  ),
  CircuitOpenError: new CircuitOpenError(target, 1000),
  MappingError: new MappingError("weights sum to 110%"),
  NatsServerNotFoundError: new NatsServerNotFoundError(["/nonexistent"], "NATS_SERVER_BIN"),
  NatsServerStartError: new NatsServerStartError("nats-server exited with code 1 before it was ready"),
  CliError: new CliError("bad header 'foo'"),
  ClosedError: new ClosedError("the gateway"),
  RedirectError: new RedirectError("more than 20 redirects"),
  RedirectOutsideError: new RedirectOutsideError("https://example.com/", { service: "login" }),
  NoRouteError: new NoRouteError("GET", "/nowhere"),
  BodyTooLargeError: new BodyTooLargeError(1024),
  BadRequestError: new BadRequestError("bad target"),
  RequestTimeoutError: new RequestTimeoutError(1000),
  GatewayConfigError: new GatewayConfigError("gateway.yaml", "bad"),
  GatewayWorkerError: new GatewayWorkerError("worker failed", { worker: 1, pid: 1, errorName: "Error" }),
  PolicyConfigError: new PolicyConfigError("cors()", "maxAge", "must be a non-negative integer"),
};

const classes: Record<string, abstract new (...args: never[]) => MeshError> = {
  MeshError,
  NoRespondersError,
  TimeoutError,
  ConnectionClosedError,
  MalformedMessageError,
  BadResponseError,
  PayloadTooLargeError,
  StreamError,
  InstanceLostError,
  InvalidServiceError,
  PermissionDeniedError,
  ConfigError,
  ConnectError,
  TlsHandshakeError,
  CircuitOpenError,
  MappingError,
  NatsServerNotFoundError,
  NatsServerStartError,
  CliError,
  ClosedError,
  RedirectError,
  RedirectOutsideError,
  NoRouteError,
  BodyTooLargeError,
  BadRequestError,
  RequestTimeoutError,
  GatewayConfigError,
  GatewayWorkerError,
  PolicyConfigError,
};

describe("errors - one family", () => {
  it("errors - every class is a MeshError named after itself, with a code from ErrorCode or GatewayErrorCode", () => {
    const codes = new Set<string>([...Object.values(ErrorCode), ...Object.values(GatewayErrorCode)]);
    expect(Object.keys(samples)).toEqual(Object.keys(classes));
    for (const [name, err] of Object.entries(samples)) {
      expect(err, name).toBeInstanceOf(MeshError);
      expect(err, name).toBeInstanceOf(Error);
      expect(err.name).toBe(name);
      expect(Object.keys(err), name).toContain("name");
      expect(err.stack?.startsWith(`${name}: `), name).toBe(true);
      expect(Number.isInteger(err.status), name).toBe(true);
      expect(codes.has(err.code), `${name} ${err.code}`).toBe(true);
    }
  });

  it("errors - each subclass check is specific: an error is an instance of its class and MeshError only", () => {
    for (const [name, err] of Object.entries(samples)) {
      for (const [other, cls] of Object.entries(classes)) {
        expect(err instanceof cls, `${name} instanceof ${other}`).toBe(
          other === name || other === "MeshError",
        );
      }
    }
  });

  it("errors - the two registries do not share a code, and name the codes the errors above carry", () => {
    const protocol = Object.values(ErrorCode) as string[];
    const gateway = Object.values(GatewayErrorCode) as string[];
    expect(protocol.filter((c) => gateway.includes(c))).toEqual([]);
    expect(new Set([...protocol, ...gateway]).size).toBe(protocol.length + gateway.length);
    expect(samples.NatsServerNotFoundError!.code).toBe("NM_ERR_NATS_SERVER_NOT_FOUND");
    expect(samples.CliError!.code).toBe("NM_ERR_CLI");
    expect(samples.NatsServerStartError!.code).toBe("NM_ERR_NATS_SERVER_START");
    expect(samples.ClosedError!.code).toBe("NM_ERR_CLOSED");
    expect(samples.ClosedError!.status).toBe(503);
    expect(samples.PolicyConfigError!.code).toBe("NM_ERR_GATEWAY_CONFIG");
  });

  it("errors - anything else is not a MeshError", () => {
    for (const value of [
      null,
      undefined,
      0,
      "NM_ERR_TIMEOUT",
      {},
      new Error("x"),
      { code: "NM_ERR_TIMEOUT" },
    ]) {
      expect(value instanceof MeshError).toBe(false);
      expect(value instanceof TimeoutError).toBe(false);
    }
  });
});

describe("errors - the brand across copies", () => {
  it("errors - an error made by a second copy of the module passes instanceof of this copy, and the reverse", async () => {
    const specifier = "../src/protocol/errors.js?copy";
    const copy = (await import(/* @vite-ignore */ specifier)) as ErrorsModule;
    expect(copy.MeshError).not.toBe(MeshError);
    expect(copy.TimeoutError).not.toBe(TimeoutError);

    const theirs = new copy.TimeoutError(target, 100);
    expect(Object.getPrototypeOf(theirs)).not.toBe(TimeoutError.prototype);
    expect(theirs instanceof MeshError).toBe(true);
    expect(theirs instanceof TimeoutError).toBe(true);
    expect(theirs instanceof NoRespondersError).toBe(false);
    expect(theirs.name).toBe("TimeoutError");

    const ours = new NoRespondersError(target);
    expect(ours instanceof copy.MeshError).toBe(true);
    expect(ours instanceof copy.NoRespondersError).toBe(true);
    expect(ours instanceof copy.TimeoutError).toBe(false);
  });

  it("errors - a plain object carrying the symbols passes the checks those symbols name", () => {
    const family = { [Symbol.for("natsmesh.error")]: true };
    expect(family instanceof MeshError).toBe(true);
    expect(family instanceof TimeoutError).toBe(false);
    const timeout = { [Symbol.for("natsmesh.error.TimeoutError")]: true };
    expect(timeout instanceof TimeoutError).toBe(true);
    expect(timeout instanceof InstanceLostError).toBe(false);
    expect({ [Symbol.for("natsmesh.error")]: "yes" } instanceof MeshError).toBe(false);
  });

  it("errors - a user's own subclass is checked by its prototype chain and keeps its parent's brand", () => {
    class SlowError extends TimeoutError {}
    const slow = new SlowError(target, 100);
    expect(slow instanceof SlowError).toBe(true);
    expect(slow instanceof TimeoutError).toBe(true);
    expect(slow instanceof MeshError).toBe(true);
    expect(slow.name).toBe("TimeoutError");
    expect(new TimeoutError(target, 100) instanceof SlowError).toBe(false);
  });
});

describe("errors - where they are raised", () => {
  it("errors - a request through a closed MeshDispatcher rejects with ClosedError, before any connection", async () => {
    const dispatcher = new MeshDispatcher({ connection: { servers: "nats://127.0.0.1:1" } });
    await dispatcher.close();
    const err = await request("http://weather/", { dispatcher }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClosedError);
    expect((err as ClosedError).message).toBe("MeshDispatcher is closed");
  });
});
