import { type HeaderList, PREFIX_SIZE } from "../protocol/index.js";

/** Largest chunk natsmesh sends, in bytes, when the server's max_payload allows it. */
export const DEFAULT_CHUNK_SIZE = 128 * 1024;
/** Chunks a receiver lets a sender have in flight: with 128 KiB chunks, 2 MiB per stream at most. */
export const DEFAULT_WINDOW = 16;

/** Chunk size for a connection whose server allows `maxPayload` bytes per message. */
export function chunkSizeFor(maxPayload: number | undefined, wanted = DEFAULT_CHUNK_SIZE): number {
  if (maxPayload === undefined) return wanted;
  return Math.max(1, Math.min(wanted, maxPayload - PREFIX_SIZE));
}

/** The `content-length` of a head, when present and a plain number. */
export function declaredLength(headers: HeaderList): number | undefined {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length === 14 && name.toLowerCase() === "content-length") {
      const n = Number(headers[i + 1]);
      return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
    }
  }
  return undefined;
}
