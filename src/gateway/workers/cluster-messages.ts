/**
 * The IPC messages between a gateway cluster's primary process and its workers. Every message has a
 * `natsmeshGateway` field naming its kind, so other messages on the channel (node:cluster's own,
 * an application's) are left alone.
 *
 * @module
 */
import type { MeshConnectOptions } from "../../connect/index.js";
import type { RouteConfig, TlsConfig } from "../config/config-types.js";
import type { HostPort } from "../config/host-port.js";
import type { ConfigSource } from "../config/load-config.js";

/** The gateway options a worker is started with: JSON values only. */
export interface WorkerGatewayOptions {
  /** Public listen address override. */
  listen?: string;
  /** `limits.drainDelay` override, in milliseconds. */
  drainDelay?: number;
  /** TLS files override. */
  tls?: TlsConfig;
  /** Routes added after the configuration's. */
  routes?: RouteConfig[];
  /** Subject prefix override. */
  prefix?: string;
  /** NATS connection options (JSON values only). */
  connection?: MeshConnectOptions;
  /** Whether the worker publishes its callers' report (default true). */
  callerReports?: boolean | { interval: number };
}

/** Primary → worker: serve this configuration (sent once the worker said hello). */
export interface StartMessage {
  natsmeshGateway: "start";
  /** The worker's number, from 1 (in its log lines). */
  worker: number;
  /** The options. */
  options: WorkerGatewayOptions;
  /** The configuration as the primary read and checked it. */
  from: ConfigSource;
}

/** Primary → worker: close gracefully (in-flight requests finish), then exit 0. */
export interface StopMessage {
  natsmeshGateway: "stop";
}

/** Primary → worker: report readiness or metrics; answered by an {@link AnswerMessage} with the same id. */
export interface AskMessage {
  natsmeshGateway: "ask";
  /** Matches the answer to the question. */
  id: number;
  /** What to report. */
  what: "ready" | "metrics";
}

/** Worker → primary: the worker's message listener is in place. */
export interface HelloMessage {
  natsmeshGateway: "hello";
}

/** Worker → primary: listening (on the port shared by node:cluster). */
export interface ListeningMessage {
  natsmeshGateway: "listening";
  /** Public origin. */
  url: string;
  /** Public bound address. */
  address: HostPort;
}

/** An error as it crosses the channel. */
export interface WireError {
  /** The error's `name`. */
  name: string;
  /** The error's message. */
  message: string;
  /** natsmesh's error code, if any. */
  code?: string;
  /** The HTTP status of a natsmesh error, if any. */
  status?: number;
  /** `GatewayConfigError`'s place. */
  where?: string;
  /** `GatewayConfigError`'s problem. */
  problem?: string;
}

/** Worker → primary: could not start; the worker exits next. */
export interface FailedMessage {
  natsmeshGateway: "failed";
  /** Why. */
  error: WireError;
}

/** Worker → primary: the answer to an {@link AskMessage}. */
export interface AnswerMessage {
  natsmeshGateway: "answer";
  /** The question's id. */
  id: number;
  /** For `ready`: why not ready, `null` when ready. */
  notReady?: string | null;
  /** For `metrics`: the worker's registry as `getMetricsAsJSON()` gives it. */
  metrics?: unknown[];
}

/** What the primary sends. */
export type PrimaryMessage = StartMessage | StopMessage | AskMessage;
/** What a worker sends. */
export type WorkerMessage = HelloMessage | ListeningMessage | FailedMessage | AnswerMessage;

/**
 * Whether an IPC message is one of the gateway's.
 *
 * @param message - anything received on the channel
 * @returns true for a gateway message
 * @example
 * ```ts
 * process.on("message", (m) => { if (isGatewayMessage<PrimaryMessage>(m)) handle(m); });
 * ```
 */
export function isGatewayMessage<T extends PrimaryMessage | WorkerMessage>(message: unknown): message is T {
  return (
    typeof message === "object" &&
    message !== null &&
    typeof (message as { natsmeshGateway?: unknown }).natsmeshGateway === "string"
  );
}

/**
 * An error as it can cross the channel (JSON): name, message, and natsmesh's code and status.
 *
 * @param err - any thrown value
 * @returns its wire form
 * @example
 * ```ts
 * process.send?.({ natsmeshGateway: "failed", error: toWireError(err) });
 * ```
 */
export function toWireError(err: unknown): WireError {
  if (!(err instanceof Error)) return { name: "Error", message: String(err) };
  const e = err as Error & Partial<Record<"code" | "where" | "problem", unknown>> & { status?: unknown };
  return {
    name: e.name,
    message: e.message,
    ...(typeof e.code === "string" && { code: e.code }),
    ...(typeof e.status === "number" && { status: e.status }),
    ...(typeof e.where === "string" && { where: e.where }),
    ...(typeof e.problem === "string" && { problem: e.problem }),
  };
}
