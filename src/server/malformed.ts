import type { NatsConnection } from "@nats-io/nats-core";
import { ErrorCode, Kind, MeshHeader, PREFIX_SIZE, VERSION } from "../protocol/index.js";

/** Bodies kept per reason; past it the cache starts over (garbage cannot grow it). */
const MAX_CACHED_BODIES = 64;

const BODY_END = `,"code":"${ErrorCode.Malformed}","status":400}`;

/**
 * Encodes the 400 `NM_ERR_MALFORMED` answer to a malformed request, byte for byte what
 * `encodeResponse` makes of `errorResponse(400, NM_ERR_MALFORMED, message)` with its provenance
 * headers (PROTOCOL.md §5–§6), from parts built once: the head around the request id, and the JSON
 * body per reason. A flood of garbage makes an instance answer this all day; building it costs one
 * buffer and four copies instead of a record, a JSON document and a head string per message.
 *
 * The head follows the connection's server (`mesh-server`, `mesh-cluster`): it is rebuilt when
 * `nc.info` changes (a reconnect).
 */
export class MalformedAnswers {
  readonly #service: string;
  readonly #instance: string;
  readonly #nc: NatsConnection;
  /** The `nc.info` the head parts were built for. */
  #info: unknown = null;
  /** `400 ` line, content-type, mesh-error, then `x-request-id: ` (the id follows). */
  #before = Buffer.alloc(0);
  /** The rest of the head after the id: `\n`, mesh-service, mesh-instance, mesh-server, mesh-cluster. */
  #after = Buffer.alloc(0);
  readonly #bodies = new Map<string, Buffer>();

  constructor(service: string, instance: string, nc: NatsConnection) {
    this.#service = service;
    this.#instance = instance;
    this.#nc = nc;
  }

  /**
   * The answer's payload.
   *
   * @param why - what is wrong (the body's `error` is `malformed message: <why>`); the bodies are
   *   cached by it
   * @param requestId - the generated `x-request-id`
   */
  encode(why: string, requestId: string): Uint8Array {
    const info = this.#nc.info;
    if (info !== this.#info) this.#build(info);
    const body = this.#body(why);
    const before = this.#before;
    const after = this.#after;
    const idLen = Buffer.byteLength(requestId, "utf8");
    const headLen = before.byteLength + idLen + after.byteLength;
    const out = Buffer.allocUnsafe(PREFIX_SIZE + headLen + body.byteLength);
    out[0] = 0x4e;
    out[1] = 0x4d;
    out[2] = VERSION;
    out[3] = Kind.Response;
    out.writeUInt32BE(headLen, 4);
    let at = PREFIX_SIZE;
    at += before.copy(out, at);
    at += out.write(requestId, at, "utf8");
    at += after.copy(out, at);
    body.copy(out, at);
    return out;
  }

  #body(why: string): Buffer {
    let body = this.#bodies.get(why);
    if (body === undefined) {
      body = Buffer.from(`{"error":${JSON.stringify(`malformed message: ${why}`)}${BODY_END}`);
      if (this.#bodies.size >= MAX_CACHED_BODIES) this.#bodies.clear();
      this.#bodies.set(why, body);
    }
    return body;
  }

  #build(info: NatsConnection["info"]): void {
    this.#info = info;
    this.#before = Buffer.from(
      `400 \ncontent-type: application/json\n${MeshHeader.Error}: ${ErrorCode.Malformed}\n${MeshHeader.RequestId}: `,
    );
    let after = `\n${MeshHeader.Service}: ${this.#service}\n${MeshHeader.Instance}: ${this.#instance}\n`;
    if (info?.server_name) after += `${MeshHeader.Server}: ${info.server_name}\n`;
    if (info?.cluster) after += `${MeshHeader.Cluster}: ${info.cluster}\n`;
    this.#after = Buffer.from(after);
  }
}
