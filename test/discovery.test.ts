/**
 * The NATS micro protocol (ADR-32) as natsmesh services speak it: `$SRV.PING|INFO|STATS`, bare, by
 * name and by name and id, checked with raw NATS requests and with the official `@nats-io/services`
 * client as the peer.
 */
import { type ServiceClient, Svcm } from "@nats-io/services";
import { type NatsConnection, NoRespondersError } from "@nats-io/transport-node";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFetch, type MeshFetch, type ServiceHandle, serve } from "../src/index.js";
import {
  createMetrics,
  type MicroInfoResponse,
  type MicroPingResponse,
  type MicroStatsResponse,
  queryServices,
} from "../src/internal.js";
import { fetchApp } from "./support/apps.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

let nats: NatsFixture;
let nc: NatsConnection;
let fetch: MeshFetch;
const running: ServiceHandle[] = [];
let weather: ServiceHandle[];
let invoices: ServiceHandle;

/** Every answer to `subject` within `ms`, parsed (none when nobody listens). */
async function collect<T>(subject: string, ms = 250): Promise<T[]> {
  const out: T[] = [];
  try {
    for await (const m of await nc.requestMany(subject, "", { strategy: "timer", maxWait: ms })) {
      out.push(m.json<T>());
    }
  } catch (err) {
    if (!(err instanceof NoRespondersError)) throw err;
  }
  return out;
}

function start(service: string, options: Record<string, unknown> = {}): Promise<ServiceHandle> {
  return serve(fetchApp(service), {
    service,
    nc,
    logger: silent,
    metrics: createMetrics({ registry: new Registry() }),
    ...options,
  }).then((svc) => {
    running.push(svc);
    return svc;
  });
}

const ids = (docs: Array<{ id: string }>) => docs.map((d) => d.id).sort();

beforeAll(async () => {
  nats = await natsFixture();
  nc = nats.nc;
  fetch = createFetch({ nc });
  weather = [
    await start("weather", { version: "1.2.3", description: "the weather API", metadata: { team: "sky" } }),
    await start("weather", { version: "1.2.3", description: "the weather API", metadata: { team: "sky" } }),
  ];
  invoices = await start("billing.invoices");
});

afterAll(async () => {
  for (const svc of running) await svc.stop();
  await nats?.[Symbol.asyncDispose]();
});

describe("discovery - $SRV subjects", () => {
  it("discovery - PING bare is answered by every instance, by name by that service's, by name and id by one", async () => {
    const all = [...weather, invoices].map((s) => s.instance).sort();
    expect(ids(await collect<MicroPingResponse>("$SRV.PING"))).toEqual(all);
    expect(ids(await collect<MicroPingResponse>("$SRV.PING.weather"))).toEqual(
      weather.map((s) => s.instance).sort(),
    );
    expect(ids(await collect<MicroPingResponse>("$SRV.PING.billing_invoices"))).toEqual([invoices.instance]);
    const one = await collect<MicroPingResponse>(`$SRV.PING.weather.${weather[1]!.instance}`);
    expect(one).toEqual([
      {
        type: "io.nats.micro.v1.ping_response",
        name: "weather",
        id: weather[1]!.instance,
        version: "1.2.3",
        metadata: {
          team: "sky",
          "natsmesh.service": "weather",
          "natsmesh.prefix": "mesh",
          "natsmesh.protocol": "1",
        },
      },
    ]);
  });

  it("discovery - INFO and STATS answer bare, by name and by name and id, like PING", async () => {
    for (const verb of ["INFO", "STATS"]) {
      expect(await collect(`$SRV.${verb}`)).toHaveLength(3);
      expect(ids(await collect<{ id: string }>(`$SRV.${verb}.weather`))).toEqual(
        weather.map((s) => s.instance).sort(),
      );
      expect(
        ids(await collect<{ id: string }>(`$SRV.${verb}.billing_invoices.${invoices.instance}`)),
      ).toEqual([invoices.instance]);
    }
  });

  it("discovery - INFO is schema-complete: one endpoint 'http' on the service subject in its queue group", async () => {
    const [info] = await collect<MicroInfoResponse>(`$SRV.INFO.billing_invoices.${invoices.instance}`);
    expect(info).toEqual({
      type: "io.nats.micro.v1.info_response",
      name: "billing_invoices",
      id: invoices.instance,
      version: "0.0.0",
      description: "",
      metadata: {
        "natsmesh.service": "billing.invoices",
        "natsmesh.prefix": "mesh",
        "natsmesh.protocol": "1",
      },
      endpoints: [
        {
          name: "http",
          subject: "mesh.billing.invoices.*",
          queue_group: "billing.invoices",
          // The subjects it also serves without a queue group (PROTOCOL.md §10), counted in this endpoint.
          metadata: {
            "natsmesh.instance_subject": `mesh.billing.invoices.$I.${invoices.instance}.*`,
            "natsmesh.every_subject": "mesh.billing.invoices.$ALL.*",
          },
        },
      ],
    });
    const [described] = await collect<MicroInfoResponse>(`$SRV.INFO.weather.${weather[0]!.instance}`);
    expect(described?.description).toBe("the weather API");
    // Without direct subscriptions, no subjects named in the metadata.
    const alone = await start("alone", { direct: false });
    try {
      const [info] = await collect<MicroInfoResponse>(`$SRV.INFO.alone.${alone.instance}`);
      expect(info?.endpoints).toEqual([
        { name: "http", subject: "mesh.alone.*", queue_group: "alone", metadata: {} },
      ]);
    } finally {
      await alone.stop();
    }
  });

  it("discovery - STATS is schema-complete and starts at zero", async () => {
    const svc = await start("fresh", { version: "2.0.0-rc.1" });
    const [stats] = await collect<MicroStatsResponse>(`$SRV.STATS.fresh.${svc.instance}`);
    expect(stats).toEqual({
      type: "io.nats.micro.v1.stats_response",
      name: "fresh",
      id: svc.instance,
      version: "2.0.0-rc.1",
      metadata: { "natsmesh.service": "fresh", "natsmesh.prefix": "mesh", "natsmesh.protocol": "1" },
      started: svc.started.toISOString(),
      endpoints: [
        {
          name: "http",
          subject: "mesh.fresh.*",
          queue_group: "fresh",
          num_requests: 0,
          num_errors: 0,
          last_error: "",
          processing_time: 0,
          average_processing_time: 0,
          data: { cancelled: 0 },
        },
      ],
    });
    expect(stats!.started).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  });

  it("discovery - stop() removes the $SRV subscriptions before draining", async () => {
    const svc = await start("leaving");
    expect(await collect("$SRV.PING.leaving")).toHaveLength(1);
    const slow = fetch("http://leaving/slow?ms=300");
    await check(() => svc.stats().inFlight === 1, 2000, { name: "request accepted" });
    const stopped = svc.stop();
    // While the instance drains its accepted request, discovery no longer sees it.
    expect(await collect("$SRV.PING.leaving", 150)).toEqual([]);
    expect((await slow).status).toBe(200);
    await stopped;
  });
});

describe("discovery - STATS after known traffic", () => {
  it("discovery - requests are counted and timed: a ≥ 20 ms handler shows average_processing_time ≥ 20e6 ns", async () => {
    const svc = await start("timed");
    for (let i = 0; i < 3; i++) expect((await fetch("http://timed/slow?ms=25")).status).toBe(200);
    const [stats] = await collect<MicroStatsResponse>(`$SRV.STATS.timed.${svc.instance}`);
    const ep = stats!.endpoints[0]!;
    expect(ep).toMatchObject({ num_requests: 3, num_errors: 0, last_error: "" });
    expect(ep.average_processing_time).toBeGreaterThanOrEqual(20e6);
    expect(ep.average_processing_time).toBeLessThan(1e9);
    expect(ep.processing_time).toBeGreaterThanOrEqual(60e6);
    expect(Number.isInteger(ep.processing_time) && Number.isInteger(ep.average_processing_time)).toBe(true);
    expect(svc.stats()).toMatchObject({ requests: 3, errors: 0, lastError: "" });
  });

  it("discovery - a 500 increments num_errors and sets last_error; a thrown handler and a malformed message too", async () => {
    const svc = await start("failing");
    expect((await fetch("http://failing/status/500")).status).toBe(500);
    expect((await fetch("http://failing/status/404")).status).toBe(404);
    let [stats] = await collect<MicroStatsResponse>(`$SRV.STATS.failing.${svc.instance}`);
    expect(stats!.endpoints[0]).toMatchObject({
      num_requests: 2,
      num_errors: 1,
      last_error: "500 Custom 500",
    });

    expect((await fetch("http://failing/throw")).status).toBe(500);
    [stats] = await collect<MicroStatsResponse>(`$SRV.STATS.failing.${svc.instance}`);
    expect(stats!.endpoints[0]).toMatchObject({
      num_requests: 3,
      num_errors: 2,
      last_error: "500 NM_ERR_HANDLER",
    });

    await nc.request("mesh.failing.get", "not a natsmesh frame", { timeout: 2000 });
    [stats] = await collect<MicroStatsResponse>(`$SRV.STATS.failing.${svc.instance}`);
    expect(stats!.endpoints[0]).toMatchObject({ num_requests: 4, num_errors: 3 });
    expect(stats!.endpoints[0]!.last_error).toMatch(/^400 NM_ERR_MALFORMED: malformed message/);
  });
});

describe("discovery - peers", () => {
  it("discovery - the @nats-io/services client parses and lists natsmesh services (ping, info, stats)", async () => {
    // @nats-io/services 3.0.0-25 is typed against its own nats-core; the connection is the same API.
    const client: ServiceClient = new Svcm(nc as never).client({ strategy: "timer", maxWait: 400 } as never);
    const drain = async <T>(it: AsyncIterable<T>) => {
      const out: T[] = [];
      for await (const x of it) out.push(x);
      return out;
    };
    const pings = await drain(await client.ping());
    expect(
      pings
        .filter((p) => p.name === "weather")
        .map((p) => p.id)
        .sort(),
    ).toEqual(weather.map((s) => s.instance).sort());
    expect(pings.find((p) => p.id === invoices.instance)).toMatchObject({
      name: "billing_invoices",
      version: "0.0.0",
    });

    const infos = await drain(await client.info("weather"));
    expect(infos).toHaveLength(2);
    for (const info of infos) {
      expect(info).toMatchObject({ description: "the weather API", version: "1.2.3" });
      expect(info.endpoints).toEqual([
        {
          name: "http",
          subject: "mesh.weather.*",
          queue_group: "weather",
          metadata: {
            "natsmesh.instance_subject": `mesh.weather.$I.${info.id}.*`,
            "natsmesh.every_subject": "mesh.weather.$ALL.*",
          },
        },
      ]);
    }

    await fetch("http://billing.invoices/echo");
    const stats = await drain(await client.stats("billing_invoices", invoices.instance));
    expect(stats).toHaveLength(1);
    expect(stats[0]!.endpoints?.[0]).toMatchObject({ name: "http", num_requests: 1, num_errors: 0 });
  });

  it("discovery - queryServices maps dotted natsmesh names and keeps only that service's answers", async () => {
    const replies = await queryServices(nc, "PING", { service: "billing.invoices", timeout: 300 });
    expect(replies.map((r) => r.response.id)).toEqual([invoices.instance]);
    expect(replies[0]!.rtt).toBeGreaterThan(0);
    const micro = await new Svcm(nc as never).add({
      name: "billing_invoices",
      version: "9.9.9",
    });
    try {
      // A plain micro service with the mapped name answers the same subject, but is another service.
      expect(await collect("$SRV.PING.billing_invoices", 300)).toHaveLength(2);
      expect(await queryServices(nc, "PING", { service: "billing.invoices", timeout: 300 })).toHaveLength(1);
      const plain = await queryServices(nc, "PING", { service: "billing_invoices", timeout: 300 });
      expect(plain.map((r) => r.response.version)).toEqual(["9.9.9"]);
    } finally {
      await micro.stop();
    }
  });

  it("discovery - serve() refuses a version that is not semver and an instance id micro cannot carry", async () => {
    await expect(start("bad", { version: "1.2" })).rejects.toThrow(/invalid service version '1.2'/);
    await expect(start("bad", { instance: "a.b" })).rejects.toThrow(/invalid instance id 'a.b'/);
    await start("quiet", { discovery: false });
    expect(await collect("$SRV.PING.quiet", 200)).toEqual([]);
    expect((await fetch("http://quiet/whoami")).status).toBe(200);
  });
});
