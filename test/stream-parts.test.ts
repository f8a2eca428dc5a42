/**
 * The streaming parts without NATS (PROTOCOL.md §8), property-based with fast-check: the frame
 * decoder's outcome for any bytes, the receiver under any chunking and credit window, a reordered
 * or lost chunk always detected, and the chunk reader's pieces.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeFrame, encodeFrame, FrameKind, StreamError } from "../src/protocol/index.js";
import { ChunkReader, StreamReceiver } from "../src/stream/index.js";

async function drain(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of stream as unknown as AsyncIterable<Uint8Array>) parts.push(c);
  return Buffer.concat(parts);
}

const chunks = fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }), { minLength: 0, maxLength: 24 });

describe("stream parts - frames", () => {
  it("stream parts - decodeFrame gives a frame or a StreamError for any bytes (5000 cases)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 12 }), (bytes, kind) => {
        // Half the cases get a valid prefix, so the checks after it are reached too.
        const data = Buffer.from(bytes);
        if (kind < 8 && data.length >= 8) data.set([0x4e, 0x4d, 1, kind], 0);
        try {
          const f = decodeFrame(data);
          expect(f.kind).toBeGreaterThanOrEqual(FrameKind.Chunk);
          expect(f.kind).toBeLessThanOrEqual(FrameKind.Abort);
        } catch (err) {
          expect(err).toBeInstanceOf(StreamError);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it("stream parts - encodeFrame and decodeFrame round-trip every kind and number", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.uint8Array({ minLength: 1, maxLength: 32 }),
        (n, body) => {
          expect(decodeFrame(encodeFrame(FrameKind.Chunk, n, body))).toEqual({
            kind: FrameKind.Chunk,
            n,
            body: Buffer.from(body),
          });
          expect(decodeFrame(encodeFrame(FrameKind.Credit, n)).n).toBe(n);
          expect(decodeFrame(encodeFrame(FrameKind.End, n)).kind).toBe(FrameKind.End);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("stream parts - receiver", () => {
  it("stream parts - any chunking under any window arrives whole, and credit is never exceeded", async () => {
    await fc.assert(
      fc.asyncProperty(
        chunks,
        fc.integer({ min: 1, max: 8 }),
        fc.boolean(),
        async (parts, window, pregranted) => {
          let allowed = pregranted ? window : 0;
          const receiver = new StreamReceiver({
            window,
            granted: pregranted ? window : undefined,
            grant: (n) => {
              allowed += n;
            },
            cancel: () => undefined,
          });
          const reader = receiver.stream.getReader();
          const got: Uint8Array[] = [];
          let sent = 0;
          let reading: Promise<void> | undefined;
          // The sender sends only within its credit; while it must wait, the reader reads.
          while (sent < parts.length) {
            if (sent < allowed) {
              receiver.accept({ kind: FrameKind.Chunk, n: sent + 1, body: parts[sent]! });
              sent++;
              continue;
            }
            reading ??= reader.read().then((r) => {
              expect(r.done).toBe(false);
              got.push(r.value!);
              reading = undefined;
            });
            await new Promise((r) => setImmediate(r));
          }
          await reading;
          receiver.accept({ kind: FrameKind.End, n: parts.length + 1, body: new Uint8Array(0) });
          for (;;) {
            const r = await reader.read();
            if (r.done) break;
            got.push(r.value);
          }
          expect(Buffer.concat(got).equals(Buffer.concat(parts))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("stream parts - a lost, repeated or reordered chunk always fails the body with a StreamError", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 12 }),
        async (order) => {
          const inOrder = order.every((n, i) => n === i + 1);
          fc.pre(!inOrder);
          const receiver = new StreamReceiver({
            window: 64,
            granted: 64,
            grant: () => undefined,
            cancel: () => undefined,
          });
          for (const n of order) receiver.accept({ kind: FrameKind.Chunk, n, body: new Uint8Array([n]) });
          receiver.accept({ kind: FrameKind.End, n: order.length + 1, body: new Uint8Array(0) });
          await expect(drain(receiver.stream)).rejects.toThrow(/lost or reordered/);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("stream parts - a body shorter or longer than its content-length fails", async () => {
    for (const length of [2, 4]) {
      const receiver = new StreamReceiver({
        window: 4,
        granted: 4,
        length,
        grant: () => undefined,
        cancel: () => undefined,
      });
      receiver.accept({ kind: FrameKind.Chunk, n: 1, body: new Uint8Array(3) });
      receiver.accept({ kind: FrameKind.End, n: 2, body: new Uint8Array(0) });
      await expect(drain(receiver.stream)).rejects.toThrow(/does not match its content-length/);
    }
  });

  it("stream parts - a chunk beyond the credit granted fails the body", async () => {
    const receiver = new StreamReceiver({
      window: 2,
      granted: 2,
      grant: () => undefined,
      cancel: () => undefined,
    });
    for (let n = 1; n <= 3; n++) receiver.accept({ kind: FrameKind.Chunk, n, body: new Uint8Array(1) });
    await expect(drain(receiver.stream)).rejects.toThrow(/exceeds the credit granted/);
  });
});

describe("stream parts - chunk reader", () => {
  it("stream parts - pieces are at most the size asked, and together the whole source", async () => {
    await fc.assert(
      fc.asyncProperty(chunks, fc.integer({ min: 1, max: 100 }), async (parts, max) => {
        let i = 0;
        const reader = new ChunkReader(
          new ReadableStream<Uint8Array>({
            pull: (c) => (i < parts.length ? c.enqueue(parts[i++]!) : c.close()),
          }),
        );
        const got: Uint8Array[] = [];
        for (;;) {
          const piece = await reader.next(max);
          if (piece === null) break;
          expect(piece.byteLength).toBeGreaterThan(0);
          expect(piece.byteLength).toBeLessThanOrEqual(max);
          got.push(piece);
        }
        expect(reader.ended).toBe(true);
        expect(Buffer.concat(got).equals(Buffer.concat(parts))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("stream parts - a source that waits gets its piece handed over at once, not held for more", async () => {
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const reader = new ChunkReader(
      new ReadableStream<Uint8Array>({
        start: (c) => {
          controller = c;
        },
      }),
    );
    controller.enqueue(new Uint8Array([1, 2, 3]));
    // The source has nothing more ready: next() returns the 3 bytes instead of waiting to fill 1000.
    expect(await reader.next(1000)).toEqual(new Uint8Array([1, 2, 3]));
    controller.close();
    expect(await reader.next(1000)).toBeNull();
  });
});
