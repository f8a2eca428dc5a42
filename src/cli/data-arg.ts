/**
 * Reads the request body given with `-d`: text, `@file`, or `@-` for stdin.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import type { Readable } from "node:stream";
import { CliError } from "./cli-error.js";
import { readAll } from "./io.js";

/** What curl puts between repeated `-d` values. */
const SEPARATOR = "&";

const FILE_PROBLEMS: Readonly<Record<string, string>> = {
  ENOENT: "no such file",
  EACCES: "permission denied",
  EISDIR: "is a directory",
} as const;

async function readPart(part: string, stdin: Readable): Promise<Uint8Array> {
  if (!part.startsWith("@")) return Buffer.from(part, "utf8");
  const path = part.slice(1);
  if (path === "-") return readAll(stdin);
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "";
    const problem = FILE_PROBLEMS[code] ?? (err as Error).message;
    throw new CliError(`cannot read -d @${path}: ${problem}`, { cause: err });
  }
}

/**
 * Builds the request body from the `-d` values, like curl: `@file` reads a file, `@-` reads stdin,
 * anything else is sent as text, and several values are joined with `&`. Unlike curl, files are sent
 * byte for byte (newlines are kept).
 *
 * @param parts - the `-d` values, in order
 * @param stdin - the stream read for `@-`
 * @returns the body, or `undefined` without `-d`
 * @throws {@link CliError} `cannot read -d @body.json: no such file` when a file cannot be read
 * @example
 * ```ts
 * await readData(["a=1", "b=2"], process.stdin); // bytes of "a=1&b=2"
 * ```
 */
export async function readData(
  parts: readonly string[],
  stdin: Readable,
): Promise<Uint8Array<ArrayBuffer> | undefined> {
  if (parts.length === 0) return undefined;
  const chunks: Uint8Array[] = [];
  for (const [i, part] of parts.entries()) {
    if (i > 0) chunks.push(Buffer.from(SEPARATOR));
    chunks.push(await readPart(part, stdin));
  }
  return Buffer.concat(chunks);
}
