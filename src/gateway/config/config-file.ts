/**
 * Reads a gateway configuration file: YAML, or JSON (which YAML 1.2 reads as well).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import { GatewayConfigError } from "../errors.js";

/**
 * Reads and parses a configuration file. Only the syntax is checked here; `resolveConfig` checks the
 * content. Reading is synchronous: it happens once, before the gateway listens.
 *
 * @param file - path of a `.yaml`, `.yml` or `.json` file
 * @returns the parsed content (`undefined` for an empty file)
 * @throws {@link GatewayConfigError} when the file cannot be read or parsed, e.g.
 *   `gateway.yaml: cannot read the file (ENOENT)` or
 *   `gateway.yaml: line 3, column 5: Implicit map keys need to be followed by map values`
 * @example
 * ```ts
 * const raw = readConfigFile("gateway.yaml");
 * ```
 */
export function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new GatewayConfigError(file, `cannot read the file (${code})`, { cause: err });
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const error = doc.errors[0];
  if (error) {
    const pos = error.linePos?.[0];
    const at = pos ? `line ${pos.line}, column ${pos.col}: ` : "";
    const message = error.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
    throw new GatewayConfigError(file, `${at}${message}`, { cause: error });
  }
  return doc.toJS() as unknown;
}
