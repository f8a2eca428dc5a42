/**
 * Property-based tests (fast-check) of streamed request bodies (PROTOCOL.md §8) sent raw to `serve()` on
 * a real nats-server by a hostile caller: a stream head (kind 7), then, on the subject the instance
 * hands over with its first credit, a random script of frames — chunks with right, repeated, skipped,
 * zero or random sequence numbers, empty chunks, ends too early or too late, lying content-lengths,
 * credits, aborts, garbage — or nothing at all (a stream that never ends). Every exchange ends in a
 * defined outcome within its deadline: a well-formed stream is answered 200 by the handler with the
 * body it sent; anything else ends in an error answer or an abort frame, never silence (but after the
 * caller's own abort, which the instance answers with nothing, PROTOCOL.md §8.4); no slot stays
 * taken and nothing leaks. Plus the stream frame decoder on random bytes.
 */
import { createInbox, type Msg, type NatsConnection } from "@nats-io/transport-node";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServiceHandle, StreamError, serve } from "../src/index.js";
import { decodeFrame, decodeResponse, encodeFrame, FrameKind } from "../src/internal.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

/** The handler's deadline: a stream without heartbeats that never ends is answered 504 by then. */
const HANDLER_TIMEOUT = 600;
/** The longest any exchange may take to reach its outcome. */
const OUTCOME_WITHIN = 3000;

function streamHead(head: string, first: Uint8Array): Uint8Array {
  const h = Buffer.from(head);
  const out = Buffer.alloc(8 + h.length + first.length);
  out.set([0x4e, 0x4d, 1, 7]);
  out.writeUInt32BE(h.length, 4);
  out.set(h, 8);
  out.set(first, 8 + h.length);
  return out;
}

type Op =
  | { op: "chunk"; seq: "next" | "repeat" | "skip" | "zero" | number; body: Uint8Array }
  | { op: "end"; seq: "next" | number }
  | { op: "credit"; n: number }
  | { op: "abort" }
  | { op: "garbage"; bytes: Uint8Array };

const chunkBody = fc.oneof(
  { weight: 9, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 40 }) },
  {
    weight: 1,
    arbitrary: fc.constant(new Uint8Array(0)),
  },
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      op: fc.constant("chunk" as const),
      seq: fc.constant("next" as const),
      body: chunkBody,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("chunk" as const),
      seq: fc.oneof(fc.constantFrom("repeat" as const, "skip" as const, "zero" as const), fc.nat()),
      body: chunkBody,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("end" as const),
      seq: fc.oneof(fc.constant("next" as const), fc.nat()),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("credit" as const), n: fc.nat({ max: 100 }) }) },
  { weight: 1, arbitrary: fc.constant({ op: "abort" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("garbage" as const), bytes: fc.uint8Array({ maxLength: 30 }) }),
  },
);

/** One hostile caller's exchange. */
interface Scenario {
  /** body bytes in the head message */
  first: Uint8Array;
  /** heartbeat asked for, ms; 0: none (then only the handler's deadline ends a silent stream) */
  heartbeat: number;
  /** frames sent after the instance's first credit */
  ops: Op[];
  /** close with a correct end frame */
  finish: boolean;
  /** content-length: the true total, a wrong one, or none */
  length: "true" | "wrong" | "none";
}

const scenario: fc.Arbitrary<Scenario> = fc.record({
  first: fc.uint8Array({ maxLength: 24 }),
  heartbeat: fc.oneof(
    { weight: 5, arbitrary: fc.integer({ min: 50, max: 120 }) },
    { weight: 1, arbitrary: fc.constant(0) },
  ),
  ops: fc.array(opArb, { maxLength: 10 }),
  finish: fc.boolean(),
  length: fc.constantFrom("true" as const, "wrong" as const, "none" as const),
});
/**
 * The frames a scenario sends after the instance's first credit; whether they make a valid stream up to
 * its end, how many body bytes that is, and whether more frames follow the end (which the instance may
 * ignore, or — an abort — act on while it answers).
 */
function script(s: Scenario): {
  frames: Uint8Array[];
  valid: boolean;
  bytes: number;
  trailing: boolean;
  aborted: boolean;
} {
  const frames: Uint8Array[] = [];
  let next = 1;
  let valid = true;
  let bytes = s.first.byteLength;
  let ended = false;
  let trailing = false;
  let chunks = 0;
  for (const o of s.ops) {
    if (ended) {
      trailing = true;
      frames.push(encodeOp(o, next));
      continue;
    }
    if (o.op === "chunk") {
      const n =
        o.seq === "next"
          ? next
          : o.seq === "repeat"
            ? next - 1
            : o.seq === "skip"
              ? next + 1
              : o.seq === "zero"
                ? 0
                : o.seq;
      if (n !== next || o.body.byteLength === 0) valid = false;
      frames.push(encodeFrame(FrameKind.Chunk, n, o.body));
      if (n === next) next++;
      bytes += o.body.byteLength;
      chunks++;
    } else if (o.op === "end") {
      const n = o.seq === "next" ? next : o.seq;
      frames.push(encodeFrame(FrameKind.End, n));
      if (n === next) {
        next++;
        ended = true;
      } else valid = false;
    } else if (o.op === "credit") {
      frames.push(encodeFrame(FrameKind.Credit, o.n)); // a caller granting credit for an upload it sends
      if (o.n === 0) continue; // a heartbeat: harmless
    } else if (o.op === "abort") {
      frames.push(encodeFrame(FrameKind.Abort, 0, Buffer.from("NM_ERR_STREAM gave up")));
      valid = false;
    } else {
      frames.push(o.bytes);
      valid = false;
    }
  }
  if (s.finish && !ended) {
    frames.push(encodeFrame(FrameKind.End, next));
    ended = true;
  }
  if (!ended || chunks > 16) valid = false; // no end: never valid; more than the first window: not sure
  const aborted = s.ops.some((o) => o.op === "abort");
  return { frames, valid, bytes, trailing, aborted };
}

/** A frame after the end, as sent (its sequence number no longer matters). */
function encodeOp(o: Op, next: number): Uint8Array {
  if (o.op === "chunk") return encodeFrame(FrameKind.Chunk, next, o.body);
  if (o.op === "end") return encodeFrame(FrameKind.End, next);
  if (o.op === "credit") return encodeFrame(FrameKind.Credit, o.n);
  if (o.op === "abort") return encodeFrame(FrameKind.Abort, 0, Buffer.from("NM_ERR_STREAM gave up"));
  return o.bytes;
}

let nats: NatsFixture;
let nc: NatsConnection;
let svcConn: NatsConnection;
let svc: ServiceHandle;

async function echoLength(req: Request): Promise<Response> {
  const body = await req.arrayBuffer();
  return new Response(`${req.method} ${new URL(req.url).pathname} ${body.byteLength}`);
}

beforeAll(async () => {
  nats = await natsFixture();
  nc = nats.nc;
  svcConn = await nats.connect();
  svc = await serve(echoLength, {
    service: "upload",
    nc: svcConn,
    logger: silent,
    metrics: false,
    timeout: HANDLER_TIMEOUT,
  });
});

afterAll(async () => {
  await svc?.stop();
  await nats?.[Symbol.asyncDispose]();
});

type Outcome = { kind: "response"; status: number; text: string } | { kind: "abort" } | { kind: "none" };

/** Runs one hostile caller: head, then the script on the handed-over subject; resolves with the outcome. */
function run(
  s: Scenario,
): Promise<{ outcome: Outcome; valid: boolean; bytes: number; trailing: boolean; aborted: boolean }> {
  const { frames, valid, bytes, trailing, aborted } = script(s);
  const total = bytes;
  const declared = s.length === "true" ? total : s.length === "wrong" ? total + 1 : undefined;
  // a lying content-length makes the stream invalid (checked at its end)
  const validStream = valid && declared !== total + 1;
  const inbox = createInbox();
  const head = [
    "POST /up",
    ...(s.heartbeat > 0 ? [`mesh-heartbeat: ${s.heartbeat}`] : []),
    ...(declared !== undefined ? [`content-length: ${declared}`] : []),
    "",
  ].join("\n");
  return new Promise((resolve) => {
    let handedOver = false;
    const timer = setTimeout(() => finish({ kind: "none" }), OUTCOME_WITHIN);
    const sub = nc.subscribe(inbox, {
      callback: (_err, msg: Msg) => {
        const kind = msg.data[3];
        if (kind === FrameKind.Credit) {
          if (!handedOver && msg.reply) {
            handedOver = true;
            for (const f of frames) nc.publish(msg.reply, f);
            // After the caller's abort the instance sends nothing more. Its answer to a ping sent
            // after the frames comes once it has taken them (one connection each way, in order), so
            // silence until then is the outcome: no fixed wait.
            if (aborted)
              nc.request("$SRV.PING.upload", undefined, { timeout: OUTCOME_WITHIN }).then(
                () => finish({ kind: "none" }),
                () => undefined,
              );
          }
          return; // further credit and heartbeats
        }
        if (kind === FrameKind.Abort) return finish({ kind: "abort" });
        const res = decodeResponse(msg.data);
        finish({ kind: "response", status: res.status, text: Buffer.from(res.body).toString() });
      },
    });
    let settled = false;
    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sub.unsubscribe();
      resolve({ outcome, valid: validStream, bytes: total, trailing, aborted });
    };
    nc.publish("mesh.upload.post", streamHead(head, s.first), { reply: inbox });
  });
}

describe("fuzz stream - hostile streamed request bodies against serve()", () => {
  it("fuzz stream - 150 random streams: a valid one is answered 200 with its length, the rest end in an error or abort, never silence (unless the caller aborted)", async () => {
    let valid = 0;
    let invalid = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(scenario, { minLength: 15, maxLength: 15 }), async (batch) => {
        const results = await Promise.all(batch.map(run));
        for (const r of results) {
          // Silence only after the caller's own abort: the receiver of an abort sends nothing more
          // (PROTOCOL.md §8.4); the handler's answer is dropped, counted as a cancellation.
          if (!r.aborted) expect(r.outcome.kind).not.toBe("none");
          const answered = { kind: "response", status: 200, text: `POST /up ${r.bytes}` };
          if (r.valid && !r.trailing) {
            valid++;
            expect(r.outcome).toEqual(answered);
          } else if (r.valid && r.outcome.kind === "response" && r.outcome.status === 200) {
            // frames after a complete body: ignored, or (an abort) acted on while the instance answered
            expect(r.outcome).toEqual(answered);
          } else {
            invalid++;
            if (r.outcome.kind === "response") expect(r.outcome.status).toBeGreaterThanOrEqual(400);
          }
        }
      }),
      // Seeded, so that the share of valid streams the bounds below count on is the same in every run
      // (unseeded, one run in many drew only 10 valid of 150); FUZZ_SEED=<n> explores other draws.
      { numRuns: 10, endOnFailure: true, seed: Number(process.env.FUZZ_SEED ?? 20261207) },
    );
    expect(valid).toBeGreaterThan(10);
    expect(invalid).toBeGreaterThan(30);
    // nothing stays taken: every handler ended, every exchange was released
    await check(() => svc.stats().inFlight === 0 && svc.stats().queued === 0, 3000, { name: "slots freed" });
  });

  it("fuzz stream - a stream head whose body never comes, without heartbeats, is answered 504 at the handler's deadline", async () => {
    const started = performance.now();
    const inbox = createInbox();
    const answer = new Promise<Msg>((resolve) => {
      const sub = nc.subscribe(inbox, {
        callback: (_e, m) => {
          if (m.data[3] !== FrameKind.Credit) {
            sub.unsubscribe();
            resolve(m);
          }
        },
      });
    });
    nc.publish("mesh.upload.post", streamHead("POST /up\n", new Uint8Array()), { reply: inbox });
    const res = decodeResponse((await answer).data);
    expect(res.status).toBe(504);
    expect(performance.now() - started).toBeGreaterThanOrEqual(HANDLER_TIMEOUT - 50);
  });
});

describe("fuzz stream - frame decoder", () => {
  it("fuzz stream - decodeFrame on random bytes and mutated frames: a frame or StreamError, nothing else (2000 cases)", () => {
    const frameBytes = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc
        .tuple(fc.integer({ min: 0, max: 10 }), fc.nat(), fc.uint8Array({ maxLength: 40 }))
        .map(([kind, n, body]) => {
          const prefix = Buffer.from([0x4e, 0x4d, 1, kind, 0, 0, 0, 0]);
          prefix.writeUInt32BE(n >>> 0, 4);
          return Buffer.concat([prefix, body]);
        }),
    );
    fc.assert(
      fc.property(frameBytes, (data) => {
        try {
          const f = decodeFrame(data);
          expect([FrameKind.Chunk, FrameKind.End, FrameKind.Credit, FrameKind.Abort]).toContain(f.kind);
          expect(Number.isInteger(f.n) && f.n >= 0 && f.n <= 0xffffffff).toBe(true);
          if (f.kind === FrameKind.Chunk) expect(f.body.byteLength).toBeGreaterThan(0);
          if (f.kind === FrameKind.End || f.kind === FrameKind.Credit) expect(f.body.byteLength).toBe(0);
          // what decodes re-encodes to the same bytes
          expect(Buffer.from(encodeFrame(f.kind, f.n, f.body)).equals(Buffer.from(data))).toBe(true);
        } catch (err) {
          if (!(err instanceof StreamError)) throw err;
        }
      }),
      { numRuns: 2000 },
    );
  });
});
