/**
 * Per-operation CPU cost of each head encoding, without NATS (explains run.ts figures).
 *   npx tsx bench/wire/micro.ts
 */
import { MsgHdrsImpl } from "@nats-io/nats-core";
import {
  ACCEPT,
  BODY,
  CONTENT_TYPE,
  FLAG_JSON,
  FLAG_TEXT,
  frame,
  headerValue,
  jsonRequestHead,
  PATH,
  parseHeaderBlock,
  parseJsonRequestHead,
  parseTextRequestHead,
  RawHdrs,
  requestHeaders,
  textRequestHead,
  unframe,
} from "./codec.js";

let sink = 0;

const lookups = (flat: string[]) =>
  (headerValue(flat, "content-type") ?? "").length +
  (headerValue(flat, "accept") ?? "").length +
  (headerValue(flat, "x-request-id") ?? "").length;

function bench(name: string, fn: (i: number) => number): void {
  for (let i = 0; i < 20_000; i++) sink += fn(i); // warm-up / JIT
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < 400) {
    for (let k = 0; k < 1000; k++) sink += fn(n++);
    t = performance.now();
  }
  console.log(`| ${name} | ${(((t - t0) * 1e6) / n).toFixed(0)} |`);
}

function libHeaders(rid: string) {
  const h = new MsgHdrsImpl(); // what headers() returns
  h.set("Mesh-Path", PATH);
  h.set("Content-Type", CONTENT_TYPE);
  h.set("Accept", ACCEPT);
  h.set("X-Request-Id", rid);
  return h;
}
const rawHeaders = (rid: string) =>
  new RawHdrs(["Mesh-Path", PATH, "Content-Type", CONTENT_TYPE, "Accept", ACCEPT, "X-Request-Id", rid]);

const block = libHeaders("12345").encode();
const flagBlock = (() => {
  const h = new MsgHdrsImpl(); // what headers() returns
  h.set("Mesh-Head", "1");
  return h.encode();
})();
const jsonFrame = frame(
  jsonRequestHead({ method: "GET", path: PATH, headers: requestHeaders("12345") }),
  BODY,
  0,
);
const textFrame = frame(
  textRequestHead({ method: "GET", path: PATH, headers: requestHeaders("12345") }),
  BODY,
  1,
);

console.log("| operation (request side, 4 headers) | ns/op |\n|---|---|");
bench("C  build: headers() + 4×set()", (i) => libHeaders(String(i)).size());
bench("C  build+encode: headers() + 4×set() + encode()", (i) => libHeaders(String(i)).encode().length);
bench("C2 build+encode: RawHdrs + encode()", (i) => rawHeaders(String(i)).encode().length);
bench("C  read: MsgHdrsImpl.decode() + 4×get()", () => {
  const h = MsgHdrsImpl.decode(block);
  return (
    h.get("Mesh-Path").length +
    h.get("Content-Type").length +
    h.get("Accept").length +
    h.get("X-Request-Id").length
  );
});
bench("C  read: MsgHdrsImpl.decode() only", () => MsgHdrsImpl.decode(block).size());
bench("C3 read: parseHeaderBlock() + 4 lookups", () => {
  const p = parseHeaderBlock(block);
  return (
    (headerValue(p, "Mesh-Path") ?? "").length +
    (headerValue(p, "Content-Type") ?? "").length +
    (headerValue(p, "Accept") ?? "").length +
    (headerValue(p, "X-Request-Id") ?? "").length
  );
});
bench("D2 flag: headers() + set(Mesh-Head) + encode()", () => {
  const h = new MsgHdrsImpl(); // what headers() returns
  h.set("Mesh-Head", "1");
  return h.encode().length;
});
bench(
  "D2 flag: MsgHdrsImpl.decode() + get(Mesh-Head)",
  () => MsgHdrsImpl.decode(flagBlock).get("Mesh-Head").length,
);
bench(
  "D  build: JSON.stringify head + frame()",
  (i) =>
    frame(jsonRequestHead({ method: "GET", path: PATH, headers: requestHeaders(String(i)) }), BODY, FLAG_JSON)
      .length,
);
bench("D  read: unframe() + JSON.parse + 4 lookups", () => {
  const { head, body } = unframe(jsonFrame, FLAG_JSON);
  const h = parseJsonRequestHead(head);
  return h.path.length + body.length + lookups(h.headers);
});
bench(
  "E  build: text lines + frame()",
  (i) =>
    frame(textRequestHead({ method: "GET", path: PATH, headers: requestHeaders(String(i)) }), BODY, FLAG_TEXT)
      .length,
);
bench("E  read: unframe() + indexOf/slice parse + 4 lookups", () => {
  const { head, body } = unframe(textFrame, FLAG_TEXT);
  const h = parseTextRequestHead(head);
  return h.path.length + body.length + lookups(h.headers);
});
if (sink === 42) console.log("");
