/**
 * Answers HTTP/1.1 requests that Node's parser refused before the gateway saw them: a bad header,
 * a head over `maxHeaderSize`, a head or request not received in time.
 *
 * @module
 */
import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { GatewayErrorCode } from "../errors.js";
import { requestId } from "./request-id.js";

/** A parser error, as Node reports it to `clientError`. */
export interface ParserError extends Error {
  /** `HPE_HEADER_OVERFLOW`, `HPE_INVALID_HEADER_TOKEN`, `ERR_HTTP_REQUEST_TIMEOUT`, `ECONNRESET`... */
  code?: string;
  /** llhttp's description of the problem, e.g. `Invalid header value char`. */
  reason?: string;
}

/** A raw answer to write on the socket. */
export interface ClientErrorAnswer {
  /** HTTP status. */
  status: number;
  /** Stable code of the JSON body. */
  code: string;
  /** The request id in the answer. */
  requestId: string;
  /** The whole HTTP/1.1 response, connection closing. */
  text: string;
}

/**
 * Builds the answer to a parser error: 431 for a head too large, 408 for a timeout, 400 for the rest,
 * each with the gateway's JSON error body; `undefined` for errors that leave nobody to answer
 * (connection reset, socket errors).
 *
 * @param err - the parser error
 * @returns the raw response, or `undefined` to just close the socket
 * @example
 * ```ts
 * server.on("clientError", (err, socket) => {
 *   const answer = clientErrorAnswer(err);
 *   if (answer && socket.writable) socket.end(answer.text); else socket.destroy();
 * });
 * ```
 */
export function clientErrorAnswer(err: ParserError): ClientErrorAnswer | undefined {
  const code = err.code ?? "";
  let status: number;
  let message: string;
  let errorCode: string = GatewayErrorCode.BadRequest;
  if (code === "HPE_HEADER_OVERFLOW") {
    status = 431;
    message = "request head too large";
  } else if (code === HEADER_COUNT_CODE) {
    status = 431;
    message = "too many header fields";
  } else if (code === "ERR_HTTP_REQUEST_TIMEOUT") {
    status = 408;
    message = "request not received in time";
    errorCode = GatewayErrorCode.RequestTimeout;
  } else if (code.startsWith("HPE_")) {
    status = 400;
    message = err.reason ? `malformed request: ${err.reason}` : "malformed request";
  } else {
    return undefined;
  }
  const id = requestId(undefined);
  const body = JSON.stringify({ error: message, code: errorCode, status, requestId: id });
  const text =
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
    `content-type: application/json\r\nmesh-error: ${errorCode}\r\nx-request-id: ${id}\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
  return { status, code: errorCode, requestId: id, text };
}

/** The code of the error the gateway raises for a head with more than `maxHeaderCount` fields. */
export const HEADER_COUNT_CODE = "ERR_NATSMESH_HEADER_COUNT";

/**
 * Writes the answer to a parser error if the socket can take one, then closes the socket.
 *
 * @param err - the parser error
 * @param socket - the client's socket
 * @param busy - whether a request is in flight on it (then nothing is written: an answer may be under way)
 * @returns the answer written, if any
 * @example
 * ```ts
 * server.on("clientError", (err, socket) => answerClientError(err, socket, tracker.isBusy(socket)));
 * ```
 */
export function answerClientError(
  err: ParserError,
  socket: Duplex,
  busy: boolean,
): ClientErrorAnswer | undefined {
  const answer = busy || !socket.writable ? undefined : clientErrorAnswer(err);
  if (answer) socket.end(answer.text);
  else socket.destroy();
  return answer;
}
