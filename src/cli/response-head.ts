/**
 * Formats a response's status line and headers, as `curl -i` prints them.
 *
 * @module
 */
import { STATUS_CODES } from "node:http";

/**
 * Formats `HTTP/1.1 <status> <text>`, one `name: value` line per header (each `set-cookie` on its
 * own line), and the blank line that ends the head. Lines end with CRLF, as on the wire. A missing
 * status text is replaced by the standard reason phrase.
 *
 * @param res - the response
 * @returns the head, ending with an empty line
 * @example
 * ```ts
 * formatHead(new Response("x", { status: 404 })); // "HTTP/1.1 404 Not Found\r\ncontent-type: ...\r\n\r\n"
 * ```
 */
export function formatHead(res: Response): string {
  const text = res.statusText || STATUS_CODES[res.status] || "";
  const lines = [`HTTP/1.1 ${res.status}${text ? ` ${text}` : ""}`];
  for (const [name, value] of res.headers) lines.push(`${name}: ${value}`);
  return `${lines.join("\r\n")}\r\n\r\n`;
}
