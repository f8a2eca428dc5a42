import { Buffer } from "node:buffer";
import { STATUS_CODES } from "node:http";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "pino";
import type { PublishBatcher } from "../connect/publish-batcher.js";
import {
  ErrorCode,
  encodeResponse,
  headerValue,
  MeshHeader,
  StreamHeader,
  type WireResponse,
} from "../protocol/index.js";
import { ChunkReader, chunkSizeFor, StreamSender } from "../stream/index.js";
import { errorResponse, internalError } from "./adapters/errors.js";
import type { InFlight } from "./in-flight.js";
import type { OpenExchanges } from "./open-exchanges.js";
import { addProvenance } from "./provenance.js";
import type { InstanceStats } from "./stats.js";

const EMPTY = new Uint8Array(0);
/** The status a cancellation is counted under (nginx's "client closed request"; answer.ts's CANCELLED). */
const CANCELLED_STATUS = 499;

/** What a {@link Responder} sends through and counts in. */
export interface ResponderParts {
  /** Service name, for the provenance headers. */
  service: string;
  /** Instance id, for the provenance headers and generated request ids. */
  instance: string;
  /** The connection: its `info` gives max_payload and the server's names. */
  nc: NatsConnection;
  /** Publishes one-message answers. */
  batcher: PublishBatcher;
  /** Opens an exchange for a streamed answer to a request that has none. */
  exchanges: OpenExchanges;
  /** Counts answers and errors. */
  stats: InstanceStats;
  /** The instance's logger. */
  log: Logger;
}

let lastHeartbeat = 0;
let lastHeartbeatText = "";
/** `String(ms)`, kept for the last value asked (callers mostly ask the same). */
function heartbeatValue(ms: number): string {
  if (ms !== lastHeartbeat) {
    lastHeartbeat = ms;
    lastHeartbeatText = String(ms);
  }
  return lastHeartbeatText;
}

/** The 500 answered for a response that does not fit in one message for this caller. */
function tooLarge(size: string, limit: number | undefined): WireResponse {
  return errorResponse(
    500,
    ErrorCode.PayloadTooLarge,
    `response of ${size} bytes exceeds the NATS max_payload of ${limit} bytes`,
  );
}

/**
 * Sends an instance's answers: adds provenance (PROTOCOL.md §6), counts them, and sends each in one
 * message, or streamed (PROTOCOL.md §8) when its body is a stream or too large for one message and
 * the caller accepts streams.
 */
export class Responder {
  readonly #service: string;
  readonly #instance: string;
  readonly #nc: NatsConnection;
  readonly #batcher: PublishBatcher;
  readonly #exchanges: OpenExchanges;
  readonly #stats: InstanceStats;
  readonly #log: Logger;
  #seq = 0;

  constructor(parts: ResponderParts) {
    this.#service = parts.service;
    this.#instance = parts.instance;
    this.#nc = parts.nc;
    this.#batcher = parts.batcher;
    this.#exchanges = parts.exchanges;
    this.#stats = parts.stats;
    this.#log = parts.log;
  }

  /** Generates a request id for a caller that sent none: the instance id and a counter. */
  readonly nextRequestId = (): string => `${this.#instance}-${++this.#seq}`;

  /**
   * Answers a request: counts it, adds provenance, and sends the answer in one message, or streamed
   * when its body is a stream or too large for one message and the caller accepts streams.
   *
   * @returns the status sent, or a promise of it for an answer that goes through the streamed path.
   */
  respond(call: InFlight, res: WireResponse): number | Promise<number> {
    const { req, ex } = call;
    this.#stats.answered();
    this.#provenance(res.headers, req.headers);
    // Tells a caller that asked for heartbeats that this instance honours them (PROTOCOL.md §8.4).
    if (req.heartbeat !== undefined) res.headers.push(StreamHeader.Heartbeat, heartbeatValue(req.heartbeat));
    if (req.method === "HEAD" || res.status === 204 || res.status === 304) {
      res.stream?.cancel().catch(() => undefined);
      res.stream = undefined;
    }
    const limit = this.#nc.info?.max_payload;
    if (res.stream !== undefined) return this.#respondStreamed(call, res, limit);
    const payload = encodeResponse(res);
    if (limit !== undefined && payload.byteLength > limit && req.window !== undefined) {
      return this.#respondStreamed(call, res, limit);
    }
    ex?.close();
    return this.#sendOne(call.reply, res, req.headers, payload);
  }

  /** Adds the provenance headers (PROTOCOL.md §6) to an answer. */
  #provenance(headers: string[], requestHeaders: string[]): void {
    addProvenance(headers, requestHeaders, this.nextRequestId, this.#service, this.#instance, this.#nc);
  }

  /** An answer natsmesh itself produced instead of the handler's, with its provenance. */
  #own(res: WireResponse, requestHeaders: string[]): WireResponse {
    this.#provenance(res.headers, requestHeaders);
    return res;
  }

  /**
   * Publishes an answer (provenance already added) as one message; one over max_payload becomes a
   * 500 that says so. Returns the status sent.
   */
  #sendOne(
    reply: string,
    res: WireResponse,
    requestHeaders: string[] = [],
    payload = encodeResponse(res),
  ): number {
    const limit = this.#nc.info?.max_payload;
    if (limit !== undefined && payload.byteLength > limit) {
      this.#log.error({ size: payload.byteLength, limit }, "response exceeds max_payload");
      res = this.#own(tooLarge(`${payload.byteLength}`, limit), requestHeaders);
      payload = encodeResponse(res);
    }
    if (res.status >= 500) {
      const code = headerValue(res.headers, MeshHeader.Error);
      this.#stats.failed(`${res.status} ${code ?? (res.statusText || STATUS_CODES[res.status] || "error")}`);
    }
    // An event (PROTOCOL.md §10) has nowhere to answer: it is counted, not sent.
    if (reply === "") return res.status;
    this.#batcher.publish(reply, payload, undefined, (err) =>
      this.#log.error({ err }, "could not publish the response"),
    );
    return res.status;
  }

  /**
   * Sends an answer whose body is a stream, or bytes too large for one message. What the source has
   * ready at once goes with the head; when that is the whole body and it fits, the answer is one
   * plain message. Otherwise, for a caller that accepts streamed responses (`mesh-window`), the head
   * hands over the exchange's subject and chunks follow as the caller grants credit; for one that
   * does not, the body is collected up to max_payload (beyond it, a 500 that says so).
   */
  async #respondStreamed(call: InFlight, res: WireResponse, limit: number | undefined): Promise<number> {
    const { reply, req, ex } = call;
    const reader = new ChunkReader(res.stream ?? res.body);
    const headSize = encodeResponse({ ...res, body: EMPTY, stream: undefined }).byteLength;
    const room = (limit ?? Number.MAX_SAFE_INTEGER) - headSize;
    const chunkSize = chunkSizeFor(limit);
    const window = req.window;
    let first: Uint8Array;
    try {
      first =
        window === undefined
          ? await collect(reader, Math.max(0, room) + 1)
          : ((await reader.next(Math.max(1, Math.min(chunkSize, room)))) ?? EMPTY);
    } catch (err) {
      this.#log.error({ err }, "the handler's response body failed");
      ex?.close();
      return this.#sendOne(reply, this.#own(internalError(), req.headers));
    }
    if (reader.ended && first.byteLength <= room) {
      ex?.close();
      return this.#sendOne(reply, { ...res, body: first, stream: undefined }, req.headers);
    }
    if (window === undefined || room <= 0) {
      reader.cancel();
      ex?.close();
      const size = window === undefined ? `more than ${first.byteLength - 1}` : `${headSize}`;
      this.#log.error({ size, limit }, "response exceeds max_payload");
      return this.#sendOne(reply, this.#own(tooLarge(size, limit), req.headers));
    }
    const exchange = ex ?? this.#exchanges.open(reply, req.heartbeat ?? 0);
    exchange.send(encodeResponse({ ...res, body: first }, true), true);
    const sender = new StreamSender({ reader, chunkSize, credit: window, send: (f) => exchange.send(f) });
    exchange.sender = sender;
    try {
      await sender.done;
    } catch (err) {
      if (exchange.aborted !== undefined) {
        // The caller left mid-body (its abort, its silence): a cancellation, not the handler's failure.
        this.#stats.cancelled();
        exchange.close();
        return CANCELLED_STATUS;
      }
      this.#log.error({ err }, "the handler's response body failed mid-stream");
      this.#stats.failed("500 NM_ERR_HANDLER: body failed mid-stream");
      exchange.abort(new Error("the handler's response body failed"), true);
    }
    exchange.close();
    return res.status;
  }
}

/** Reads the whole body up to `max` bytes (a caller that takes one message only). */
async function collect(reader: ChunkReader, max: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const piece = await reader.next(Math.min(1 << 20, max - size));
    if (piece === null) break;
    parts.push(piece);
    size += piece.byteLength;
    if (size >= max) break;
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
}
