/**
 * pino logs: the logger factory (redaction, level from NATSMESH_LOG_LEVEL) and serve()'s per-request
 * debug line.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createFetch, type MeshFetch, serve } from "../src/index.js";
import { createLogger, envLogLevel } from "../src/internal.js";
import { fetchApp } from "./support/apps.js";
import { type NatsFixture, natsFixture } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

/** A pino destination keeping the parsed JSON lines. */
function capture(): { lines: Array<Record<string, unknown>>; write(line: string): void } {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) };
}

describe("logging - createLogger", () => {
  it("logging - Authorization, Cookie and Set-Cookie are redacted from headers at any usual depth", () => {
    const out = capture();
    const log = createLogger({ name: "t", level: "info", destination: out });
    log.info({ headers: { authorization: "Bearer top", accept: "text/html" } }, "top level");
    log.info(
      {
        req: { headers: { Authorization: "Basic x", cookie: "sid=1", "x-ok": "1" } },
        res: { headers: { "set-cookie": ["a=1", "b=2"], "Set-Cookie": "c=3", "content-type": "text/plain" } },
      },
      "req and res",
    );
    log.info({ err: { response: { headers: { authorization: "deep", Cookie: "c" } } } }, "nested");
    expect(out.lines.map((l) => [l.msg, l.headers ?? l.req ?? l.err])).toEqual([
      ["top level", { authorization: "[Redacted]", accept: "text/html" }],
      ["req and res", { headers: { Authorization: "[Redacted]", cookie: "[Redacted]", "x-ok": "1" } }],
      ["nested", { response: { headers: { authorization: "[Redacted]", Cookie: "[Redacted]" } } }],
    ]);
    expect(out.lines[1]!.res).toEqual({
      headers: { "set-cookie": "[Redacted]", "Set-Cookie": "[Redacted]", "content-type": "text/plain" },
    });
    expect(JSON.stringify(out.lines)).not.toMatch(/Bearer|Basic|sid=1|a=1|deep/);
    expect(out.lines[0]).toMatchObject({ name: "t", level: 30 });
  });

  it("logging - the level comes from the option, else NATSMESH_LOG_LEVEL, else info", () => {
    expect(createLogger({ env: {} }).level).toBe("info");
    expect(createLogger({ env: { NATSMESH_LOG_LEVEL: "debug" } }).level).toBe("debug");
    expect(createLogger({ env: { NATSMESH_LOG_LEVEL: "debug" }, level: "warn" }).level).toBe("warn");
    expect(envLogLevel({ NATSMESH_LOG_LEVEL: "silent" })).toBe("silent");
    expect(() => createLogger({ env: { NATSMESH_LOG_LEVEL: "loud" } })).toThrow(
      "NATSMESH_LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent; got 'loud'",
    );
    const out = capture();
    const log = createLogger({ env: { NATSMESH_LOG_LEVEL: "warn" }, destination: out });
    log.info("hidden");
    log.warn("shown");
    expect(out.lines.map((l) => l.msg)).toEqual(["shown"]);
  });
});

describe("logging - serve()", () => {
  let nats: NatsFixture;
  let nc: NatsConnection;
  let fetch: MeshFetch;
  const saved = process.env.NATSMESH_LOG_LEVEL;

  beforeAll(async () => {
    nats = await natsFixture();
    nc = nats.nc;
    fetch = createFetch({ nc });
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.NATSMESH_LOG_LEVEL;
    else process.env.NATSMESH_LOG_LEVEL = saved;
  });
  afterAll(async () => {
    await nats?.[Symbol.asyncDispose]();
  });

  it("logging - serve()'s default logger takes its level from NATSMESH_LOG_LEVEL", async () => {
    process.env.NATSMESH_LOG_LEVEL = "chatty";
    await expect(serve(fetchApp(), { service: "env-level", nc, metrics: false })).rejects.toThrow(
      /^NATSMESH_LOG_LEVEL: expected one of/,
    );
  });

  it("logging - at debug, one line per request: method, path, status, duration, request id", async () => {
    const out = capture();
    const logger = createLogger({ level: "debug", destination: out });
    const svc = await serve(fetchApp(), { service: "chatty", nc, logger, metrics: false });
    try {
      await fetch("http://chatty/status/418?x=1", {
        headers: { "x-request-id": "req-42", authorization: "t" },
      });
      await check(() => out.lines.some((l) => l.msg === "request"), 2000, { name: "request logged" });
      const line = out.lines.find((l) => l.msg === "request")!;
      expect(line).toMatchObject({
        level: 20,
        service: "chatty",
        instance: svc.instance,
        method: "GET",
        path: "/status/418?x=1",
        status: 418,
        requestId: "req-42",
      });
      expect(typeof line.ms).toBe("number");
      expect(JSON.stringify(out.lines)).not.toContain('"t"');
    } finally {
      await svc.stop();
    }
  });

  it("logging - at info, requests log nothing", async () => {
    const out = capture();
    const svc = await serve(fetchApp(), {
      service: "quiet",
      nc,
      logger: createLogger({ level: "info", destination: out }),
      metrics: false,
    });
    try {
      for (let i = 0; i < 5; i++) expect((await fetch("http://quiet/echo")).status).toBe(200);
      expect(await fetch("http://quiet/status/500").then((r) => r.status)).toBe(500);
    } finally {
      await svc.stop();
    }
    expect(out.lines).toEqual([]);
  });
});
