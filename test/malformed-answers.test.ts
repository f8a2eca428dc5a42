/**
 * The 400 answers `serve()` sends to malformed requests come from parts built once
 * (`src/server/malformed.ts`), not from a record encoded per message. They must be byte for byte what
 * the general path makes — `encodeResponse` of `errorResponse(400, NM_ERR_MALFORMED, <the decoder's
 * message>)` with the provenance headers of PROTOCOL.md §6 — for cached and uncached reasons alike,
 * with `mesh-server` and `mesh-cluster` from the connected server.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServiceHandle, serve } from "../src/index.js";
import {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  errorResponse,
  headerValue,
  MeshHeader,
} from "../src/internal.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

function frame(head: string, opts: { kind?: number; version?: number; headLen?: number } = {}): Uint8Array {
  const h = Buffer.from(head);
  const out = Buffer.alloc(8 + h.length);
  out.set([0x4e, 0x4d, opts.version ?? 1, opts.kind ?? 1]);
  out.writeUInt32BE(opts.headLen ?? h.length, 4);
  out.set(h, 8);
  return out;
}

/** The decoder's message for a payload it refuses. */
function refusal(payload: Uint8Array): string {
  try {
    decodeRequest(payload);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("expected the payload to be malformed");
}

describe("malformed answers - byte for byte the general path's 400", () => {
  let nats: NatsFixture;
  let nc: NatsConnection;
  let svcConn: NatsConnection;
  let svc: ServiceHandle;

  beforeAll(async () => {
    nats = await natsFixture({
      server_name: "nm-malformed-test",
      cluster: { name: "nm-c1", listen: "127.0.0.1:-1" },
    });
    nc = nats.nc;
    svcConn = await nats.connect();
    svc = await serve(() => new Response("ok"), {
      service: "bad.answers",
      nc: svcConn,
      logger: silent,
      metrics: false,
      instance: "inst-1",
    });
  });
  afterAll(async () => {
    await svc?.stop();
    await nats?.[Symbol.asyncDispose]();
  });

  /** What the general path encodes for `message`, with the request id the answer carries. */
  function expected(message: string, requestId: string): Uint8Array {
    const res = errorResponse(400, "NM_ERR_MALFORMED", message);
    res.headers.push(
      MeshHeader.RequestId,
      requestId,
      MeshHeader.Service,
      "bad.answers",
      MeshHeader.Instance,
      "inst-1",
      MeshHeader.Server,
      "nm-malformed-test",
      MeshHeader.Cluster,
      "nm-c1",
    );
    return encodeResponse(res);
  }

  async function answer(payload: Uint8Array | string, token = "get"): Promise<Uint8Array> {
    return (await nc.request(`mesh.bad.answers.${token}`, payload, { timeout: 2000 })).data;
  }

  const cases: Array<[string, Uint8Array]> = [
    ["empty payload", new Uint8Array()],
    ["too short", Buffer.from([0x4e, 0x4d, 1])],
    ["bad magic", Buffer.from("not a natsmesh frame")],
    ["version 2", frame("GET /\n", { version: 2 })],
    ["kind 5", frame("GET /\n", { kind: 5 })],
    ["absurd head length", frame("GET /\n", { headLen: 0xffffffff })],
    ["head past the end", frame("GET /\n", { headLen: 99 })],
    ["not UTF-8", Buffer.concat([frame("GET /\n", { headLen: 9 }), Buffer.from([0xff, 0xfe, 0x0a])])],
    ["a quote and a backslash in the reason", frame('GET /\nx "\\y: 1\n')],
    ["bad window", frame("GET /\nmesh-window: 0\n")],
    ["lying content-length", frame("GET /\ncontent-length: 9\n")],
  ];

  it.each(cases)("malformed answers - %s: the decoder's message, the same bytes", async (_name, payload) => {
    const message = refusal(payload);
    // twice: the first builds the body, the second takes it from the cache
    for (let i = 0; i < 2; i++) {
      const data = await answer(payload);
      const res = decodeResponse(data);
      const id = headerValue(res.headers, MeshHeader.RequestId)!;
      expect(id).toMatch(/^inst-1-\d+$/);
      expect(Buffer.from(data).equals(Buffer.from(expected(message, id)))).toBe(true);
    }
  });

  it("malformed answers - a method that does not match the subject", async () => {
    const data = await answer(
      encodeRequest({ method: "POST", path: "/", headers: [], body: new Uint8Array() }),
    );
    const id = headerValue(decodeResponse(data).headers, MeshHeader.RequestId)!;
    const message = "malformed message: method POST does not match subject token 'get'";
    expect(Buffer.from(data).equals(Buffer.from(expected(message, id)))).toBe(true);
  });

  it("malformed answers - 300 different reasons (past the body cache's bound) are each answered right; good requests still are", async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const payload = frame("GET /\n", { headLen: 100 + i });
      const data = await answer(payload);
      const id = headerValue(decodeResponse(data).headers, MeshHeader.RequestId)!;
      ids.add(id);
      expect(Buffer.from(data).equals(Buffer.from(expected(refusal(payload), id)))).toBe(true);
    }
    expect(ids.size).toBe(300);
    const ok = decodeResponse(
      await answer(encodeRequest({ method: "GET", path: "/", headers: [], body: new Uint8Array() })),
    );
    expect(ok.status).toBe(200);
    await check(() => svc.stats().inFlight === 0, 2000, { name: "nothing in flight" });
    expect(svc.stats().lastError).toBe(
      `400 NM_ERR_MALFORMED: ${refusal(frame("GET /\n", { headLen: 399 }))}`,
    );
  });
});
