/**
 * What the public caller is told when a call fails: every `MeshError` keeps its own status and
 * code (a silent instance is `503 NM_ERR_INSTANCE_LOST`, PROTOCOL.md §5, never a 500), it is logged
 * without a stack, and docs/GATEWAY.md's error table names every code the gateway can answer.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { request } from "undici";
import { describe, expect, it } from "vitest";
import { publicError } from "../src/gateway/front-door/public-error.js";
import { createGateway, GatewayErrorCode } from "../src/gateway/index.js";
import { ErrorCode, InstanceLostError, MeshError, StreamError } from "../src/index.js";
import { startChildInstance } from "./support/child-instance.js";
import { natsFixture } from "./support/helpers.js";
import { REPO_ROOT } from "./support/nats-server.js";

/** A pino logger at `debug` whose lines are kept, parsed, in `lines`. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n")) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: "debug" }, sink), lines };
}

describe("gateway - errors of a lost instance", () => {
  it("gateway - an instance stopped mid-request (SIGSTOP) is 503 NM_ERR_INSTANCE_LOST with Retry-After, logged at warn without a stack (PROTOCOL.md §5)", async () => {
    await using nats = await natsFixture();
    const child = await startChildInstance("frozen", "frozen", nats.server.url);
    const { logger, lines } = capturingLogger();
    try {
      await using gateway = createGateway({
        listen: "127.0.0.1:0",
        connection: { servers: nats.server.url },
        logger,
      });
      const { url } = await gateway.listen();
      const warm = await request(`${url}/frozen/whoami`);
      expect(warm.statusCode).toBe(200);
      await warm.body.text();

      child.process.kill("SIGSTOP");
      // A plain POST is never re-sent: the one attempt ends when the instance's heartbeats stop.
      const res = await request(`${url}/frozen/echo`, { method: "POST", body: "lost?" });
      const body = (await res.body.json()) as { code: string; status: number; error: string };
      expect(res.statusCode).toBe(503);
      expect(res.headers["mesh-error"]).toBe(ErrorCode.InstanceLost);
      expect(res.headers["retry-after"]).toBe("1");
      expect(body.code).toBe(ErrorCode.InstanceLost);
      expect(body.status).toBe(503);
      expect(body.error).not.toMatch(/frozen\.post|mesh\./); // no subject in the message
      await gateway.close();

      const access = lines.filter((l) => l.msg === "request" && l.path === "/frozen/echo");
      expect(access).toHaveLength(1);
      expect(access[0]).toMatchObject({ level: 40, status: 503, code: ErrorCode.InstanceLost });
      expect(lines.filter((l) => (l.level as number) >= 50)).toEqual([]);
      expect(JSON.stringify(lines)).not.toContain("stack");
    } finally {
      child.process.kill("SIGCONT");
      await child.kill();
    }
  }, 20_000);
});

describe("gateway - publicError", () => {
  it("gateway - every MeshError keeps its status and code, with a message that names no subject; 503s get Retry-After", () => {
    const target = { service: "weather", subject: "mesh.weather.get" };
    expect(publicError(new InstanceLostError(target, 2000))).toMatchObject({
      status: 503,
      code: ErrorCode.InstanceLost,
      retryAfter: 1,
    });
    expect(publicError(new StreamError("chunk 3 lost", target))).toMatchObject({
      status: 502,
      code: ErrorCode.Stream,
    });
    const own = publicError(new MeshError("NM_ERR_SOMETHING", 503, "on mesh.weather.get", target));
    expect(own).toEqual({
      status: 503,
      code: "NM_ERR_SOMETHING",
      message: "service unavailable",
      retryAfter: 1,
    });
    expect(publicError(new Error("boom"))).toMatchObject({ status: 500, code: GatewayErrorCode.Internal });
  });
});

/** The codes in the `code` column of docs/GATEWAY.md's "Errors" table. */
async function documentedCodes(): Promise<Set<string>> {
  const doc = await readFile(join(REPO_ROOT, "docs", "GATEWAY.md"), "utf8");
  const section = doc.slice(
    doc.indexOf("\n## Errors\n"),
    doc.indexOf("\n## ", doc.indexOf("\n## Errors\n") + 1),
  );
  const codes = new Set<string>();
  for (const line of section.split("\n")) {
    if (!line.startsWith("|") || line.startsWith("| ---")) continue;
    const cells = line.split("|").map((c) => c.trim());
    const last = cells[cells.length - 2]!;
    for (const m of last.matchAll(/`(NM_ERR_[A-Z_]+)`/g)) codes.add(m[1]!);
  }
  return codes;
}

/**
 * Codes no public request is answered with, and why. Every other code of `ErrorCode` and
 * `GatewayErrorCode` is one the gateway can answer, and its table must list it.
 */
const NEVER_ANSWERED: Record<string, string> = {
  [ErrorCode.Config]: "a setting of the gateway's own connection: raised before it listens",
  [ErrorCode.Connect]: "raised by listen(); a lost connection later is NM_ERR_CONNECTION_CLOSED",
  [ErrorCode.TlsHandshake]: "raised by listen(), like NM_ERR_CONNECT",
  [ErrorCode.Cli]: "the CLI's own input",
  [ErrorCode.NatsServerNotFound]: "natsmesh dev only",
  [ErrorCode.NatsServerStart]: "natsmesh dev only",
  [ErrorCode.Closed]: "raised by listen() on a closed gateway; requests during the close are served",
  [ErrorCode.Malformed]:
    "an instance's own answer, passed on; a request the gateway cannot encode is NM_ERR_BAD_REQUEST",
  [ErrorCode.InvalidService]: "a request the gateway cannot route or encode is NM_ERR_BAD_REQUEST",
  [ErrorCode.PayloadTooLarge]: "a body over max_payload that cannot stream is NM_ERR_BODY_TOO_LARGE",
  [ErrorCode.Handler]: "an instance's own answer, passed on unchanged",
  [ErrorCode.DedupeInProgress]: "an instance's own answer (deduplication), passed on unchanged",
  [ErrorCode.DedupeMismatch]: "an instance's own answer (deduplication), passed on unchanged",
  [ErrorCode.DedupeNotKept]: "an instance's own answer (deduplication), passed on unchanged",
  [ErrorCode.DedupeUnavailable]: "an instance's own answer (deduplication), passed on unchanged",
  [ErrorCode.Redirect]: "the fetch client's; the gateway passes a 3xx on to its caller, it follows none",
  [ErrorCode.RedirectOutside]:
    "the fetch client's; the gateway passes a 3xx on to its caller, it follows none",
  [GatewayErrorCode.GatewayConfig]: "raised by createGateway(), before anything listens",
};

describe("gateway - the error table of docs/GATEWAY.md", () => {
  it("gateway - the table lists exactly the codes of ErrorCode and GatewayErrorCode the gateway can answer", async () => {
    const all = [...Object.values(ErrorCode), ...Object.values(GatewayErrorCode)];
    const answered = all.filter((code) => !(code in NEVER_ANSWERED)).sort();
    expect([...(await documentedCodes())].sort()).toEqual(answered);
  });
});
