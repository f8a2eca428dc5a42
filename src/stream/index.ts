/**
 * Streamed bodies (PROTOCOL.md §8): reading a source in pieces, sending them as credit allows, and
 * receiving them in order into a `ReadableStream`. No NATS here: the client and the server give each
 * part a function that publishes a frame.
 *
 * @module
 */
export { ChunkReader, type ResumedRead } from "./chunk-reader.js";
export { type ReceiverOptions, StreamReceiver } from "./receiver.js";
export { type SenderOptions, StreamSender } from "./sender.js";
export { chunkSizeFor, DEFAULT_CHUNK_SIZE, DEFAULT_WINDOW, declaredLength } from "./settings.js";
export { readSmall, SMALL_BODY_WAIT_MS, type SmallBody } from "./small-body.js";
