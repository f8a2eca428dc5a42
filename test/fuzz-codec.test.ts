/**
 * Property-based tests (fast-check) of the wire decoder, `src/protocol/codec.ts`: every payload gets a
 * defined outcome — a record that satisfies every rule of PROTOCOL.md §2–§3, or the decoder's own typed
 * error (`MalformedMessageError` for requests, `BadResponseError` for responses) — and never anything
 * else (no TypeError, no RangeError, no hang on huge lengths). Most of the suite's fuzz cases run here,
 * on the pure decoder; `fuzz-serve.test.ts` sends fewer through a real nats-server.
 *
 * Stream kinds (PROTOCOL.md §8): chunk, end, credit and abort frames (0x03–0x06) are never a request, so
 * `decodeRequest` refuses them; the head of a streamed request (0x07) decodes like a request (its body
 * length is known only at the end). The frame decoder itself: test/fuzz-stream.test.ts.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BadResponseError,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  MAX_HEAD_SIZE,
  MalformedMessageError,
  type WireRequest,
  type WireResponse,
} from "../src/protocol/index.js";

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is checked.
const CTL = /[\x00-\x08\x0a-\x1f\x7f]/;

/** What a decoded request must satisfy, whatever bytes it came from (PROTOCOL.md §3). */
function assertValidRequest(req: WireRequest): void {
  expect(req.method).toMatch(TOKEN);
  expect(req.method).not.toContain(".");
  expect(req.method).not.toBe("*");
  expect(req.path === "*" || req.path.startsWith("/")).toBe(true);
  expect(req.path).not.toMatch(/[ \n\r]/);
  expect(req.headers.length % 2).toBe(0);
  for (let i = 0; i < req.headers.length; i += 2) {
    expect(req.headers[i]).toMatch(TOKEN);
    expect(req.headers[i + 1]).not.toMatch(CTL);
    if (req.headers[i]!.toLowerCase() === "content-length" && !isStreamed(req)) {
      expect(req.headers[i + 1]).toBe(String(req.body.byteLength));
    }
  }
}

function assertValidResponse(res: WireResponse): void {
  expect(Number.isInteger(res.status) && res.status >= 100 && res.status <= 599).toBe(true);
  expect(res.statusText).not.toMatch(CTL);
  for (let i = 0; i < res.headers.length; i += 2) {
    expect(res.headers[i]).toMatch(TOKEN);
    expect(res.headers[i + 1]).not.toMatch(CTL);
  }
}

/** The head of a streamed body (kind 7): its length is known only at its end. */
function isStreamed(req: WireRequest): boolean {
  return (req as { streamed?: boolean }).streamed === true;
}

type Outcome = "ok" | "malformed";

/** Decodes `data` as a request: "ok" with the rules checked, "malformed" for the typed error; anything else fails. */
function requestOutcome(data: Uint8Array): Outcome {
  let req: WireRequest;
  try {
    req = decodeRequest(data);
  } catch (err) {
    if (err instanceof MalformedMessageError) {
      expect(err.status).toBe(400);
      expect(err.message.length).toBeLessThan(400); // never echoes a huge head
      return "malformed";
    }
    throw err;
  }
  assertValidRequest(req);
  // a decoded request re-encodes to a payload that decodes to the same request (the head of a
  // streamed body, kind 7 once the Streaming issue lands, has no complete body to compare)
  if (!isStreamed(req)) {
    expect(decodeRequest(encodeRequest(req))).toEqual({ ...req, body: Buffer.from(req.body) });
  }
  return "ok";
}

function responseOutcome(data: Uint8Array): Outcome {
  let res: WireResponse;
  try {
    res = decodeResponse(data);
  } catch (err) {
    if (err instanceof BadResponseError) {
      expect(err.status).toBe(502);
      expect(err.message.length).toBeLessThan(400);
      return "malformed";
    }
    throw err;
  }
  assertValidResponse(res);
  return "ok";
}

function prefix(kind: number, headLen: number, version = 1): Uint8Array {
  const out = Buffer.alloc(8);
  out.set([0x4e, 0x4d, version, kind]);
  out.writeUInt32BE(headLen >>> 0, 4);
  return out;
}

function frame(head: Uint8Array, body: Uint8Array, kind = 1, version = 1, headLen = head.length): Uint8Array {
  return Buffer.concat([prefix(kind, headLen, version), head, body]);
}

// --- arbitraries of valid records --------------------------------------------------------------

const tchar = fc.constantFrom(
  ..."!#$%&'*+^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-",
);
const token = fc.string({ unit: tchar, minLength: 1, maxLength: 20 });
const method = token.filter((m) => !m.includes(".") && m !== "*");
const pathChar = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789/?=&%._~-+:@!$'()*,;");
const path = fc.oneof(
  fc.constant("*"),
  fc.string({ unit: pathChar, maxLength: 60 }).map((s) => `/${s}`),
);
/** Printable text (with HTAB and non-ASCII letters), never a control character. */
const valueChar = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.constantFrom("\t", "é", "ü", "€", "漢", "😀", "\u0085") },
);
const value = fc.string({ unit: valueChar, maxLength: 40 });
const body = fc.uint8Array({ maxLength: 256 });
const headerPairs = fc
  .array(
    fc.tuple(
      token.filter((n) => n.toLowerCase() !== "content-length"),
      value,
    ),
    { maxLength: 12 },
  )
  .map((pairs) => pairs.flat());

const wireRequest: fc.Arbitrary<WireRequest> = fc.record({ method, path, headers: headerPairs, body });
const wireResponse: fc.Arbitrary<WireResponse> = fc.record({
  status: fc.integer({ min: 100, max: 599 }),
  statusText: value,
  headers: headerPairs,
  body,
});

describe("fuzz codec - valid records", () => {
  it("fuzz codec - every valid request survives encode → decode unchanged (1500 cases)", () => {
    fc.assert(
      fc.property(wireRequest, fc.boolean(), (req, withLength) => {
        const headers = withLength
          ? [...req.headers, "Content-Length", String(req.body.byteLength)]
          : req.headers;
        const sent = { ...req, headers };
        const got = decodeRequest(encodeRequest(sent));
        expect(got.method).toBe(sent.method);
        expect(got.path).toBe(sent.path);
        expect(got.headers).toEqual(sent.headers);
        expect(Buffer.from(got.body).equals(Buffer.from(sent.body))).toBe(true);
      }),
      { numRuns: 1500 },
    );
  });

  it("fuzz codec - every valid response survives encode → decode unchanged (1000 cases)", () => {
    fc.assert(
      fc.property(wireResponse, (res) => {
        const got = decodeResponse(encodeResponse(res));
        expect({ ...got, body: Buffer.from(got.body) }).toEqual({ ...res, body: Buffer.from(res.body) });
      }),
      { numRuns: 1000 },
    );
  });
});

describe("fuzz codec - hostile payloads", () => {
  it("fuzz codec - a head with invalid UTF-8 is malformed; a head that carries U+FFFD itself is not", () => {
    const bad = frame(
      Buffer.concat([Buffer.from("GET /\nx-a: "), Buffer.from([0xc3, 0x28]), Buffer.from("\n")]),
      Buffer.alloc(0),
    );
    expect(() => decodeRequest(bad)).toThrow(/not valid UTF-8/);
    const lone = frame(
      Buffer.concat([Buffer.from("GET /\nx-a: "), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from("\n")]),
      Buffer.alloc(0),
    );
    expect(() => decodeRequest(lone)).toThrow(/not valid UTF-8/);
    const replacement = decodeRequest(frame(Buffer.from("GET /\nx-a: \uFFFD\n", "utf8"), Buffer.alloc(0)));
    expect(replacement.headers).toEqual(["x-a", "\uFFFD"]);
  });

  it("fuzz codec - random bytes: a valid request or MalformedMessageError, nothing else (2000 cases)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
        requestOutcome(data);
        responseOutcome(data);
      }),
      { numRuns: 2000 },
    );
  });

  it("fuzz codec - a valid prefix with a random head and head length: defined outcome (2000 cases)", () => {
    // random head text mixing protocol-looking pieces with CR, NUL, DEL, invalid UTF-8 and lone
    // surrogates' bytes; the head length may lie (shorter, longer, absurd)
    const piece = fc.oneof(
      fc.constantFrom("GET", "POST", " ", "/", "\n", "\r", "\r\n", ": ", ":", "\t", "*", ".", "200 OK"),
      fc.constantFrom("content-length", "Content-Length: 0", "x-a", "mesh-error", "%", "\u0000", "\u007f"),
      fc.string({ maxLength: 8 }),
    );
    const head = fc.oneof(
      fc.array(piece, { maxLength: 30 }).map((parts) => Buffer.from(parts.join(""), "utf8")),
      fc.uint8Array({ maxLength: 80 }),
    );
    const lie = fc.oneof(
      fc.constant(0),
      fc.integer({ min: -8, max: 8 }),
      fc.constantFrom(MAX_HEAD_SIZE, MAX_HEAD_SIZE + 1, 0x7fffffff, 0xffffffff),
    );
    fc.assert(
      fc.property(head, fc.uint8Array({ maxLength: 64 }), lie, fc.constantFrom(1, 2), (h, b, delta, kind) => {
        const headLen = delta > 8 ? delta : Math.max(0, h.length + delta);
        const data = frame(h, b, kind, 1, headLen);
        requestOutcome(data);
        responseOutcome(data);
      }),
      { numRuns: 2000 },
    );
  });

  it("fuzz codec - single-byte mutations, truncations and insertions of valid frames (2000 cases)", () => {
    const mutation = fc.oneof(
      fc.record({ op: fc.constant("set" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ op: fc.constant("cut" as const), at: fc.nat(), byte: fc.constant(0) }),
      fc.record({ op: fc.constant("insert" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    );
    fc.assert(
      fc.property(wireRequest, fc.array(mutation, { minLength: 1, maxLength: 4 }), (req, mutations) => {
        let data = Buffer.from(encodeRequest(req));
        for (const m of mutations) {
          const at = m.at % (data.length + 1);
          if (m.op === "set" && at < data.length) data[at] = m.byte;
          else if (m.op === "cut") data = data.subarray(0, at);
          else data = Buffer.concat([data.subarray(0, at), Buffer.from([m.byte]), data.subarray(at)]);
        }
        requestOutcome(data);
      }),
      { numRuns: 2000 },
    );
  });

  it("fuzz codec - header names and values with CR, LF, NUL or other controls never decode into a record (1000 cases)", () => {
    const ctl = fc.integer({ min: 0, max: 0x1f }).filter((c) => c !== 9 && c !== 10);
    const evil = fc
      .tuple(value, fc.oneof(ctl, fc.constant(0x7f)), value)
      .map(([a, c, b]) => `${a}${String.fromCharCode(c)}${b}`);
    fc.assert(
      fc.property(method, evil, fc.boolean(), (m, bad, inName) => {
        const line = inName ? `${bad}: v` : `x-evil: ${bad}`;
        const data = frame(Buffer.from(`${m} /\n${line}\n`), new Uint8Array());
        expect(requestOutcome(data)).toBe("malformed");
      }),
      { numRuns: 1000 },
    );
  });

  it("fuzz codec - unknown versions and kinds (stream frames 0x03–0x06 included) are refused as malformed (500 cases)", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 255 })),
        fc.oneof(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 255 })),
        wireRequest,
        (version, kind, req) => {
          const good = Buffer.from(encodeRequest(req));
          good[2] = version;
          good[3] = kind;
          const outcome = requestOutcome(good);
          // Version 1, kind 1 is a request, and so is kind 7 (the head of a streamed request body);
          // kinds 3–6 (chunk, end, credit, abort) are never a request, nor is any other kind or version.
          if (version !== 1 || (kind !== 1 && kind !== 7)) expect(outcome).toBe("malformed");
          else expect(outcome).toBe("ok");
        },
      ),
      { numRuns: 500 },
    );
  });

  it("fuzz codec - heads near and past the 1 MiB limit are decided without reading past the payload", () => {
    for (const size of [MAX_HEAD_SIZE - 8, MAX_HEAD_SIZE, MAX_HEAD_SIZE + 1, 4 * MAX_HEAD_SIZE]) {
      const head = Buffer.from(`GET /\nx-big: ${"v".repeat(Math.max(0, size - 15))}\n`);
      const outcome = requestOutcome(frame(head, new Uint8Array()));
      expect(outcome).toBe(head.length <= MAX_HEAD_SIZE ? "ok" : "malformed");
    }
    // a claimed head length far beyond a tiny payload
    expect(requestOutcome(frame(Buffer.from("GET /\n"), new Uint8Array(), 1, 1, MAX_HEAD_SIZE))).toBe(
      "malformed",
    );
  });
});
