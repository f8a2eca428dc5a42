/**
 * The streams and environment a command works with, so commands never reach for globals.
 *
 * @module
 */
import type { Readable, Writable } from "node:stream";
import type { Env } from "../connect/index.js";

/** Standard streams and environment of a command. */
export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  env: Env;
}

/**
 * Returns the streams and environment of this process.
 *
 * @returns `process.stdout`, `process.stderr`, `process.stdin` and `process.env`
 * @example
 * ```ts
 * const code = await runCli(process.argv, processIo());
 * ```
 */
export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };
}

/**
 * Writes bytes or text and waits until the stream accepted them. A closed pipe (`EPIPE`: the
 * reader went away, as with `| head`) is not an error.
 *
 * @param stream - the stream to write to
 * @param chunk - bytes or text
 * @returns once the chunk is handed to the operating system
 * @throws the stream's write error, other than `EPIPE`
 * @example
 * ```ts
 * await writeAll(process.stdout, new Uint8Array(await res.arrayBuffer()));
 * ```
 */
export function writeAll(stream: Writable, chunk: Uint8Array | string): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(chunk, (err) => {
      if (err && (err as NodeJS.ErrnoException).code !== "EPIPE") reject(err);
      else resolve();
    });
  });
}

/**
 * Reads a stream to its end.
 *
 * @param stream - the stream, e.g. stdin
 * @returns all its bytes
 * @throws the stream's read error
 * @example
 * ```ts
 * const body = await readAll(process.stdin);
 * ```
 */
export async function readAll(stream: Readable): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}
