import { Readable } from "node:stream";
import type { NatsConnection } from "@nats-io/transport-node";
import { request, fetch as undiciFetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MeshDispatcher, NoRespondersError, type ServiceHandle, serve, TimeoutError } from "../src/index.js";
import { bytes, nodeApp } from "./support/apps.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";

describe("dispatcher - undici over NATS", () => {
  let nats: NatsFixture;
  let nc: NatsConnection;
  let svc: ServiceHandle;
  let dispatcher: MeshDispatcher;

  beforeAll(async () => {
    nats = await natsFixture();
    nc = nats.nc;
    svc = await serve(nodeApp(), { service: "echo", nc, logger: silent });
    dispatcher = new MeshDispatcher({ nc, timeout: 5000 });
  });
  afterAll(async () => {
    await dispatcher?.close();
    await svc?.stop();
    await nats?.[Symbol.asyncDispose]();
  });

  const echoed = (headers: Record<string, string | string[] | undefined>) =>
    JSON.parse(decodeURIComponent(String(headers["x-echo-headers"]))) as string[];

  it("dispatcher - undici.request sends method, path, query, headers and body", async () => {
    const res = await request("http://echo.nats/echo?a=1", {
      dispatcher,
      method: "PUT",
      query: { b: "2 3" },
      headers: { "X-Custom": "v", "x-list": ["1", "2"] },
      body: "payload",
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers["x-echo-method"]).toBe("PUT");
    expect(res.headers["x-echo-path"]).toBe("/echo?a=1&b=2+3");
    const pairs = echoed(res.headers);
    expect(pairs).toEqual(expect.arrayContaining(["X-Custom", "v", "x-list", "1", "x-list", "2"]));
    expect(await res.body.text()).toBe("payload");
  });

  it("dispatcher - header names keep their case end to end (the Fetch API lower-cases them, the wire does not)", async () => {
    const res = await request("http://echo/echo", {
      dispatcher,
      headers: ["X-Mixed-Case", "1", "x-lower", "2", "X-Mixed-Case", "3"],
    });
    const pairs = echoed(res.headers);
    // The Node adapter adds the Host an HTTP server would have seen: the service (PROTOCOL.md §3).
    expect(pairs).toEqual(["X-Mixed-Case", "1", "x-lower", "2", "X-Mixed-Case", "3", "host", "echo"]);
    await res.body.dump();
  });

  it("dispatcher - response set-cookie lines and binary bodies survive", async () => {
    const multi = await request("http://echo/multi", { dispatcher });
    expect(multi.headers["set-cookie"]).toEqual(["a=1; Path=/", "b=2; Path=/"]);
    await multi.body.dump();
    const bin = await request("http://echo/echo", {
      dispatcher,
      method: "POST",
      body: Buffer.from(bytes(512)),
    });
    expect(new Uint8Array(await bin.body.arrayBuffer())).toEqual(bytes(512));
  });

  it("dispatcher - a stream request body is sent whole", async () => {
    const res = await request("http://echo/echo", {
      dispatcher,
      method: "POST",
      body: Readable.from([Buffer.from("a"), Buffer.from("b"), Buffer.from("c")]),
    });
    expect(await res.body.text()).toBe("abc");
  });

  it("dispatcher - undici.fetch with the dispatcher goes over NATS", async () => {
    const res = await undiciFetch("http://echo.nats/status/418", { dispatcher });
    expect(res.status).toBe(418);
    expect(res.statusText).toBe("Custom 418");
    expect(await res.text()).toBe("status 418");
  });

  it("dispatcher - no responders and timeouts reject with the typed errors", async () => {
    await expect(request("http://nobody/x", { dispatcher })).rejects.toBeInstanceOf(NoRespondersError);
    const quick = new MeshDispatcher({ nc, timeout: 100 });
    await expect(request("http://echo/slow?ms=1000", { dispatcher: quick })).rejects.toBeInstanceOf(
      TimeoutError,
    );
    await quick.close();
  });

  it("dispatcher - an aborted request rejects with AbortError", async () => {
    const ac = new AbortController();
    const pending = request("http://echo/slow?ms=1000", { dispatcher, signal: ac.signal });
    ac.abort();
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
  });
});
