/**
 * PROTOCOL.md's worked example (§3) is what the codec produces: a peer written from the document
 * alone sends these bytes (issue 18: the head length was printed as 0x25, which a service refuses).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { decodeAccessRecords, encodeAccessRecord, encodeRequest, readRequest } from "../src/internal.js";
import { REPO_ROOT } from "./support/nats-server.js";

/** The example's prefix bytes and head text, as printed in PROTOCOL.md §3. */
function documentedExample(): { prefix: number[]; head: string } {
  const doc = readFileSync(path.join(REPO_ROOT, "PROTOCOL.md"), "utf8");
  const m = /Example request[^\n]*\n\n```\n([0-9A-F ]+)\n"([^"]*)"\n```/.exec(doc);
  if (!m) throw new Error("PROTOCOL.md §3 example not found");
  return {
    prefix: m[1]!
      .trim()
      .split(/\s+/)
      .map((b) => Number.parseInt(b, 16)),
    head: JSON.parse(`"${m[2]!}"`) as string,
  };
}

describe("protocol doc - §3 example", () => {
  it("protocol doc - the example's bytes are what the codec encodes, and they decode back", () => {
    const { prefix, head } = documentedExample();
    const encoded = encodeRequest({
      method: "GET",
      path: "/city?q=london",
      headers: ["accept", "application/json"],
      body: new Uint8Array(0),
    });
    const documented = Uint8Array.from([...prefix, ...Buffer.from(head, "utf8")]);
    expect([...documented]).toEqual([...encoded]);
    const req = readRequest(documented);
    expect(typeof req).not.toBe("string");
    expect(req).toMatchObject({
      method: "GET",
      path: "/city?q=london",
      headers: ["accept", "application/json"],
    });
  });

  it("protocol doc - the head length the text states matches the prefix", () => {
    const doc = readFileSync(path.join(REPO_ROOT, "PROTOCOL.md"), "utf8");
    const stated = /with one header\), (\d+)-byte head \(0x([0-9A-F]+)\)/.exec(doc);
    const { prefix, head } = documentedExample();
    const length = Buffer.byteLength(head, "utf8");
    expect(Number(stated?.[1])).toBe(length);
    expect(Number.parseInt(stated?.[2] ?? "", 16)).toBe(length);
    expect(Buffer.from(prefix.slice(4)).readUInt32BE(0)).toBe(length);
  });
});

describe("protocol doc - §11 access record", () => {
  it("protocol doc - the example record is what the encoder writes, and it decodes back", () => {
    const doc = readFileSync(path.join(REPO_ROOT, "PROTOCOL.md"), "utf8");
    const line = /\n```\n(\{"v":1,[^\n]*\})\n```/.exec(doc)?.[1];
    if (!line) throw new Error("PROTOCOL.md §11 example record not found");
    const { records, malformed } = decodeAccessRecords(Buffer.from(`${line}\n`));
    expect(malformed).toBe(0);
    expect(records).toHaveLength(1);
    expect(encodeAccessRecord(records[0]!)).toBe(line);
  });
});
