/**
 * The client's MeshResponse members that not every Node's Response has. (That it overrides every
 * member the running Node's Response.prototype has: test/adapters.test.ts.)
 */
import { describe, expect, it } from "vitest";
import { MeshResponse } from "../src/client/mesh-response.js";

const res = (body: string | null) =>
  new MeshResponse(
    body === null ? null : Buffer.from(body),
    { status: 200, statusText: "OK" },
    "http://svc/",
    [],
  );

async function chunks(stream: ReadableStream<string>): Promise<string[]> {
  const out: string[] = [];
  const reader = stream.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) out.push(r.value);
  return out;
}

describe("client - MeshResponse.textStream (Node 26's Response.prototype.textStream)", () => {
  it("client - textStream decodes the body as UTF-8 text and uses the body up", async () => {
    const r = res("\ufeffZürich 東京");
    expect((await chunks(r.textStream())).join("")).toBe("Zürich 東京");
    expect(r.bodyUsed).toBe(true);
    await expect(r.text()).rejects.toThrow(TypeError);
    expect(() => r.textStream()).toThrow(TypeError);
  });

  it("client - textStream of a response without a body is an empty stream", async () => {
    expect(await chunks(res(null).textStream())).toEqual([]);
  });

  it("client - textStream after the body was read, or while its stream is locked, throws as the platform's does", async () => {
    const read = res("x");
    await read.text();
    expect(() => read.textStream()).toThrow(TypeError);
    const locked = res("y");
    const reader = locked.body!.getReader();
    expect(() => locked.textStream()).toThrow(TypeError);
    reader.releaseLock();
  });
});
