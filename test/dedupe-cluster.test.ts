/**
 * Deduplication across a KV leader election (issue #23, docs/TRAFFIC.md §8): on a real 3-node
 * JetStream cluster, the node leading the three-replica bucket is SIGKILLed while keyed POSTs arrive.
 * The store's operations meet no leader until the other two elect one; they are tried again within
 * `storeRetry`, so every keyed POST is answered 201 (none 503 NM_ERR_DEDUPE_UNAVAILABLE) and each
 * key runs once.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SoakCluster } from "../bench/soak/mesh.js";
import { createFetch, type ServiceHandle, serve } from "../src/index.js";
import { silentLogger as silent } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

const BUCKET = "dd-cluster";

describe("dedupe - a three-replica bucket on a JetStream cluster", () => {
  let nodes: SoakCluster;
  const connections: NatsConnection[] = [];
  let service: ServiceHandle | undefined;

  beforeAll(async () => {
    nodes = await SoakCluster.start({ ping: undefined, jetstream: true }, () => 0);
  }, 60_000);
  afterAll(async () => {
    await service?.stop({ timeout: 1000 });
    for (const nc of connections) await nc.close();
    await nodes?.stop();
  });

  it("dedupe - the bucket's leader node SIGKILLed under keyed POSTs: every one answered 201, each key run once, repeats replayed", async () => {
    const admin = await connect({ servers: nodes.urls, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    connections.push(admin);
    // The bucket as serve() makes it (three replicas), so that its leader is known before the kill.
    await new Kvm(admin).create(BUCKET, { history: 1, ttl: 600_000, replicas: 3 });
    const jsm = await jetstreamManager(admin);
    const leaderName = async () => (await jsm.streams.info(`KV_${BUCKET}`)).cluster?.leader ?? "";
    const leader = await check(leaderName, 20_000, { name: "the bucket has a leader" });
    const victim = nodes.nodes.servers.findIndex((s) => s.name === leader);
    expect(victim).toBeGreaterThanOrEqual(0);
    // The instance and the caller stay on a node that lives: only the store meets the election.
    const survivor = nodes.nodes.servers[(victim + 1) % 3]!.url;
    const nc = await connect({ servers: survivor });
    connections.push(nc);
    let runs = 0;
    const executed = new Map<string, number>();
    service = await serve(
      async (req: Request) => {
        runs++;
        const key = req.headers.get("idempotency-key")!;
        executed.set(key, (executed.get(key) ?? 0) + 1);
        return new Response(`ran ${key}`, { status: 201 });
      },
      { service: "dd-cluster", nc, logger: silent, metrics: false, dedupe: { bucket: BUCKET, replicas: 3 } },
    );
    const fetch = createFetch({ nc, timeout: 30_000 });
    const post = (key: string) =>
      fetch("http://dd-cluster/orders", { method: "POST", headers: { "idempotency-key": key }, body: key });
    expect((await post("before")).status).toBe(201);

    await nodes.nodes.servers[victim]!.kill("SIGKILL");
    // Keyed POSTs from the moment of the kill until the bucket has a new leader, then a few more.
    const answers: Array<Promise<[string, number, string]>> = [];
    let n = 0;
    const send = () => {
      const key = `k-${++n}`;
      answers.push(post(key).then(async (res) => [key, res.status, await res.text()]));
    };
    send();
    await check(
      async () => {
        send();
        const now = await leaderName().catch(() => "");
        return now !== "" && now !== leader;
      },
      30_000,
      { name: "the bucket has a new leader", interval: 100 },
    );
    for (let i = 0; i < 5; i++) send();
    const settled = await Promise.all(answers);
    expect(settled.filter(([, status]) => status !== 201)).toEqual([]);
    expect(settled.every(([key, , body]) => body === `ran ${key}`)).toBe(true);
    expect([...executed.values()].every((times) => times === 1)).toBe(true);
    expect(runs).toBe(n + 1);

    // Repeats of keys written across the election get their kept answer, without running again.
    for (const key of ["k-1", `k-${n}`]) {
      const again = await post(key);
      expect(again.status).toBe(201);
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      expect(await again.text()).toBe(`ran ${key}`);
    }
    expect(runs).toBe(n + 1);
  }, 90_000);
});
