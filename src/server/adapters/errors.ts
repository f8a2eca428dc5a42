import { type ErrorCode, MeshHeader, type WireResponse } from "../../protocol/index.js";

/**
 * A response natsmesh itself produced for a failure: a small JSON body that says what happened and a
 * `mesh-error` header with the stable code, so callers can tell it from the handler's own answers.
 * The message must be safe to show a caller: never a stack trace or an internal subject.
 */
export function errorResponse(status: number, code: ErrorCode | string, message: string): WireResponse {
  return {
    status,
    statusText: "",
    headers: ["content-type", "application/json", MeshHeader.Error, code],
    body: Buffer.from(JSON.stringify({ error: message, code, status })),
  };
}

/** The 500 every throwing handler yields: no detail of the failure leaves the process. */
export function internalError(): WireResponse {
  return errorResponse(500, "NM_ERR_HANDLER", "internal server error");
}
