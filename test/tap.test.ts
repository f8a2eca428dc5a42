/**
 * Taps and access records (PROTOCOL.md §11) on a real 3-node cluster: instances on one node publish
 * a record per answered request, a tap on another node reads them without joining the queue group;
 * a caller of a service with no instance still gets its 503 at once while a tap runs (and would not
 * with a plain subscription on the request subjects: why taps read records); records are off by
 * default, carry no body, header value or query; a slow tap reader drops and counts; bad input gets
 * typed errors.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createFetch,
  InvalidServiceError,
  type MeshFetch,
  NoRespondersError,
  type ServiceHandle,
  serve,
  TimeoutError,
} from "../src/index.js";
import { AccessRecords, encodeAccessRecord } from "../src/internal.js";
import { createMetrics } from "../src/metrics/index.js";
import type { AccessRecord } from "../src/protocol/index.js";
import { type Tap, type TapEvent, tap } from "../src/tap/index.js";
import {
  type ClusterFixture,
  clusterFixture,
  natsFixture,
  silentLogger as silent,
  superClusterFixture,
} from "./support/helpers.js";
import { check } from "./support/nats-server.js";

/** Long enough that a call that waited for it could not pass the "at once" checks below. */
const TIMEOUT = 10_000;
const AT_ONCE = 2_000;

let nats: ClusterFixture;
/** Instances connect to node 0; taps and callers to node 2. */
let ncService: NatsConnection;
let ncCaller: NatsConnection;
let fetch: MeshFetch;
const handles: ServiceHandle[] = [];

const orders = async (req: Request) => {
  const url = new URL(req.url);
  if (url.pathname === "/boom") throw new Error("boom");
  await req.text();
  return new Response(`order ${url.pathname}`, { status: req.method === "POST" ? 201 : 200 });
};

async function start(service: string, instance: string, accessRecords?: boolean | { buffer: number }) {
  const h = await serve(orders, {
    service,
    instance,
    nc: ncService,
    logger: silent,
    metrics: false,
    discovery: false,
    ...(accessRecords !== undefined && { accessRecords }),
  });
  handles.push(h);
  return h;
}

/** Waits until node 0, where the instances are, knows of the tap's subscription (route propagation). */
async function tapOn(service: string, options: Parameters<typeof tap>[1] = {}): Promise<Tap> {
  const t = await tap(service, { nc: ncCaller, ...options });
  const subject = t.subject;
  await check(
    async () =>
      (await nats.servers[0]!.routez({ subs: 1 })).routes?.some((r) =>
        (r.subscriptions_list as string[] | undefined)?.includes(subject),
      ),
    5000,
    { name: "the tap's interest reached the instances' node" },
  );
  return t;
}

/** Takes `n` records from a tap. */
async function take(t: Tap, n: number): Promise<AccessRecord[]> {
  const out: AccessRecord[] = [];
  if (n === 0) return out;
  for await (const r of iterate(t)) {
    out.push(r);
    if (out.length === n) break;
  }
  return out;
}

/** The tap's iterator, without ending the tap when a loop breaks out of it. */
function iterate(t: Tap): AsyncIterable<AccessRecord> {
  const it = t[Symbol.asyncIterator]();
  return { [Symbol.asyncIterator]: () => ({ next: () => it.next() }) };
}

beforeAll(async () => {
  nats = await clusterFixture(3);
  [ncService, ncCaller] = await Promise.all([
    nats.connect({ servers: nats.servers[0]!.url }),
    nats.connect({ servers: nats.servers[2]!.url }),
  ]);
  fetch = createFetch({ nc: ncCaller, timeout: TIMEOUT });
}, 30_000);

afterAll(async () => {
  await Promise.all(handles.map((h) => h.stop()));
  await nats?.[Symbol.asyncDispose]();
});

describe("tap - access records across a cluster", () => {
  it("tap - one record per answered request: time, method, path without its query, status, duration, instance, request id; no body or header value", async () => {
    await start("orders", "o1", true);
    await using t = await tapOn("orders");
    const before = Date.now();
    const res = await fetch("http://orders/42?token=s3cret", {
      method: "POST",
      body: "card=4111111111111111",
      headers: { "x-request-id": "rid-1", authorization: "Bearer hush" },
    });
    expect(res.status).toBe(201);
    await res.text();
    const boom = await fetch("http://orders/boom");
    expect(boom.status).toBe(500);
    const [a, b] = await take(t, 2);
    expect(a).toMatchObject({
      service: "orders",
      instance: "o1",
      method: "POST",
      path: "/42",
      status: 201,
      requestId: "rid-1",
    });
    expect(a!.time).toBeGreaterThanOrEqual(before);
    expect(a!.ms).toBeGreaterThanOrEqual(0);
    expect(b).toMatchObject({ method: "GET", path: "/boom", status: 500, instance: "o1" });
    // No x-request-id sent: the record carries the one the instance generated and answered with.
    expect(b!.requestId).toBe(boom.headers.get("x-request-id"));
    const wire = encodeAccessRecord(a!);
    for (const secret of ["s3cret", "4111", "hush", "Bearer", "token"]) expect(wire).not.toContain(secret);
    expect(t.received).toBeGreaterThanOrEqual(2);
  });

  it("tap - a caller of a service with no instance gets its 503 at once while a tap runs", async () => {
    await using t = await tapOn("ghost");
    const started = performance.now();
    await expect(fetch("http://ghost/x")).rejects.toBeInstanceOf(NoRespondersError);
    expect(performance.now() - started).toBeLessThan(AT_ONCE);
    expect(t.received).toBe(0);
  });

  it("tap - why taps read records: a plain subscription on the request subjects would turn that 503 into a timeout", async () => {
    const sub = ncCaller.subscribe("mesh.phantom.*");
    await ncCaller.flush();
    try {
      const short = createFetch({ nc: ncCaller, timeout: 300, retry: false });
      await expect(short("http://phantom/x")).rejects.toBeInstanceOf(TimeoutError);
    } finally {
      sub.unsubscribe();
    }
  });

  it("tap - records are off by default; instance filter; two instances", async () => {
    await start("stock", "quiet"); // no records
    await using all = await tapOn("stock");
    // The same connection gets the answers and the records, through one route from node 0: a record
    // published before the second answer arrives before it.
    expect((await fetch("http://stock/1")).status).toBe(200);
    expect((await fetch("http://stock/2")).status).toBe(200);
    expect(all.received).toBe(0);
    const loud = await start("stock", "loud", true);
    await using one = await tapOn("stock", { instance: "loud" });
    await handles.find((h) => h.instance === "quiet")!.stop();
    expect((await fetch("http://stock/3")).status).toBe(200);
    const [r] = await take(one, 1);
    const [s] = await take(all, 1);
    expect(r).toMatchObject({ instance: loud.instance, path: "/3" });
    expect(s).toEqual(r);
  });

  it("tap - a slow reader costs bounded memory: past its buffer records are dropped and counted, the service unaffected", async () => {
    await start("slow", "s1", true);
    const events: TapEvent[] = [];
    await using t = await tapOn("slow", { buffer: 3, onEvent: (e) => events.push(e) });
    for (let i = 0; i < 10; i++) expect((await fetch(`http://slow/${i}`)).status).toBe(200);
    await check(() => t.received === 10, 5000, { name: "every record received" });
    expect(t.dropped).toBe(7);
    expect(events).toEqual([{ type: "dropping", dropped: 1 }]);
    expect((await take(t, 3)).map((r) => r.path)).toEqual(["/0", "/1", "/2"]);
    // Caught up: the next record is kept again.
    expect((await fetch("http://slow/10")).status).toBe(200);
    expect((await take(t, 1))[0]!.path).toBe("/10");
  });

  it("tap - lines that are not records are counted and skipped; the tap goes on", async () => {
    await start("noisy", "n1", true);
    await using t = await tapOn("noisy");
    ncService.publish("mesh.noisy.$TAP.fake", 'garbage\n{"v":2}\n{"v":1,"time":"x"}\n');
    expect((await fetch("http://noisy/ok")).status).toBe(200);
    const [r] = await take(t, 1);
    expect(r).toMatchObject({ path: "/ok", instance: "n1" });
    expect(t.malformed).toBe(3);
  });

  it("tap - stop ends the iteration; a tap on a service nobody calls shows nothing and stops cleanly", async () => {
    const controller = new AbortController();
    const t = await tap("idle", { nc: ncCaller, signal: controller.signal });
    const seen: AccessRecord[] = [];
    const loop = (async () => {
      for await (const r of t) seen.push(r);
    })();
    controller.abort();
    await loop;
    expect(seen).toEqual([]);
    await t.stop();
    expect(ncCaller.isClosed()).toBe(false);
  });
});

describe("tap - access records on the instance", () => {
  it("serve - a full record buffer drops and counts records (a metric), never blocking", async () => {
    const metrics = createMetrics({ registry: new Registry() });
    const recorder = metrics.recorder("burst");
    const records = new AccessRecords(ncService, "mesh.burst.$TAP.b1", {
      service: "burst",
      instance: "b1",
      capacity: 4,
      recorder,
      log: silent,
    });
    const sub = ncService.subscribe("mesh.burst.$TAP.b1", { max: 1 });
    for (let i = 0; i < 10; i++) records.add("GET", `/${i}`, 200, 1, `r${i}`);
    const [msg] = await Promise.all([
      (async () => {
        for await (const m of sub) return m;
      })(),
    ]);
    records.close();
    expect(msg!.string().trim().split("\n")).toHaveLength(4);
    expect(records.published).toBe(4);
    expect(records.dropped).toBe(6);
    const text = await metrics.text();
    expect(text).toContain('natsmesh_service_access_records_total{service="burst"} 4');
    expect(text).toContain('natsmesh_service_access_records_dropped_total{service="burst"} 6');
  });

  it("serve - while the connection is down records wait in the bounded buffer, the rest are counted, and they leave on reconnect", async () => {
    await using single = await natsFixture();
    const nc = await single.connect({ reconnectTimeWait: 50 });
    const events: string[] = [];
    void (async () => {
      for await (const st of nc.status()) events.push(st.type);
    })();
    // The reader is the same connection: nats.js subscribes again on reconnect before anything it
    // publishes then, so the held records reach it whatever the timing.
    const sub = nc.subscribe("mesh.down.$TAP.d1", { max: 1 });
    await nc.flush();
    const records = new AccessRecords(nc, "mesh.down.$TAP.d1", {
      service: "down",
      instance: "d1",
      capacity: 4,
      recorder: undefined,
      log: silent,
    });
    await single.server.kill();
    await check(() => events.includes("disconnect"), 5000, { name: "disconnected" });
    for (let i = 0; i < 10; i++) records.add("GET", `/${i}`, 200, 1, `r${i}`);
    await new Promise((resolve) => setImmediate(resolve));
    expect(records.published).toBe(0);
    expect(records.dropped).toBe(6);
    await single.server.restart();
    for await (const m of sub) {
      expect(
        m
          .string()
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l).path),
      ).toEqual(["/0", "/1", "/2", "/3"]);
    }
    expect(records.published).toBe(4);
    expect(records.dropped).toBe(6);
    records.close();
  });

  it("serve - bad access-record settings and tap input get typed errors", async () => {
    await expect(start("bad", "b", { buffer: 0 })).rejects.toThrow(RangeError);
    await expect(
      serve(orders, {
        service: "bad",
        instance: "a.b",
        nc: ncService,
        logger: silent,
        accessRecords: true,
        discovery: false,
      }),
    ).rejects.toThrow(RangeError);
    const saved = process.env.NATSMESH_ACCESS_RECORDS;
    process.env.NATSMESH_ACCESS_RECORDS = "maybe";
    try {
      await expect(start("bad", "b")).rejects.toThrow(/NATSMESH_ACCESS_RECORDS/);
    } finally {
      if (saved === undefined) delete process.env.NATSMESH_ACCESS_RECORDS;
      else process.env.NATSMESH_ACCESS_RECORDS = saved;
    }
    await expect(tap("Bad Name", { nc: ncCaller })).rejects.toBeInstanceOf(InvalidServiceError);
    await expect(tap("orders", { nc: ncCaller, instance: "a.*" })).rejects.toThrow(RangeError);
    await expect(tap("orders", { nc: ncCaller, buffer: 0 })).rejects.toThrow(RangeError);
  });

  it("serve - NATSMESH_ACCESS_RECORDS=1 turns records on", async () => {
    const saved = process.env.NATSMESH_ACCESS_RECORDS;
    process.env.NATSMESH_ACCESS_RECORDS = "1";
    try {
      await start("envy", "e1");
    } finally {
      if (saved === undefined) delete process.env.NATSMESH_ACCESS_RECORDS;
      else process.env.NATSMESH_ACCESS_RECORDS = saved;
    }
    await using t = await tapOn("envy");
    expect((await fetch("http://envy/x")).status).toBe(200);
    expect((await take(t, 1))[0]).toMatchObject({ instance: "e1", path: "/x" });
  });
});

describe("tap - across a super-cluster", () => {
  it("tap - a tap in one cluster sees the records of an instance in another, through the gateways", async () => {
    await using sc = await superClusterFixture({
      clusters: [
        { name: "east", size: 1 },
        { name: "west", size: 1 },
      ],
    });
    const [eastNc, westNc] = await Promise.all([
      sc.connect({ servers: sc.clusters.east!.servers[0]!.url }),
      sc.connect({ servers: sc.clusters.west!.servers[0]!.url }),
    ]);
    const svc = await serve(orders, {
      service: "geo",
      instance: "east1",
      nc: eastNc,
      logger: silent,
      metrics: false,
      discovery: false,
      accessRecords: true,
    });
    try {
      // Subscribed before the service's first record: gateways forward a subject optimistically
      // until the other side has said it has no interest in it, so the first record crosses too.
      await using t = await tap("geo", { nc: westNc });
      const west = createFetch({ nc: westNc, timeout: TIMEOUT });
      await check(
        async () => (await west("http://geo/warm").catch(() => undefined))?.status === 200,
        10_000,
        {
          name: "the east instance reachable from west",
        },
      );
      expect((await west("http://geo/far")).status).toBe(200);
      const records = await take(t, 2);
      expect(records.map((r) => [r.instance, r.path])).toEqual([
        ["east1", "/warm"],
        ["east1", "/far"],
      ]);
      await west.close();
    } finally {
      await svc.stop();
    }
  });
});
