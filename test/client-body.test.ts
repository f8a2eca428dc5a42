/**
 * The client's body paths without the platform's stream machinery (issue #19, item 3), on whichever
 * Node runs the suite: string, JSON and bytes request bodies are laid out for the wire at once (no
 * platform Request, no promise: `toWire` answers synchronously only on that path), and a mesh
 * response is a MeshResponse, whose reads take its bytes (test/adapters.test.ts checks that it
 * overrides every member of the running Node's Response.prototype).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MeshResponse } from "../src/client/mesh-response.js";
import { toWire } from "../src/client/to-wire.js";
import { createFetch, serve } from "../src/index.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";

describe("client - request bodies", () => {
  it("client - a string, JSON text or bytes body is laid out at once, its bytes as given; Blob, FormData and a Request input go through the platform's Request", async () => {
    const json = JSON.stringify({ name: "Shadowfax" });
    const call = toWire("http://stable/horses", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: json,
    });
    expect(call).not.toBeInstanceOf(Promise);
    if (call instanceof Promise) return;
    expect(Buffer.from(call.request.body).toString()).toBe(json);
    expect(call.request.headers).toEqual(["content-type", "application/json"]);
    const text = toWire("http://stable/", { method: "POST", body: "héllo" });
    expect(text).not.toBeInstanceOf(Promise);
    expect((text as { request: { headers: string[] } }).request.headers).toEqual([
      "content-type",
      "text/plain;charset=UTF-8",
    ]);
    const bytes = new Uint8Array([1, 2, 3]);
    const raw = toWire("http://stable/", { method: "PUT", body: bytes });
    expect(raw).not.toBeInstanceOf(Promise);
    expect((raw as { request: { body: Uint8Array } }).request.body).toEqual(bytes);
    for (const body of [new Blob(["b"]), new FormData(), new URLSearchParams("a=1")]) {
      expect(toWire("http://stable/", { method: "POST", body })).toBeInstanceOf(Promise);
    }
    expect(toWire(new Request("http://stable/"), undefined)).toBeInstanceOf(Promise);
  });
});

describe("client - response bodies over NATS", () => {
  let nats: NatsFixture;
  beforeAll(async () => {
    nats = await natsFixture();
  });
  afterAll(() => nats?.[Symbol.asyncDispose]());

  it("client - json(), text(), arrayBuffer() and bytes() of a mesh response read its bytes (a MeshResponse), once each", async () => {
    const svc = await serve(async (req: Request) => Response.json(await req.json()), {
      service: "echo",
      nc: nats.nc,
      logger: silent,
    });
    const client = createFetch({ nc: nats.nc });
    try {
      const call = () =>
        client("http://echo/", { method: "POST", body: JSON.stringify({ horse: "Shadowfax" }) });
      const res = await call();
      expect(Object.getPrototypeOf(res)).toBe(MeshResponse.prototype);
      expect(await res.json()).toEqual({ horse: "Shadowfax" });
      await expect(res.text()).rejects.toThrow(TypeError);
      expect(await (await call()).text()).toBe('{"horse":"Shadowfax"}');
      expect(Buffer.from(await (await call()).arrayBuffer()).toString()).toBe('{"horse":"Shadowfax"}');
      expect(Buffer.from(await (await call()).bytes()).toString()).toBe('{"horse":"Shadowfax"}');
    } finally {
      await client.close();
      await svc.stop();
    }
  });
});
