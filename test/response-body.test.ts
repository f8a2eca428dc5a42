import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toResponse } from "../src/client/from-wire.js";
import { createFetch, serve } from "../src/index.js";
import type { WireRequest } from "../src/internal.js";
import { fetchAdapter } from "../src/server/adapters/fetch.js";
import { settleBody, takeBody } from "../src/server/adapters/response-body.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";

// Its own file: the module's state must be fresh, so that the first Response it sees is the client's.
/**
 * Where the fast path reads a platform Response's body source: undici 6 (Node 20, 22) keeps it in a
 * symbol-keyed state; undici 7+ (Node 24, 26) in a private field no code can reach, so there every
 * platform Response's body goes through its stream. Stated per Node version, not probed, so that an
 * upgrade that silently turns the fast path off fails here.
 */
const PLATFORM_STATE_READABLE = Number(process.versions.node.split(".")[0]) <= 22;

describe("adapters - a handler that answers with a Response from the mesh client (a proxy)", () => {
  it("adapters - sends the client's MeshResponse body; a platform Response after it still skips its stream on Node 20 and 22 and streams on 24+", async () => {
    const proxied = toResponse(
      {
        status: 200,
        statusText: "OK",
        headers: ["content-type", "text/plain"],
        body: Buffer.from("from upstream"),
      },
      "http://upstream/x",
      "GET",
    );
    const body = takeBody(proxied);
    expect(body).toBeInstanceOf(Uint8Array); // its bytes, no stream in between
    expect(Buffer.from(body as Uint8Array).toString()).toBe("from upstream");
    expect(proxied.bodyUsed).toBe(true);
    expect(() => takeBody(proxied)).toThrow(TypeError); // used once, as a body is
    // A MeshResponse whose stream was taken goes the stream's way.
    const streamed = toResponse(
      { status: 200, statusText: "OK", headers: [], body: Buffer.from("s") },
      "http://u/",
      "GET",
    );
    const stream = streamed.body!;
    expect(takeBody(streamed)).toBe(stream);
    // Had the MeshResponse (which has no platform state) been taken as the model, every platform
    // Response after it would go through its ReadableStream.
    const own = takeBody(new Response("own answer"));
    if (PLATFORM_STATE_READABLE) {
      expect(own).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(own as Uint8Array).toString()).toBe("own answer");
    } else {
      // the fallback: the body's own stream, with the same bytes
      expect(own).toBeInstanceOf(ReadableStream);
      expect(await new Response(own as ReadableStream<Uint8Array>).text()).toBe("own answer");
    }
  });
});

const get: WireRequest = { method: "GET", path: "/", headers: [], body: new Uint8Array(0) };
const ctx = (errors: unknown[] = []) => ({ service: "svc", onError: (err: unknown) => errors.push(err) });

describe("adapters - a platform Response's body reaches the wire as bytes on every Node", () => {
  it("adapters - new Response(string), new Response(bytes), Response.json() and an empty body are sent as bytes, no stream read on the responder's side (undici 7+: read at once, its stream ends one microtask after its chunk)", async () => {
    const answers: [() => Response, string][] = [
      [() => new Response("plain text"), "plain text"],
      [() => new Response(new TextEncoder().encode("some bytes")), "some bytes"],
      [() => Response.json({ a: 1 }), '{"a":1}'],
      [() => new Response(""), ""],
      [() => new Response("x".repeat(256 * 1024)), "x".repeat(256 * 1024)],
    ];
    for (const [answer, text] of answers) {
      const res = await fetchAdapter(answer)(get, ctx());
      expect(res.stream, text.slice(0, 20)).toBeUndefined();
      expect(Buffer.from(res.body).toString()).toBe(text);
    }
  });

  it("adapters - a stream that is not ready is handed on at once, its chunks and end follow as produced", async () => {
    let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
    const res = await fetchAdapter(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(c) {
              controller = c;
            },
          }),
        ),
    )(get, ctx());
    expect(res.stream).toBeDefined(); // the handler's answer went on without its first chunk
    controller!.enqueue(new TextEncoder().encode("event 1\n"));
    controller!.enqueue(new TextEncoder().encode("event 2\n"));
    controller!.close();
    expect(await new Response(res.stream).text()).toBe("event 1\nevent 2\n");
  });

  it("adapters - a stream read in part: what was read comes first, the rest follows, a cancel reaches the source", async () => {
    let cancelled: unknown;
    const source = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode("first,"));
      },
      cancel(reason) {
        cancelled = reason;
      },
    });
    const settled = await settleBody(source);
    expect(settled).toBeInstanceOf(ReadableStream);
    const reader = (settled as ReadableStream<Uint8Array>).getReader();
    expect(Buffer.from((await reader.read()).value!).toString()).toBe("first,");
    await reader.cancel("caller left");
    expect(cancelled).toBe("caller left");
  });

  it("adapters - a body stream that fails at once is the handler's failure: a 500, reported", async () => {
    const errors: unknown[] = [];
    const res = await fetchAdapter(
      () => new Response(new ReadableStream({ start: (c) => c.error(new Error("broken body")) })),
    )(get, ctx(errors));
    expect(res.status).toBe(500);
    expect((errors[0] as Error).message).toBe("broken body");
  });
});

describe("server - a Fetch handler that proxies another service over the mesh", () => {
  let nats: NatsFixture;
  beforeAll(async () => {
    nats = await natsFixture();
  });
  afterAll(() => nats?.[Symbol.asyncDispose]());

  it("server - answers with the upstream's Response as it came: status, headers and body", async () => {
    const upstream = await serve(
      () => new Response("upstream body", { status: 201, headers: { "x-from": "upstream" } }),
      { service: "upstream", nc: nats.nc, logger: silent },
    );
    const client = createFetch({ nc: nats.nc });
    const proxy = await serve((req: Request) => client(`http://upstream${new URL(req.url).pathname}`), {
      service: "proxy",
      nc: nats.nc,
      logger: silent,
    });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await client("http://proxy/x");
        expect(res.status).toBe(201);
        expect(res.headers.get("x-from")).toBe("upstream");
        expect(await res.text()).toBe("upstream body");
      }
    } finally {
      await proxy.stop();
      await upstream.stop();
    }
  });
});
