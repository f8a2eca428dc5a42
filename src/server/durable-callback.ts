/**
 * Callbacks of durable requests (PROTOCOL.md §13.5): a request submitted with `x-callback-url`, to
 * a URL the instance allows (`durable.callbacks`), has its outcome POSTed there once it is stored —
 * tried again after 1, 5 and 30 s while the receiver fails. Best effort: the status resource stays
 * the record; an instance that stops meanwhile gives the remaining tries up.
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { DURABLE_ID_HEADER, type DurableState } from "../durable/index.js";
import { headerValue, type WireRequest, type WireResponse } from "../protocol/index.js";

/** The request header naming where the outcome goes (as in OpenFaaS's asynchronous functions). */
export const CALLBACK_HEADER = "x-callback-url";
/** The callback's header saying `done` or `dead`. */
export const CALLBACK_STATE_HEADER = "mesh-durable-state";
/** The callback's header carrying the answer's status (the callback itself is a POST). */
export const CALLBACK_STATUS_HEADER = "mesh-durable-status";
/** Pauses before the second, third and fourth try of a callback. */
export const CALLBACK_RETRY_MS = [1000, 5000, 30_000] as const;
/** Milliseconds one try may take. */
const CALLBACK_TIMEOUT_MS = 10_000;

/** The request's callback URL when it names one the instance allows, else undefined. */
export function callbackOf(req: WireRequest, allowed: readonly string[]): string | undefined {
  const raw = headerValue(req.headers, CALLBACK_HEADER);
  if (raw === undefined || allowed.length === 0) return undefined;
  let href: string;
  try {
    href = new URL(raw).href;
  } catch {
    return undefined;
  }
  return allowed.some((prefix) => href.startsWith(prefix)) ? href : undefined;
}

/** What a callback carries. */
export interface CallbackOutcome {
  id: string;
  service: string;
  state: DurableState;
  attempts: number;
  /** With `done`: the stored answer. */
  answer?: WireResponse | undefined;
  /** With `dead`: the last error. */
  error?: string | undefined;
}

/**
 * POSTs the outcome to `url` — the answer's body and `content-type`, with `mesh-durable-id`,
 * `mesh-durable-state` and `mesh-durable-status`; a dead letter as JSON — trying again while the
 * receiver answers other than 2xx or cannot be reached, until `stopped()` says the instance stops.
 *
 * @returns whether a try succeeded
 */
export async function deliverCallback(
  url: string,
  outcome: CallbackOutcome,
  log: Logger,
  stopped: () => boolean,
): Promise<boolean> {
  const headers: Record<string, string> = {
    [DURABLE_ID_HEADER]: outcome.id,
    [CALLBACK_STATE_HEADER]: outcome.state,
    "x-request-id": outcome.id,
  };
  let body: Uint8Array<ArrayBuffer>;
  if (outcome.answer !== undefined) {
    headers[CALLBACK_STATUS_HEADER] = String(outcome.answer.status);
    const type = headerValue(outcome.answer.headers, "content-type");
    if (type !== undefined) headers["content-type"] = type;
    body = new Uint8Array(outcome.answer.body);
  } else {
    headers["content-type"] = "application/json";
    const { id, service, state, attempts, error } = outcome;
    body = new TextEncoder().encode(
      JSON.stringify({ id, service, state, attempts, lastError: error ?? null }),
    );
  }
  for (let i = 0; ; i++) {
    let why: string;
    try {
      const res = await fetch(url, {
        method: "POST",
        headers,
        body,
        redirect: "manual",
        signal: AbortSignal.timeout(CALLBACK_TIMEOUT_MS),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return true;
      why = `status ${res.status}`;
    } catch (err) {
      why = err instanceof Error ? err.message : String(err);
    }
    if (i >= CALLBACK_RETRY_MS.length || stopped()) {
      log.error(
        { id: outcome.id, to: new URL(url).origin, why, tries: i + 1 },
        "durable request: callback given up",
      );
      return false;
    }
    log.warn(
      { id: outcome.id, to: new URL(url).origin, why, retryMs: CALLBACK_RETRY_MS[i] },
      "durable request: callback failed; trying again",
    );
    await sleep(CALLBACK_RETRY_MS[i]);
  }
}
