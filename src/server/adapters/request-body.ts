/**
 * The Body mixin's reads (Fetch §6.2: `arrayBuffer()`, `blob()`, `bytes()`, `formData()`, `json()`,
 * `text()`) over a request body already in memory, as the platform's own give them, without the
 * ReadableStream the platform builds and reads for each. The Request a Fetch handler gets
 * (lazy-request.ts) answers its body reads here.
 *
 * @module
 */
import { Buffer } from "node:buffer";

/** The names of the Body mixin's reading methods. */
export type BodyRead = "arrayBuffer" | "blob" | "bytes" | "formData" | "json" | "text";

/** Every {@link BodyRead}, in Request.prototype's order. */
export const BODY_READS: readonly BodyRead[] = ["blob", "arrayBuffer", "text", "json", "formData", "bytes"];

/** The platform's message for a second read of a body (undici's, on every supported Node). */
export const BODY_UNUSABLE = "Body is unusable: Body has already been read";

/** A MIME type the platform would serialise as itself lower-cased: `type/subtype`, no parameters. */
const PLAIN_MIME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** UTF-8 decode as Fetch's "UTF-8 decode" does: a leading byte order mark is dropped. */
export function decodeUtf8(bytes: Uint8Array): string {
  const bom = bytes.byteLength >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8", bom ? 3 : 0);
}

/** A fresh ArrayBuffer with a copy of `bytes` (the caller may keep and change it). */
function copyOf(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/**
 * The platform's own reading of `bytes` with this content type: for what needs the Body mixin's MIME
 * parsing (a blob's type with parameters, form data). It builds a platform Response; no Request.
 */
function viaPlatform(read: "blob" | "formData", bytes: Uint8Array, contentType: string | null) {
  const init = contentType === null ? undefined : { headers: { "content-type": contentType } };
  return new Response(bytes as Uint8Array<ArrayBuffer>, init)[read]();
}

/**
 * Reads `bytes` (a body that is all in memory; empty for a request without one) as the platform's
 * `read` would.
 *
 * @param contentType - the request's `Content-Type` now, for `blob()`'s type and `formData()`.
 * @returns what the platform's method resolves to
 * @throws SyntaxError from `json()` for a body that is not JSON; TypeError from `formData()` as the
 *   platform's (a content type that is not form data, a malformed body)
 */
export async function readBody(
  read: BodyRead,
  bytes: Uint8Array,
  contentType: string | null,
): Promise<unknown> {
  switch (read) {
    case "text":
      return decodeUtf8(bytes);
    case "json":
      return JSON.parse(decodeUtf8(bytes));
    case "arrayBuffer":
      return copyOf(bytes);
    case "bytes":
      return new Uint8Array(copyOf(bytes));
    case "blob":
      if (contentType === null || PLAIN_MIME.test(contentType)) {
        return new Blob([bytes as Uint8Array<ArrayBuffer>], { type: contentType?.toLowerCase() ?? "" });
      }
      return viaPlatform("blob", bytes, contentType);
    case "formData":
      return viaPlatform("formData", bytes, contentType);
  }
}
