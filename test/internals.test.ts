/**
 * Fast paths and settings that read an internal of nats.js, Node or undici, checked on whichever Node
 * runs the suite (CI runs it on every supported version): if an upgrade moved the internal, these
 * fail instead of natsmesh quietly taking another path.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFetch, type ServiceHandle, serve } from "../src/index.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";

describe("internals - nats.js", () => {
  let nats: NatsFixture;
  beforeAll(async () => {
    nats = await natsFixture({ http: "127.0.0.1:-1" }, { inboxPrefix: "_NMX" });
  });
  afterAll(() => nats?.[Symbol.asyncDispose]());

  it("internals - an instance's exchange subscription uses the connection's inboxPrefix (nats.js options.inboxPrefix)", async () => {
    let svc: ServiceHandle | undefined;
    try {
      svc = await serve(() => new Response("ok"), { service: "inboxed", nc: nats.nc, logger: silent });
      const fetch = createFetch({ nc: nats.nc });
      expect(await (await fetch("http://inboxed/")).text()).toBe("ok");
      const subs = (await nats.server.subsz({ subs: 1 })).subscriptions_list ?? [];
      const exchanges = subs.filter((s) => /^_NMX\.[A-Za-z0-9]+\.\*$/.test(s.subject));
      // The instance's exchange inbox and the client's reply inbox both follow the prefix.
      expect(exchanges.length, JSON.stringify(subs.map((s) => s.subject))).toBeGreaterThanOrEqual(1);
      expect(subs.some((s) => s.subject.startsWith("_INBOX."))).toBe(false);
      await fetch.close();
    } finally {
      await svc?.stop();
    }
  });
});
