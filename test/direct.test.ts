/**
 * One chosen instance (1:1) and every instance (1:n, scatter-gather) on a real 3-node cluster and an
 * east/west super-cluster (PROTOCOL.md §10): the named instance answers, even when saturated; a gone
 * instance is 503 at once and never retried elsewhere; every instance answers a gather, which ends on
 * its limits and at once when nobody listens.
 */
import { PassThrough, Readable } from "node:stream";
import { pino } from "pino";
import { Registry } from "prom-client";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../src/cli/program.js";
import { queryServices } from "../src/discovery/index.js";
import { createGateway } from "../src/gateway/index.js";
import {
  createFetch,
  InvalidServiceError,
  MeshDispatcher,
  type MeshFetch,
  NoRespondersError,
  PayloadTooLargeError,
  type ServiceHandle,
  serve,
  TimeoutError,
} from "../src/index.js";
import { createMetrics } from "../src/metrics/index.js";
import {
  type ClusterFixture,
  clusterFixture,
  natsFixture,
  silentLogger as silent,
  superClusterFixture,
} from "./support/helpers.js";
import { check } from "./support/nats-server.js";

/** What `/event` requests each instance ran. */
const events: string[] = [];

/** A handler that names its instance; `/hold` waits until the test lets it go; `/big?n=` answers n bytes. */
function app(label: string, held: Array<() => void>) {
  return async (req: Request) => {
    const url = new URL(req.url);
    if (url.pathname === "/hold") await new Promise<void>((resolve) => held.push(resolve));
    if (url.pathname === "/big") return new Response(new Uint8Array(Number(url.searchParams.get("n"))));
    if (url.pathname === "/echo") return new Response(await req.text());
    if (url.pathname === "/event") events.push(`${label} ${req.method} ${await req.text()}`);
    return new Response(label);
  };
}

async function gather(
  iterable: AsyncIterable<Response>,
): Promise<Array<{ instance: string; status: number; text: string }>> {
  const out = [];
  for await (const res of iterable) {
    out.push({
      instance: res.headers.get("mesh-instance") ?? "",
      status: res.status,
      text: await res.text(),
    });
  }
  return out;
}

/** Runs `natsmesh <args>` in this process against `url`; resolves to its exit code and output. */
async function natsmesh(url: string, ...args: string[]) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on("data", (b: Buffer) => out.push(b));
  stderr.on("data", (b: Buffer) => err.push(b));
  const code = await runCli(["node", "natsmesh", ...args], {
    stdout,
    stderr,
    stdin: Readable.from([]),
    env: { NATS_URL: url },
  });
  return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

describe("direct - one instance and every instance on a 3-node cluster", () => {
  let c: ClusterFixture;
  let fetch: MeshFetch;
  const svcs: ServiceHandle[] = [];
  const held: Array<() => void> = [];
  let retries = 0;
  /** i2's own metrics. */
  const metrics = createMetrics({ registry: new Registry() });
  const answered = async () =>
    Number(
      /natsmesh_service_requests_total\{[^}]*status="200"[^}]*\} (\d+)/.exec(await metrics.text())?.[1] ?? 0,
    );

  beforeAll(async () => {
    c = await clusterFixture(3);
    // One instance per node, each on a connection of its own; the caller on node 0.
    for (const [i, id] of ["i0", "i1", "i2"].entries()) {
      const nc = await c.connect({ servers: c.servers[i]!.url });
      svcs.push(
        await serve(app(id, held), {
          service: "dir",
          instance: id,
          nc,
          concurrency: 1,
          logger: silent,
          ...(id === "i2" && { metrics }),
        }),
      );
    }
    fetch = createFetch({
      nc: await c.connect({ servers: c.servers[0]!.url }),
      timeout: 5000,
      retry: { onRetry: () => void retries++ },
    });
    // Every node knows every instance's interest once a gather hears all three.
    await check(async () => (await gather(fetch.all("http://dir/"))).length === 3, 5000, {
      name: "three instances answer a gather",
    });
  });

  afterAll(async () => {
    for (const release of held.splice(0)) release();
    for (const s of svcs) await s.stop({ timeout: 1000 });
    await c?.[Symbol.asyncDispose]();
  });

  it("direct - a request named to an instance is answered by that instance, on any node", async () => {
    for (const id of ["i2", "i0", "i1", "i2"]) {
      const res = await fetch("http://dir/whoami", { instance: id });
      expect(res.headers.get("mesh-instance")).toBe(id);
      expect(await res.text()).toBe(id);
    }
  });

  it("direct - a named call streams bodies beyond one message both ways, with that instance", async () => {
    const limit = c.nc.info!.max_payload;
    const big = await fetch(`http://dir/big?n=${limit + 1}`, { instance: "i2" });
    expect([big.status, big.headers.get("mesh-instance"), (await big.arrayBuffer()).byteLength]).toEqual([
      200,
      "i2",
      limit + 1,
    ]);
    const text = "x".repeat(limit + 1);
    const echoed = await fetch("http://dir/echo", { method: "POST", body: text, instance: "i0" });
    expect([echoed.headers.get("mesh-instance"), (await echoed.text()).length]).toEqual(["i0", limit + 1]);
  });

  it("direct - a saturated instance still answers a request named to it (it waits for a slot); load-shared ones go elsewhere", async () => {
    const busy = fetch("http://dir/hold", { instance: "i1" });
    await check(() => svcs[1]!.stats().inFlight === 1, 2000, { name: "i1 is busy" });
    const queued = fetch("http://dir/whoami", { instance: "i1" });
    await check(() => svcs[1]!.stats().queued === 1, 2000, { name: "the named request waits at i1" });
    // Load-shared requests meanwhile go to the members with capacity.
    for (let i = 0; i < 4; i++) expect(await (await fetch("http://dir/whoami")).text()).not.toBe("i1");
    held.shift()!();
    expect((await busy).headers.get("mesh-instance")).toBe("i1");
    expect(await (await queued).text()).toBe("i1");
  });

  it("direct - MeshDispatcher: undici's request() passes `instance` through to the named instance; gone is NoRespondersError", async () => {
    const dispatcher = new MeshDispatcher({ nc: c.nc, timeout: 5000 });
    const named = (instance: string) =>
      request("http://dir/whoami", { dispatcher, instance } as Parameters<typeof request>[1]);
    try {
      for (const id of ["i1", "i0"]) {
        const res = await named(id);
        expect([res.headers["mesh-instance"], await res.body.text()]).toEqual([id, id]);
      }
      await expect(named("gone")).rejects.toBeInstanceOf(NoRespondersError);
    } finally {
      await dispatcher.close();
    }
  });

  it("direct - an unknown instance is 503 NoRespondersError at once, never retried onto another instance", async () => {
    retries = 0;
    // The service answered lately (a load-shared call would wait for capacity until its deadline).
    await fetch("http://dir/whoami");
    const err = await fetch("http://dir/whoami", { instance: "gone" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoRespondersError);
    expect((err as NoRespondersError).status).toBe(503);
    expect((err as NoRespondersError).subject).toBe("mesh.dir.$I.gone.get");
    expect(retries).toBe(0);
  });

  it("direct - an instance id that cannot be a subject token is an InvalidServiceError (400) before anything is sent", async () => {
    for (const bad of ["", "a.b", "*", ">", "a b", "i1.*"]) {
      const err = await fetch("http://dir/whoami", { instance: bad }).catch((e: unknown) => e);
      expect(err, bad).toBeInstanceOf(InvalidServiceError);
      expect((err as InvalidServiceError).status).toBe(400);
    }
  });

  it("direct - every instance answers a gather once; max ends it at that many answers", async () => {
    const all = await gather(fetch.all("http://dir/whoami"));
    expect(all.map((a) => a.instance).sort()).toEqual(["i0", "i1", "i2"]);
    expect(all.every((a) => a.status === 200 && a.text === a.instance)).toBe(true);
    expect(await gather(fetch.all("http://dir/whoami", { max: 2 }))).toHaveLength(2);
    // A request body reaches every instance.
    const echoed = await gather(fetch.all("http://dir/echo", { method: "POST", body: "flush", max: 3 }));
    expect(echoed.map((a) => a.text)).toEqual(["flush", "flush", "flush"]);
  });

  it("direct - a gather nobody listens to ends at once with no answer (no responders), however long its wait", async () => {
    const started = performance.now();
    expect(await gather(fetch.all("http://nobody/", { timeout: 60_000, stall: 0 }))).toEqual([]);
    // Well within the 60 s total wait and no stall: only no-responders can have ended it.
    expect(performance.now() - started).toBeLessThan(30_000);
  });

  it("direct - a gather ends on its stall after the last answer, on abort, and on its total wait", async () => {
    // i1 holds its answer: the two others answer, then the stall ends the gather without it.
    const stalled = gather(fetch.all("http://dir/hold", { stall: 200, timeout: 0 }));
    await check(() => held.length === 3, 2000, { name: "all three hold" });
    held.shift()!();
    held.shift()!();
    expect(await stalled).toHaveLength(2);
    held.shift()!();
    // Abort: ends the iteration without an error.
    const controller = new AbortController();
    const aborted = gather(fetch.all("http://dir/hold", { signal: controller.signal, timeout: 0, stall: 0 }));
    await check(() => held.length === 3, 2000, { name: "all three hold again" });
    controller.abort();
    expect(await aborted).toEqual([]);
    for (const release of held.splice(0)) release();
    // The total wait: nothing answers in time.
    const waited = gather(fetch.all("http://dir/hold", { timeout: 100, stall: 0 }));
    expect(await waited).toEqual([]);
    await check(() => held.length === 3, 2000, { name: "the third gather's requests arrived" });
    for (const release of held.splice(0)) release();
  });

  it("direct - broadcast: an event (no reply subject) runs on every instance, answers nothing, and is counted; a malformed one is dropped", async () => {
    events.length = 0;
    const before = svcs.map((s) => s.stats());
    await fetch.broadcast("http://dir/event", { method: "POST", body: "flush" });
    await check(() => events.length === 3, 2000, { name: "every instance ran the event" });
    expect(events.sort()).toEqual(["i0 POST flush", "i1 POST flush", "i2 POST flush"]);
    await check(() => svcs.every((s, i) => s.stats().requests === before[i]!.requests + 1), 2000, {
      name: "counted as requests",
    });
    // Garbage without a reply subject on the every-instance subject: counted malformed, nothing runs.
    c.nc.publish("mesh.dir.$ALL.post", new Uint8Array([1, 2, 3]));
    await check(() => svcs.every((s, i) => s.stats().malformed === before[i]!.malformed + 1), 2000, {
      name: "the malformed event is counted",
    });
    expect(events).toHaveLength(3);
    // Nobody listening is no error; the request must fit one message.
    await fetch.broadcast("http://nobody/event", { method: "POST" });
    await expect(
      fetch.broadcast("http://dir/event", {
        method: "POST",
        body: new Uint8Array(c.nc.info!.max_payload + 1),
      }),
    ).rejects.toBeInstanceOf(PayloadTooLargeError);
  });

  it("direct - bodies beyond one message: a request body is PayloadTooLargeError (413), an answer each instance's 500 NM_ERR_PAYLOAD_TOO_LARGE", async () => {
    const limit = c.nc.info!.max_payload;
    const err = await gather(
      fetch.all("http://dir/echo", { method: "POST", body: new Uint8Array(limit + 1) }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PayloadTooLargeError);
    expect((err as PayloadTooLargeError).status).toBe(413);
    const big = await gather(fetch.all(`http://dir/big?n=${limit + 1}`));
    expect(big.map((a) => a.status)).toEqual([500, 500, 500]);
    expect(big[0]!.text).toContain("NM_ERR_PAYLOAD_TOO_LARGE");
  });

  it("direct - $SRV stats and metrics count named and gathered requests under the one 'http' endpoint", async () => {
    const before = svcs[2]!.stats().requests;
    // The endpoint's num_requests also counts dropped messages (docs/OPERATIONS.md).
    const endpointBefore = (svcs[2] as unknown as { counters(): { requests: number } }).counters().requests;
    const counted = await answered();
    await fetch("http://dir/whoami", { instance: "i2" });
    await gather(fetch.all("http://dir/whoami"));
    expect(svcs[2]!.stats().requests).toBe(before + 2);
    expect(await answered()).toBe(counted + 2);
    const [stats] = await queryServices(c.nc, "STATS", { service: "dir", id: "i2", timeout: 500 });
    expect(stats!.response.endpoints.map((e) => e.name)).toEqual(["http"]);
    expect(stats!.response.endpoints[0]!.num_requests).toBe(endpointBefore + 2);
  });

  it("direct - gateway: a route with instanceHeader lets the caller name the instance (gone: 503 at once, bad id: 400); other routes ignore the header", async () => {
    retries = 0;
    await using gateway = createGateway({
      listen: "127.0.0.1:0",
      nc: await c.connect({ servers: c.servers[2]!.url }),
      logger: silent,
      onRetry: () => void retries++,
      config: {
        routes: [
          {
            name: "picked",
            prefix: "/picked",
            strip: true,
            service: "dir",
            instanceHeader: "X-Mesh-Instance",
          },
          { name: "shared", prefix: "/shared", strip: true, service: "dir" },
        ],
      },
    });
    const { url } = await gateway.listen();
    const get = (path: string, instance?: string) =>
      globalThis.fetch(`${url}${path}`, {
        headers: instance === undefined ? {} : { "x-mesh-instance": instance },
      });
    for (const id of ["i0", "i2", "i1"]) expect(await (await get("/picked/whoami", id)).text()).toBe(id);
    // Without the header the route shares the load as any other.
    expect((await get("/picked/whoami")).status).toBe(200);
    const gone = await get("/picked/whoami", "gone");
    expect([gone.status, gone.headers.get("mesh-error") ?? (await gone.json()).code]).toEqual([
      503,
      "NM_ERR_NO_RESPONDERS",
    ]);
    expect(retries).toBe(0);
    expect((await get("/picked/whoami", "a.b")).status).toBe(400);
    // A route without the option: the header is just a header, the queue group picks an instance.
    expect((await get("/shared/whoami", "gone")).status).toBe(200);
  });

  it("direct - cli: --instance names the answering instance; --all prints one line per instance, --json the bodies; bad input is one line, exit 2", async () => {
    const url = c.servers[1]!.url;
    const one = await natsmesh(url, "request", "-i", "--instance", "i1", "http://dir/whoami");
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/^mesh-instance: i1\r$/m);
    const table = await natsmesh(url, "request", "--all", "http://dir/whoami");
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^STATUS\s+INSTANCE\s+SERVER\s+TIME$/);
    expect(
      lines
        .slice(1)
        .map((l) => l.split(/\s+/)[1])
        .sort(),
    ).toEqual(["i0", "i1", "i2"]);
    const json = await natsmesh(
      url,
      "request",
      "--all",
      "--json",
      "--max",
      "2",
      "-d",
      "x",
      "http://dir/echo",
    );
    const rows = json.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { status: number; body: string });
    expect(rows.map((r) => [r.status, r.body])).toEqual([
      [200, "x"],
      [200, "x"],
    ]);
    events.length = 0;
    const event = await natsmesh(url, "request", "--all", "--event", "-d", "cli", "http://dir/event");
    expect([event.code, event.stdout, event.stderr]).toEqual([0, "", ""]);
    await check(() => events.length === 3, 2000, { name: "every instance ran the CLI's event" });
    const gone = await natsmesh(url, "request", "--instance", "gone", "http://dir/whoami");
    expect([gone.code, gone.stderr]).toEqual([
      2,
      "natsmesh: no responders for service 'dir' on subject 'mesh.dir.$I.gone.get'\n",
    ]);
    const nobody = await natsmesh(url, "request", "--all", "http://nobody/x");
    expect([nobody.code, nobody.stderr]).toEqual([
      2,
      "natsmesh: no responders for service 'nobody' on subject 'mesh.nobody.$ALL.get'\n",
    ]);
    const bad = await natsmesh(url, "request", "--instance", "a.b", "http://dir/whoami");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^natsmesh: invalid instance id 'a\.b'/);
    const both = await natsmesh(url, "request", "--all", "--instance", "i1", "http://dir/whoami");
    expect([both.code, both.stderr]).toEqual([
      2,
      "natsmesh: --instance and --all exclude each other: one instance, or every instance\n",
    ]);
  });
});

describe("direct - an east/west super-cluster", () => {
  it("direct - a caller in east names west's instance, and a gather hears both clusters", async () => {
    await using sc = await superClusterFixture();
    const east = sc.clusters.east!.servers;
    const west = sc.clusters.west!.servers;
    const held: Array<() => void> = [];
    await using e = await serve(app("e", held), {
      service: "geo",
      instance: "east1",
      nc: await sc.connect({ servers: east[0]!.url }),
      logger: silent,
    });
    await using w = await serve(app("w", held), {
      service: "geo",
      instance: "west1",
      nc: await sc.connect({ servers: west[0]!.url }),
      logger: silent,
    });
    await using fetch = createFetch({ nc: await sc.connect({ servers: east[1]!.url }), timeout: 5000 });
    await check(async () => (await gather(fetch.all("http://geo/"))).length === 2, 5000, {
      name: "both clusters answer a gather",
    });
    expect((await gather(fetch.all("http://geo/"))).map((a) => a.instance).sort()).toEqual([
      "east1",
      "west1",
    ]);
    const res = await fetch("http://geo/whoami", { instance: "west1" });
    expect(res.headers.get("mesh-cluster")).toBe("west");
    expect(await res.text()).toBe("w");
    // West's instance stops: naming it is 503 at once; the gather hears east alone.
    await w.stop();
    await check(
      async () =>
        (await fetch("http://geo/", { instance: "west1" }).catch((err: unknown) => err)) instanceof
        NoRespondersError,
      5000,
      { name: "west1 gone" },
    );
    expect((await gather(fetch.all("http://geo/"))).map((a) => a.instance)).toEqual(["east1"]);
    // A caller in west, where no instance is left: the gather and a named call reach east (no
    // no-responders from west's servers while east has interest).
    await using fromWest = createFetch({ nc: await sc.connect({ servers: west[1]!.url }), timeout: 5000 });
    expect((await gather(fromWest.all("http://geo/"))).map((a) => a.instance)).toEqual(["east1"]);
    expect(await (await fromWest("http://geo/", { instance: "east1" })).text()).toBe("e");
    // Nobody anywhere: no-responders ends the gather at once across the gateways too (the 60 s total
    // wait and no stall would otherwise hold it past the test's timeout).
    expect(await gather(fromWest.all("http://nobody/", { timeout: 60_000, stall: 0 }))).toEqual([]);
    await expect(fromWest("http://geo/", { instance: "west1" })).rejects.toBeInstanceOf(NoRespondersError);
    expect(e.instance).toBe("east1");
  });
});

describe("direct - accounts and permissions", () => {
  it("direct - across a service import of <prefix>.<service>.> (response_type stream) a caller names an instance and gathers every one; an instance allowed only <prefix>.<service>.* warns and shares load alone", async () => {
    await using nats = await natsFixture(
      {
        accounts: {
          A: {
            users: [
              { user: "svc", password: "a" },
              {
                user: "narrow",
                password: "a",
                permissions: {
                  subscribe: { allow: ["mesh.narrow.*", "_INBOX.>"] },
                  publish: { allow: ["_INBOX.>"] },
                },
              },
            ],
            exports: [{ service: "mesh.acct.>", response_type: "stream" }],
          },
          B: {
            users: [{ user: "caller", password: "b" }],
            imports: [{ service: { account: "A", subject: "mesh.acct.>" } }],
          },
        },
      },
      { connect: false },
    );
    const as = (user: string, pass: string) => nats.connect({ servers: nats.server.url, user, pass });
    const quiet = { logger: silent, discovery: false, metrics: false as const };
    await using a1 = await serve(app("a1", []), {
      ...quiet,
      service: "acct",
      instance: "a1",
      nc: await as("svc", "a"),
    });
    await using a2 = await serve(app("a2", []), {
      ...quiet,
      service: "acct",
      instance: "a2",
      nc: await as("svc", "a"),
    });
    await using fetchB = createFetch({ nc: await as("caller", "b"), timeout: 3000 });
    expect(await (await fetchB("http://acct/whoami", { instance: "a2" })).text()).toBe("a2");
    expect((await gather(fetchB.all("http://acct/whoami"))).map((x) => x.instance).sort()).toEqual([
      a1.instance,
      a2.instance,
    ]);
    // nats-server 2.9.10 sends no no-responders status across a service import (the import matched):
    // a gone instance is the caller's timeout there (PROTOCOL.md §10).
    await expect(fetchB("http://acct/whoami", { instance: "a3", timeout: 200 })).rejects.toBeInstanceOf(
      TimeoutError,
    );

    const warnings: string[] = [];
    const logger = pino(
      { level: "warn" },
      { write: (line: string) => void warnings.push(JSON.parse(line).msg) },
    );
    await using narrow = await serve(app("n", []), {
      ...quiet,
      logger,
      service: "narrow",
      instance: "n1",
      nc: await as("narrow", "a"),
    });
    await using fetchA = createFetch({ nc: await as("svc", "a"), timeout: 3000 });
    // serve({ direct: false }): load sharing only.
    await using plain = await serve(app("p", []), {
      ...quiet,
      service: "plain",
      direct: false,
      nc: await as("svc", "a"),
    });
    expect(await (await fetchA("http://plain/")).text()).toBe("p");
    await expect(fetchA("http://plain/", { instance: plain.instance })).rejects.toBeInstanceOf(
      NoRespondersError,
    );
    expect(await gather(fetchA.all("http://plain/"))).toEqual([]);
    await check(() => warnings.length === 2, 2000, {
      name: "both direct subscriptions refused, each warned",
    });
    expect(warnings[0]).toMatch(/allow <prefix>\.<service>\.> to subscribe/);
    expect(await (await fetchA("http://narrow/whoami")).text()).toBe("n");
    await expect(fetchA("http://narrow/whoami", { instance: narrow.instance })).rejects.toBeInstanceOf(
      NoRespondersError,
    );
  });
});
