/**
 * `natsmesh top` in-process against a real nats-server and instances: `--once --json` and the table,
 * and the live view redrawing until `q`.
 */
import { PassThrough } from "node:stream";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runTop, type TopOptions } from "../src/cli/top.js";
import { renderTop, sortServices } from "../src/cli/top-render.js";
import { createGateway } from "../src/gateway/index.js";
import { type ServiceHandle, serve } from "../src/index.js";
import type { MeshView, ServiceView } from "../src/insight/index.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";
import { check } from "./support/nats-server.js";

function capture() {
  const out = new PassThrough();
  let text = "";
  out.on("data", (c: Buffer) => {
    text += c.toString();
  });
  return { out, text: () => text };
}

const options: TopOptions = { sort: "name", window: 5, target: 0.7, wait: 1500 };

describe("cli top - pure rendering", () => {
  const service = (name: string, rate: number, saturation: number): ServiceView => ({
    service: name,
    instances: [],
    routes: [],
    versions: ["1.0.0"],
    rate,
    errorRate: 0,
    timeoutRate: 0,
    p50: 0.001,
    p99: 0.004,
    inFlight: saturation * 10,
    limit: 10,
    saturation,
    needed: 1,
    noResponderRate: 0,
    callerTimeoutRate: 0,
  });

  it("cli top - sorts by name ascending and by figures descending; an empty mesh says so", () => {
    const services = [service("b", 5, 0.9), service("a", 50, 0.1)];
    expect(sortServices(services, "name").map((s) => s.service)).toEqual(["a", "b"]);
    expect(sortServices(services, "saturation").map((s) => s.service)).toEqual(["b", "a"]);
    expect(sortServices(services, "rate").map((s) => s.service)).toEqual(["a", "b"]);
    const empty: MeshView = { at: 0, window: 10, target: 0.7, services: [] };
    expect(renderTop(empty, "name").join("\n")).toMatch(/No service is reporting/);
  });
});

describe("cli top - against a mesh", () => {
  let nats: NatsFixture;
  const running: ServiceHandle[] = [];
  let env: Record<string, string>;

  beforeAll(async () => {
    nats = await natsFixture();
    for (const id of ["w1", "w2"]) {
      running.push(
        await serve(() => new Response("ok"), {
          service: "weather",
          instance: id,
          nc: await nats.connect(),
          logger: silent,
          metrics: false,
          reportInterval: 200,
          version: "3.1.0",
        }),
      );
    }
    env = { NATS_URL: nats.server.url };
  });

  afterAll(async () => {
    await Promise.all(running.map((s) => s.stop()));
    await nats?.[Symbol.asyncDispose]();
  });

  it("cli top - --once --json prints the picture; --once a table; the live view redraws until q", async () => {
    const json = capture();
    const table = capture();
    const liveOut = capture();
    const keys = new PassThrough();
    const io = (stdout: PassThrough, stdin = new PassThrough()) => ({
      stdout,
      stderr: new PassThrough(),
      stdin,
      env,
    });
    const live = runTop({ ...options }, io(liveOut.out, keys));
    const [codeJson, codeTable] = await Promise.all([
      runTop({ ...options, once: true, json: true }, io(json.out)),
      runTop({ ...options, once: true }, io(table.out)),
    ]);
    expect([codeJson, codeTable]).toEqual([0, 0]);
    const view = JSON.parse(json.text()) as MeshView;
    expect(view.services.map((s) => [s.service, s.instances.map((i) => i.id), s.versions])).toEqual([
      ["weather", ["w1", "w2"], ["3.1.0"]],
    ]);
    expect(table.text()).toMatch(/^weather\s+3\.1\.0\s+2 inst/m);
    expect(table.text()).toMatch(/^ {2}w1\s+3\.1\.0/m);
    await check(() => liveOut.text().includes("weather"), 5000, { name: "live view drew" });
    keys.write("s");
    await check(() => liveOut.text().includes("sorted by rate"), 2000, { name: "s changed the order" });
    keys.write("q");
    expect(await live).toBe(0);
  });

  it("cli top - --once --json shows a gateway's no-responders (its callers' report) for a service nobody serves", async () => {
    await using gateway = createGateway({
      nc: await nats.connect(),
      listen: "127.0.0.1:0",
      logger: silent,
      config: { routes: [{ name: "nobody", prefix: "/nobody", service: "nobody" }] },
      callerReports: { interval: 200 },
    });
    const { url } = await gateway.listen();
    // Misses all along top's wait: a rate is a difference between two of the gateway's reports.
    let missing = true;
    const misses = (async () => {
      const statuses = new Set<number>();
      while (missing) {
        const res = await request(`${url}/nobody/x`);
        await res.body.arrayBuffer();
        statuses.add(res.statusCode);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return [...statuses];
    })();
    const json = capture();
    const code = await runTop(
      { ...options, once: true, json: true },
      { stdout: json.out, stderr: new PassThrough(), stdin: new PassThrough(), env },
    ).finally(() => {
      missing = false;
    });
    expect(code).toBe(0);
    expect(await misses).toEqual([503]);
    const view = JSON.parse(json.text()) as MeshView;
    const nobody = view.services.find((s) => s.service === "nobody");
    expect(nobody).toMatchObject({ instances: [], needed: 1, rate: 0 });
    expect(nobody!.noResponderRate).toBeGreaterThan(0);
  });
});
