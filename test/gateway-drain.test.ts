/**
 * The gateway's graceful close with a drain delay (docs/GATEWAY.md, "Shutdown"): `/readyz` turns 503
 * at once while new requests are still served, answers carry `Connection: close` (RFC 9112 §9.6), then
 * the listener closes, in-flight requests finish, and a keep-alive client never has a request it
 * wrote cut off (ECONNRESET): it gets its answer, or a refused connection before it sent a byte.
 */
import { Agent, get, type IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { createGateway } from "../src/gateway/index.js";
import { serve } from "../src/index.js";
import { fetchApp } from "./support/apps.js";
import { natsFixture } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

const DRAIN_MS = 3000;

interface Answer {
  status: number;
  connection: string | undefined;
  text: string;
}

/** GET `url` through `agent`: the answer, or the error's code. */
function fetchVia(url: string, agent: Agent | false): Promise<Answer | { error: string }> {
  return new Promise((resolve) => {
    get(url, { agent }, (res: IncomingMessage) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        text += c;
      });
      res.on("end", () => resolve({ status: res.statusCode!, connection: res.headers.connection, text }));
      res.on("error", (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    }).on("error", (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
}

describe("gateway - drain on close", () => {
  it("gateway - close() with limits.drainDelay: /readyz 503 at once, new requests still answered with Connection: close, in-flight requests finish, no keep-alive request is reset", async () => {
    await using nats = await natsFixture();
    const echo = await serve(fetchApp("echo"), { service: "echo", nc: nats.nc, logger: nats.logger });
    const gateway = createGateway({
      listen: "127.0.0.1:0",
      admin: "127.0.0.1:0",
      config: { limits: { drainDelay: DRAIN_MS } },
      connection: { servers: nats.server.url },
      logger: nats.logger,
    });
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const { url, adminUrl } = await gateway.listen();
      expect(await fetchVia(`${url}/echo/whoami`, keepAlive)).toMatchObject({ status: 200 });
      expect(await fetchVia(`${adminUrl}/readyz`, false)).toMatchObject({ status: 200 });
      // Outlives the drain: it is in flight when the listener closes.
      const slow = fetchVia(`${url}/echo/slow?ms=${DRAIN_MS + 1500}`, false);
      await check(() => echo.stats().inFlight === 1, 5000, { name: "the slow request at the service" });

      const closed = gateway.close();
      // Sent in the same tick on the idle keep-alive connection: answered, and told to close it.
      const raced = await fetchVia(`${url}/echo/whoami`, keepAlive);
      expect(raced).toEqual({ status: 200, connection: "close", text: "echo" });

      const ready = await fetchVia(`${adminUrl}/readyz`, false);
      expect(ready).toMatchObject({ status: 503 });
      expect(JSON.parse((ready as Answer).text)).toMatchObject({ reason: "shutting down" });
      expect(await fetchVia(`${url}/echo/whoami`, false)).toEqual({
        status: 200,
        connection: "close",
        text: "echo",
      });

      // A keep-alive client sending on through the end of the drain: every request is answered
      // until the listener closes. Each answer said Connection: close, so each request after it goes
      // on a new connection, and the last one meets the closing listener: refused, or reset when the
      // kernel had queued its connection before the close (no server can serve those) — never a
      // request on a connection the gateway was serving.
      const outcomes = new Map<string, number>();
      for (;;) {
        const r = await fetchVia(`${url}/echo/whoami`, keepAlive);
        const key = "error" in r ? r.error : String(r.status);
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        if (key !== "200") break;
        await new Promise((resolve) => setTimeout(resolve, 10)); // pacing of the load, not a wait
      }
      const last = [...outcomes.keys()].find((k) => k !== "200");
      expect(["ECONNREFUSED", "ECONNRESET"]).toContain(last);
      expect([...outcomes.keys()].sort()).toEqual(["200", last].sort());
      expect(outcomes.get(last!)).toBe(1);

      expect(await slow).toEqual({ status: 200, connection: "close", text: "slow" });
      await closed;
      expect(gateway.ready).toBe(false);
    } finally {
      keepAlive.destroy();
      await gateway.close();
      await echo.stop();
    }
  }, 30_000);
});
