/**
 * The HTTP answers of durable requests (PROTOCOL.md §13.2, §13.4): the 202 to a submission and the
 * status resource's answer. Pure.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { ErrorCode, type WireResponse } from "../protocol/index.js";
import { DurableState } from "./record.js";
import type { DurableStatus, Submitted } from "./store.js";

/** The response header naming the durable request an answer belongs to. */
export const DURABLE_ID_HEADER = "mesh-durable-id";

function json(status: number, value: unknown, headers: string[] = []): WireResponse {
  return {
    status,
    statusText: "",
    headers: ["content-type", "application/json", ...headers],
    body: Buffer.from(JSON.stringify(value)),
  };
}

function failure(status: number, code: string, message: string, extra: object = {}): WireResponse {
  return json(status, { error: message, code, status, ...extra }, ["mesh-error", code]);
}

/**
 * The 202 to a stored (or already known) durable request.
 *
 * @param service - its service
 * @param submitted - what {@link DurableStore.submit} gave
 * @param location - the URL of its status resource
 * @example
 * ```ts
 * acceptedResponse("orders", { id, state: "queued", duplicate: false }, `/orders/$requests/${id}`);
 * ```
 */
export function acceptedResponse(service: string, submitted: Submitted, location: string): WireResponse {
  const { id, state, duplicate } = submitted;
  return json(202, { id, service, state, duplicate }, [
    "location",
    location,
    "preference-applied",
    "respond-async",
    DURABLE_ID_HEADER,
    id,
  ]);
}

/**
 * What a status resource answers for `status` (undefined: unknown or expired): 202 with the state
 * while pending, the stored answer once done, 500 for a dead letter, 404 when unknown.
 *
 * @example
 * ```ts
 * statusResponse("orders", id, await store.lookup("orders", id));
 * ```
 */
export function statusResponse(service: string, id: string, status: DurableStatus | undefined): WireResponse {
  if (status === undefined)
    return failure(
      404,
      ErrorCode.DurableNotFound,
      `no durable request '${id}' of service '${service}' (never submitted, or expired)`,
    );
  const record = status.record;
  if (status.state === DurableState.Done && record?.answer !== undefined) {
    const answer = record.answer;
    return { ...answer, headers: [...answer.headers, DURABLE_ID_HEADER, id] };
  }
  if (status.state === DurableState.Dead)
    return failure(500, ErrorCode.DurableDeadLetter, "every attempt of this durable request failed", {
      id,
      attempts: status.attempts,
      lastError: record?.error ?? null,
    });
  const body: Record<string, unknown> = { id, service, state: status.state, attempts: status.attempts };
  if (record?.error !== undefined) body.lastError = record.error;
  return json(202, body, ["retry-after", "1", DURABLE_ID_HEADER, id]);
}
