import type { WireRequest } from "../protocol/index.js";
import type { ActiveSpan } from "../tracing/index.js";
import type { ServerExchange } from "./exchange.js";

/**
 * One accepted request on its way through an instance: made once by the intake, then handed to each
 * step of its answer (run, respond, account) instead of their arguments one by one.
 */
export interface InFlight {
  /** The caller's reply subject: where the answer goes. */
  readonly reply: string;
  /** The subject the request came on, `<prefix>.<service>.<method>`. */
  readonly subject: string;
  /** The decoded request. */
  readonly req: WireRequest;
  /** The exchange with the caller, for a request that asked for heartbeats or streams its body. */
  readonly ex: ServerExchange | undefined;
  /** The SERVER span, when a tracer provider is registered. */
  readonly span: ActiveSpan | undefined;
  /** Frees the request's concurrency slot; set when the handler starts. */
  release: () => void;
  /** `performance.now()` when the handler started. */
  started: number;
  /** The handler's entry in the instance's deadlines, when the instance has a timeout. */
  deadline: number | undefined;
  /** {@link CallState}: queued, running, or settled (answered, expired, cancelled or stopped). */
  state: CallState;
  /** The caller gave up: whatever the handler answers is dropped, and counted as a cancellation. */
  cancelled: boolean;
}

/** Where an {@link InFlight} request is: waiting for a slot, running its handler, or settled. */
export const CallState = { Queued: 0, Running: 1, Settled: 2 } as const;
export type CallState = (typeof CallState)[keyof typeof CallState];
