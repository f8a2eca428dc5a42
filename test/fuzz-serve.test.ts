/**
 * Property-based tests (fast-check) of `serve()` with random NATS messages published raw on a real
 * nats-server: random bytes, valid prefixes with random heads and lying head lengths, bad versions and
 * kinds, random NATS headers, huge heads, with and without a reply subject. Every message gets a defined
 * outcome, checked against the pure decoder as the oracle: what `decodeRequest` accepts (and whose
 * method matches the subject) is answered by the handler, everything else gets a 400 `NM_ERR_MALFORMED`
 * reply, or — without a reply subject — is counted as malformed and dropped. Afterwards the service still
 * answers good requests, nothing is left in flight, and the heap has not grown.
 *
 * Stream kinds (PROTOCOL.md §8): on the service subject, chunk/end/credit/abort frames (0x03–0x06) are
 * malformed requests, answered 400; a stream head (0x07) starts an exchange whose chunks never come
 * here, so it may get no answer before the handler's deadline (1 s in this file), after which its slot
 * must be free. Hostile streams on the subject an instance hands over: test/fuzz-stream.test.ts.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { type Msg, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFetch, type MeshFetch, type ServiceHandle, serve } from "../src/index.js";
import { decodeRequest, decodeResponse, encodeRequest, MAX_HEAD_SIZE } from "../src/internal.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

const MAX_PAYLOAD = 4 << 20;

setFlagsFromString("--expose_gc");
const gc = runInNewContext("gc") as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** The handler: echoes method, path and body length, so a decoded request's answer is recognisable. */
async function echo(req: Request): Promise<Response> {
  const body = await req.arrayBuffer();
  return new Response(`${req.method} ${new URL(req.url).pathname} ${body.byteLength}`, {
    headers: { "x-fuzz": "handled" },
  });
}

type Expected = "handled" | "malformed" | "stream";

/** What serve() must do with `data` on `subject`, by the pure decoder. */
function expected(subject: string, data: Uint8Array): Expected {
  if (data.byteLength >= 4 && data[0] === 0x4e && data[1] === 0x4d && data[3]! >= 3 && data[3]! <= 8) {
    return "stream";
  }
  try {
    const req = decodeRequest(data);
    return req.method.toLowerCase() === subject.slice(subject.lastIndexOf(".") + 1) ? "handled" : "malformed";
  } catch {
    return "malformed";
  }
}

function frame(kind: number, version: number, head: Uint8Array, body: Uint8Array, headLen = head.length) {
  const out = Buffer.alloc(8 + head.length + body.length);
  out.set([0x4e, 0x4d, version, kind]);
  out.writeUInt32BE(headLen >>> 0, 4);
  out.set(head, 8);
  out.set(body, 8 + head.length);
  return out;
}

function evenHeaders<T extends { headers: string[] }>(r: T): T {
  return r.headers.length % 2 === 0 ? r : { ...r, headers: [...r.headers, "v"] };
}

const tokenChar = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789-_");
const subjectToken = fc.oneof(
  fc.constantFrom("get", "post", "put", "delete", "head", "patch"),
  fc.string({ unit: tokenChar, minLength: 1, maxLength: 10 }),
);
const headPiece = fc.oneof(
  fc.constantFrom("GET", "POST", "put", " ", "/", "/x?y=1", "\n", "\r", ": ", "\t", "*", "."),
  fc.constantFrom("content-length: 0", "content-length: 3", "Mesh-Error: x", "\u0000", "\u007f", "é"),
  fc.string({ maxLength: 6 }),
);
const head = fc.oneof(
  fc.array(headPiece, { maxLength: 24 }).map((p) => Buffer.from(p.join(""), "utf8")),
  fc.uint8Array({ maxLength: 64 }),
);
const goodRequest = fc.record({
  method: fc.constantFrom("GET", "POST", "PUT", "DELETE"),
  path: fc.string({ unit: tokenChar, maxLength: 20 }).map((s) => `/${s}`),
  headers: fc.array(fc.string({ unit: tokenChar, minLength: 1, maxLength: 8 }), { maxLength: 6 }),
  body: fc.uint8Array({ maxLength: 64 }),
});
const payload: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.oneof(
          { weight: 6, arbitrary: fc.constant(1) },
          { weight: 2, arbitrary: fc.integer({ min: 0, max: 8 }) },
        ),
        fc.oneof(
          { weight: 6, arbitrary: fc.constant(1) },
          { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
        ),
        head,
        fc.uint8Array({ maxLength: 32 }),
        fc.oneof(
          { weight: 6, arbitrary: fc.constant(0) },
          { weight: 1, arbitrary: fc.integer({ min: -4, max: 4 }) },
          { weight: 1, arbitrary: fc.constantFrom(MAX_HEAD_SIZE + 1, 0xffffffff) },
        ),
      )
      .map(([kind, version, h, b, lie]) =>
        frame(kind, version, h, b, lie > 4 ? lie : Math.max(0, h.length + lie)),
      ),
  },
  {
    weight: 3,
    arbitrary: goodRequest.map((r) => encodeRequest(evenHeaders(r))),
  },
);
const natsHeaderSet = fc.option(
  fc.array(
    fc.tuple(
      fc.string({ unit: tokenChar, minLength: 1, maxLength: 12 }),
      fc.oneof(
        fc.string({ unit: tokenChar, maxLength: 30 }),
        fc.nat({ max: 20_000 }).map((n) => "x".repeat(n)),
      ),
    ),
    { maxLength: 4 },
  ),
  { freq: 3 },
);
/** A random message, or (one in four) a well-formed request on its method's subject. */
const message = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ token: subjectToken, data: payload, nats: natsHeaderSet, reply: fc.boolean() }),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ req: goodRequest, nats: natsHeaderSet, reply: fc.boolean() })
      .map(({ req, nats, reply }) => ({
        token: req.method.toLowerCase(),
        data: encodeRequest(evenHeaders(req)),
        nats,
        reply,
      })),
  },
);
type FuzzMessage = { token: string; data: Uint8Array; nats: Array<[string, string]> | null; reply: boolean };

describe("fuzz serve - random NATS messages on a real server", () => {
  let nats: NatsFixture;
  let nc: NatsConnection;
  let svcConn: NatsConnection;
  let svc: ServiceHandle;
  let fetch: MeshFetch;
  let unhandled = 0;
  const tally: Record<Expected, number> = { handled: 0, malformed: 0, stream: 0 };
  let streamHeads = 0;
  const onUnhandled = () => {
    unhandled++;
  };

  beforeAll(async () => {
    process.on("unhandledRejection", onUnhandled);
    nats = await natsFixture({ max_payload: MAX_PAYLOAD });
    nc = nats.nc;
    svcConn = await nats.connect();
    svc = await serve(echo, { service: "fuzz", nc: svcConn, logger: silent, metrics: false, timeout: 1000 });
    fetch = createFetch({ nc });
  });
  afterAll(async () => {
    process.off("unhandledRejection", onUnhandled);
    await svc?.stop();
    await fetch?.close();
    await nats?.[Symbol.asyncDispose]();
  });

  /**
   * Publishes `batch` and then a good sentinel request; resolves once every expected answer and the
   * sentinel's answer arrived. Malformed messages are answered synchronously in arrival order, so once
   * the sentinel (queued behind them) is answered, no answer to an earlier one is still on its way.
   */
  async function publishBatch(batch: FuzzMessage[]): Promise<void> {
    const inbox = `_FUZZ.${Math.random().toString(36).slice(2)}`;
    const got = new Map<number, Msg>();
    const sub = nc.subscribe(`${inbox}.*`, {
      callback: (_err, m) => {
        got.set(Number(m.subject.slice(inbox.length + 1)), m);
      },
    });
    const malformedBefore = svc.stats().malformed;
    const want = new Map<number, { expect: Expected; subject: string; reply: boolean }>();
    batch.forEach((m, i) => {
      const subject = `mesh.fuzz.${m.token}`;
      let hdrs: ReturnType<typeof natsHeaders> | undefined;
      if (m.nats) {
        hdrs = natsHeaders();
        for (const [k, v] of m.nats) hdrs.append(k, v);
      }
      const outcome = expected(subject, m.data);
      tally[outcome]++;
      if (outcome === "stream" && m.data[3] === 7) streamHeads++;
      want.set(i, { expect: outcome, subject, reply: m.reply });
      nc.publish(subject, m.data, {
        ...(m.reply ? { reply: `${inbox}.${i}` } : {}),
        ...(hdrs ? { headers: hdrs } : {}),
      });
    });
    const sentinel = batch.length;
    nc.publish(
      "mesh.fuzz.get",
      encodeRequest({ method: "GET", path: "/sentinel", headers: [], body: new Uint8Array() }),
      { reply: `${inbox}.${sentinel}` },
    );
    const answeredOnes = [...want].filter(([, w]) => w.reply && w.expect !== "stream").map(([i]) => i);
    await check(() => got.has(sentinel) && answeredOnes.every((i) => got.has(i)), 5000, {
      name: "every fuzz message with a reply subject answered",
    });
    const dropped = [...want.values()].filter((w) => !w.reply && w.expect !== "handled").length;
    await check(() => svc.stats().malformed - malformedBefore >= dropped, 5000, {
      name: "malformed messages without a reply subject counted",
    });
    sub.unsubscribe();
    for (const [i, w] of want) {
      const reply = got.get(i);
      if (!w.reply) {
        expect(reply).toBeUndefined();
        continue;
      }
      if (w.expect === "stream" && reply === undefined) continue; // handled without an answer
      const res = decodeResponse(reply!.data);
      if (w.expect === "handled") {
        expect(res.status).toBe(200);
        expect(res.headers).toContain("handled");
      } else {
        expect(res.status).toBe(400);
        const b = JSON.parse(Buffer.from(res.body).toString()) as { code: string; error: string };
        expect(b.code).toBe("NM_ERR_MALFORMED");
        expect(b.error).not.toMatch(/\n\s+at /); // no stack trace
      }
    }
    expect(decodeResponse(got.get(sentinel)!.data).status).toBe(200);
  }

  it("fuzz serve - 1200 random messages in batches of 20: each gets its defined outcome, the service stays healthy", async () => {
    const before = heapAfterGc();
    await fc.assert(fc.asyncProperty(fc.array(message, { minLength: 20, maxLength: 20 }), publishBatch), {
      numRuns: 60,
    });
    const good = await fetch("http://fuzz.nats/after?x=1", { method: "POST", body: "abc" });
    expect(good.status).toBe(200);
    expect(await good.text()).toBe("POST /after 3");
    // stream heads (kind 7) that never get their chunks wait for the handler's deadline, then free their slot
    expect(svc.stats().queued).toBe(0);
    expect(svc.stats().inFlight).toBeLessThanOrEqual(streamHeads);
    await check(() => svc.stats().inFlight === 0, 3000, { name: "every slot freed" });
    expect(unhandled).toBe(0);
    expect(heapAfterGc() - before).toBeLessThan(32 << 20);
    // the generator reaches every outcome (a fuzzer that only makes garbage proves little)
    expect(tally.handled).toBeGreaterThan(50);
    expect(tally.malformed).toBeGreaterThan(300);
    expect(tally.stream).toBeGreaterThan(5);
  });

  it("fuzz serve - huge heads (up to 4 MiB payloads, heads past the 1 MiB limit) get 400s; heap stays bounded", async () => {
    const sizes = fc.integer({ min: MAX_HEAD_SIZE - 64, max: MAX_PAYLOAD - 64 });
    const before = heapAfterGc();
    await fc.assert(
      fc.asyncProperty(fc.array(sizes, { minLength: 4, maxLength: 4 }), async (lens) => {
        const batch = lens.map((n) => ({
          token: "get",
          data: frame(1, 1, Buffer.from(`GET /\nx-huge: ${"h".repeat(n)}\n`), new Uint8Array()),
          nats: null,
          reply: true,
        }));
        await publishBatch(batch);
      }),
      { numRuns: 10 },
    );
    expect(heapAfterGc() - before).toBeLessThan(32 << 20);
    expect((await fetch("http://fuzz.nats/ok")).status).toBe(200);
    expect(unhandled).toBe(0);
  });
});
