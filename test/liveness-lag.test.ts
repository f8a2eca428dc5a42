/**
 * Liveness, the server's side and the instance's own (docs/OPERATIONS.md, PROTOCOL.md §8.4):
 * nats-server's pings drop a stopped instance that gets no traffic, and an instance whose event loop
 * lags steps out of its queue group and back in. (Split from liveness.test.ts so the two files run
 * in parallel.)
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFetch } from "../src/index.js";
import { type ChildInstance, startChildInstance } from "./support/child-instance.js";
import { type NatsFixture, natsFixture } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

describe("liveness - the server's pings (docs/OPERATIONS.md)", () => {
  it("liveness - with ping_interval 1s and ping_max 2, nats-server drops a SIGSTOPped instance that gets no traffic from the queue group; calls then reach the other", async () => {
    await using nats = await natsFixture({ ping_interval: "1s", ping_max: 2 });
    const a = await startChildInstance("pings", "a", nats.server.url);
    const b = await startChildInstance("pings", "b", nats.server.url);
    const fetch = createFetch({ nc: nats.nc, timeout: 20_000 });
    const queueSubs = async () =>
      ((await nats.server.subsz({ subs: 1, test: "mesh.pings.get" })).subscriptions_list ?? []).filter(
        (s) => s.qgroup === "pings",
      ).length;
    try {
      await check(async () => (await queueSubs()) === 2, 10_000, { name: "both instances subscribed" });
      expect((await fetch("http://pings/whoami")).status).toBe(200);
      a.process.kill("SIGSTOP");
      // No traffic meanwhile: nats-server 2.9.10 delays its PING while it writes to a connection, so
      // a stopped instance that keeps receiving requests is not dropped this way (docs/OPERATIONS.md).
      await check(async () => (await queueSubs()) === 1, 15_000, { name: "the stopped instance dropped" });
      const answers: string[] = [];
      for (let i = 0; i < 10; i++) answers.push(await (await fetch("http://pings/whoami")).text());
      expect(answers).toEqual(Array(10).fill("b"));
    } finally {
      a.process.kill("SIGCONT");
      await a.kill();
      await b.kill();
    }
  }, 60_000);
});

describe("liveness - an instance whose event loop lags steps out of its queue group", () => {
  let nats: NatsFixture;
  beforeAll(async () => {
    nats = await natsFixture();
  });
  afterAll(async () => {
    await nats?.[Symbol.asyncDispose]();
  });

  it("liveness - while a handler blocks its loop in slices, its instance leaves the queue group and the other answers; it rejoins after", async () => {
    const a = await startChildInstance("lag", "a", nats.server.url, { LAG_THRESHOLD: "150", LOG: "info" });
    let b: ChildInstance | undefined;
    const fetch = createFetch({ nc: nats.nc, timeout: 30_000 });
    const log: string[] = [];
    const dir = await mkdtemp(path.join(tmpdir(), "natsmesh-test-lag-"));
    const release = path.join(dir, "release");
    a.process.stdout!.on("data", (c: Buffer) => log.push(c.toString()));
    const queueSubs = async () =>
      ((await nats.server.subsz({ subs: 1, test: "mesh.lag.get" })).subscriptions_list ?? []).filter(
        (s) => s.qgroup === "lag",
      ).length;
    try {
      await check(async () => (await queueSubs()) === 1, 10_000, { name: "a subscribed" });
      // a alone takes a non-idempotent request (never re-sent) that blocks its loop 300 ms at a time
      // until the test has seen b answer in its place (the release file), 60 s at most.
      const hog = fetch(`http://lag/hog?ms=60000&slice=300&until=${encodeURIComponent(release)}`, {
        method: "POST",
      });
      await check(() => log.join("").includes("leaving the queue group"), 10_000, { name: "a steps out" });
      await check(async () => (await queueSubs()) === 0, 10_000, { name: "a out of the group" });
      b = await startChildInstance("lag", "b", nats.server.url);
      await check(async () => (await queueSubs()) === 1, 10_000, { name: "b the only member" });
      expect(log.join("")).not.toContain("joining the queue group");
      const answers: string[] = [];
      for (let i = 0; i < 20; i++) answers.push(await (await fetch("http://lag/whoami")).text());
      expect(answers).toEqual(Array(20).fill("b"));
      expect(log.join("")).not.toContain("joining the queue group");
      await writeFile(release, "");
      expect((await hog).status).toBe(200);
      await check(() => log.join("").includes("joining the queue group"), 10_000, { name: "a rejoins" });
      await check(async () => (await queueSubs()) === 2, 10_000, { name: "two members again" });
      await check(async () => (await (await fetch("http://lag/whoami")).text()) === "a", 10_000, {
        name: "a answers again",
      });
    } finally {
      await writeFile(release, "");
      await a.kill();
      await b?.kill();
      await rm(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
