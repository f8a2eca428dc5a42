/**
 * Deduplicated requests while the bucket has no leader (issue #23, docs/TRAFFIC.md §8): on a real
 * 3-node JetStream cluster the node leading the three-replica bucket is SIGKILLed, and requests
 * arrive while the other two elect a leader. What the store can do then (a write meets no
 * responder, a read no answer), `unavailable: "run-unclaimed"` (a new key runs at once, a key run
 * here is replayed, the answer is kept after the election), and running keys not taken over because
 * their renewals failed during the election.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { SoakCluster } from "../bench/soak/mesh.js";
import { recordKey } from "../src/dedupe/index.js";
import { createFetch, type DedupeOptions, type ServiceHandle, serve } from "../src/index.js";
import { createMetrics } from "../src/metrics/index.js";
import { silentLogger as silent } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

const BUCKET = "dd-election";

/** The `natsmesh_service_dedupe_total` series of `service`, by outcome. */
async function outcomes(registry: Registry, service: string): Promise<Record<string, number>> {
  const found: Record<string, number> = {};
  const re = new RegExp(
    `^natsmesh_service_dedupe_total\\{service="${service}",outcome="([a-z_]+)"\\} (\\d+)$`,
    "gm",
  );
  for (const m of (await registry.metrics()).matchAll(re)) found[m[1]!] = Number(m[2]);
  return found;
}

/** A 3-node cluster with the bucket made (three replicas), a connection to a node that will live. */
interface Election {
  nodes: SoakCluster;
  /** A connection to a node other than the bucket's leader. */
  nc: NatsConnection;
  /** The bucket, through {@link nc}. */
  kv: KV;
  /** SIGKILLs the bucket's leader; resolves once it is dead (the election then starts). */
  killLeader(): Promise<void>;
  /** Resolves once the bucket has a leader other than the killed one. */
  elected(): Promise<void>;
}

const open: Array<{ close(): Promise<unknown> }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function election(): Promise<Election> {
  const nodes = await SoakCluster.start({ ping: undefined, jetstream: true }, () => 0);
  open.push({ close: () => nodes.stop() });
  const admin = await connect({ servers: nodes.urls, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  open.push(admin);
  await new Kvm(admin).create(BUCKET, { history: 1, ttl: 600_000, replicas: 3 });
  const jsm = await jetstreamManager(admin);
  const leaderName = async () => (await jsm.streams.info(`KV_${BUCKET}`)).cluster?.leader ?? "";
  const leader = await check(leaderName, 20_000, { name: "the bucket has a leader" });
  const victim = nodes.nodes.servers.findIndex((s) => s.name === leader);
  expect(victim).toBeGreaterThanOrEqual(0);
  const nc = await connect({ servers: nodes.nodes.servers[(victim + 1) % 3]!.url });
  open.push(nc);
  const kv = await new Kvm(jetstream(nc, { timeout: 500 })).open(BUCKET);
  return {
    nodes,
    nc,
    kv,
    killLeader: () => nodes.nodes.servers[victim]!.kill("SIGKILL"),
    elected: async () => {
      await check(async () => ![leader, ""].includes(await leaderName().catch(() => "")), 30_000, {
        name: "the bucket has a new leader",
        interval: 100,
      });
    },
  };
}

/** A keyed POST handler counting its runs per key; `hold` keeps a key's run open until released. */
function orders(hold?: Promise<void>) {
  const runs = new Map<string, number>();
  const handler = async (req: Request) => {
    const key = req.headers.get("idempotency-key")!;
    runs.set(key, (runs.get(key) ?? 0) + 1);
    if (hold !== undefined && key.startsWith("hold")) await hold;
    return new Response(`ran ${key}`, { status: 201 });
  };
  return { runs, handler };
}

describe("dedupe - the bucket without a leader (a 3-node JetStream cluster, its leader SIGKILLed)", () => {
  it("dedupe election - a write meets no responder at once and a read gets no answer until a leader is elected", async () => {
    const e = await election();
    await e.kv.put("before", "v");
    await e.killLeader();
    // nats-server 2.9.10: only the leader takes writes; the replicas answer no direct get without one.
    // Until the surviving node has seen its route to the dead one close, a write may still be
    // forwarded there and time out; from then on it meets no responder at once.
    const writeRefused = async () => {
      const err = await e.kv.put("new", "v", { previousSeq: 0 }).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(err).toBeDefined();
      return /jetstream is not enabled/.test(String(err));
    };
    await check(writeRefused, 10_000, { name: "a write meets no responder" });
    await expect(e.kv.get("before")).rejects.toThrow(/timeout/);
    await e.elected();
    expect((await e.kv.get("before"))?.string()).toBe("v");
  }, 90_000);

  it("dedupe election - run-unclaimed: a new key runs at once (counted unclaimed), a key run before is replayed, and the answer is kept after the election", async () => {
    const e = await election();
    const registry = new Registry();
    const { runs, handler } = orders();
    const service = "dd-unclaimed";
    const handle: ServiceHandle = await serve(handler, {
      service,
      nc: e.nc,
      logger: silent,
      metrics: createMetrics({ registry }),
      dedupe: { bucket: BUCKET, replicas: 3, unavailable: "run-unclaimed" } satisfies DedupeOptions,
    });
    open.push({ close: () => handle.stop({ timeout: 1000 }) });
    const fetch = createFetch({ nc: e.nc, timeout: 30_000 });
    const post = async (key: string) => {
      const res = await fetch(`http://${service}/orders`, {
        method: "POST",
        headers: { "idempotency-key": key },
        body: key,
      });
      return { status: res.status, replayed: res.headers.get("idempotent-replayed"), body: await res.text() };
    };
    expect(await post("before")).toEqual({ status: 201, replayed: null, body: "ran before" });

    await e.killLeader();
    expect(await post("new")).toEqual({ status: 201, replayed: null, body: "ran new" });
    expect(await post("before")).toEqual({ status: 201, replayed: "true", body: "ran before" });
    expect(await outcomes(registry, service)).toMatchObject({ executed: 1, unclaimed: 1, replayed: 1 });

    await e.elected();
    // The answer of the key run unclaimed reaches the bucket once it has a leader; repeats replay it.
    await check(async () => (await e.kv.get(recordKey(service, "new")).catch(() => null)) !== null, 30_000, {
      name: "the unclaimed key's answer kept",
    });
    expect(await post("new")).toEqual({ status: 201, replayed: "true", body: "ran new" });
    expect(Object.fromEntries(runs)).toEqual({ before: 1, new: 1 });
    expect(await outcomes(registry, service)).not.toHaveProperty("unclaimed_conflict");
  }, 90_000);

  it("dedupe election - a key running through the election is not taken over although its renewals failed for longer than the lease", async () => {
    const e = await election();
    let release!: () => void;
    const { runs, handler } = orders(new Promise<void>((r) => (release = r)));
    const service = "dd-renewal";
    // A lease shorter than the election: the running record goes unrenewed for longer than it.
    const dedupe: DedupeOptions = { bucket: BUCKET, replicas: 3, lease: 1500, wait: 60_000 };
    const instances: ServiceHandle[] = [];
    for (let i = 0; i < 2; i++) {
      const handle = await serve(handler, { service, nc: e.nc, logger: silent, metrics: false, dedupe });
      instances.push(handle);
      open.push({ close: () => handle.stop({ timeout: 1000 }) });
    }
    const fetch = createFetch({ nc: e.nc, timeout: 60_000 });
    const post = () =>
      fetch(`http://${service}/orders`, {
        method: "POST",
        headers: { "idempotency-key": "hold" },
        body: "x",
      });
    // The first run holds the key; repeats (on either instance) wait for it.
    const first = post();
    await check(() => runs.get("hold") === 1, 10_000, { name: "the first run started" });
    const repeats = Array.from({ length: 6 }, () => post());
    await e.killLeader();
    await e.elected();
    // Past the election, repeats read the record (renewed again) for a while before it is released.
    await check(async () => (await e.kv.get(recordKey(service, "hold")).catch(() => null)) !== null, 30_000, {
      name: "the record readable again",
    });
    const renewedAfter = (await e.kv.get(recordKey(service, "hold")))!.revision;
    await check(
      async () =>
        ((await e.kv.get(recordKey(service, "hold")).catch(() => null))?.revision ?? 0) > renewedAfter + 2,
      30_000,
      { name: "the running record renewed three times after the election" },
    );
    release();
    const answers = await Promise.all([first, ...repeats]);
    expect(answers.map((r) => r.status)).toEqual(Array(7).fill(201));
    expect(runs.get("hold")).toBe(1);
  }, 120_000);
});
