/**
 * The gateway's life: HTTPS (HTTP/2 and HTTP/1.1 on one port), load over two instances, graceful
 * close (API) and SIGTERM (the CLI as a child process) with requests in flight, the admin port, and
 * configuration errors reported before anything listens.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFile, writeFile } from "node:fs/promises";
import http2 from "node:http2";
import https from "node:https";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Agent, Pool, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGateway } from "../src/gateway/index.js";
import { type ServiceHandle, serve } from "../src/index.js";
import { fetchApp, nodeApp } from "./support/apps.js";
import { BUILD_TIMEOUT_MS } from "./support/build.js";
import { startGatewayCliEnv, stopGatewayCliEnv } from "./support/gateway-cli.js";
import {
  closedPort,
  type NatsServerFixture,
  natsFixture,
  silentLogger as silent,
} from "./support/helpers.js";
import { check, generateCerts, type NatsServer, REPO_ROOT } from "./support/nats-server.js";

const BIN = join(REPO_ROOT, "bin", "natsmesh");

let nats: NatsServerFixture;
let server: NatsServer;
let echo: ServiceHandle;
let tmp: string;
let childEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  ({ nats, server, echo, tmp, childEnv } = await startGatewayCliEnv("gw", "silent"));
}, BUILD_TIMEOUT_MS);

afterAll(() => stopGatewayCliEnv({ nats, echo, tmp }));

/** Reads the child's stderr until the gateway says where it listens. */
async function listeningUrl(child: ChildProcess): Promise<string> {
  for await (const line of createInterface({ input: child.stderr! })) {
    const m = /gateway listening on (\S+)/.exec(line);
    if (m) return m[1]!;
  }
  throw new Error("the gateway exited before listening");
}

async function slowRequests(url: string, n: number, ms: number) {
  return Array.from({ length: n }, () =>
    request(`${url}/echo/slow?ms=${ms}`).then(async (r) => ({
      status: r.statusCode,
      text: await r.body.text(),
    })),
  );
}

describe("gateway - HTTPS", () => {
  it("gateway - HTTP/2 by ALPN and HTTP/1.1 on the same TLS port, with a generated certificate", async () => {
    const certs = await generateCerts(join(tmp, "certs"));
    await using gateway = createGateway({
      listen: "127.0.0.1:0",
      tls: { cert: certs.serverCert, key: certs.serverKey },
      connection: { servers: server.url },
      logger: silent,
    });
    const { url } = await gateway.listen();
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ca = await readFile(certs.ca);

    const session = http2.connect(url, { ca });
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": "/echo/echo?h=2",
        "content-type": "text/plain",
      });
      stream.end("over h2");
      const [headers] = (await once(stream, "response")) as [http2.IncomingHttpHeaders];
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      expect(session.alpnProtocol).toBe("h2");
      expect(headers[":status"]).toBe(200);
      expect(Buffer.concat(chunks).toString()).toBe("over h2");
      expect(headers["x-echo-path"]).toBe("/echo?h=2");
      expect(headers["mesh-instance"]).toBe(echo.instance);
      const seen = JSON.parse(decodeURIComponent(String(headers["x-echo-headers"]))) as string[];
      const names = seen.filter((_, i) => i % 2 === 0);
      expect(names.filter((n) => n.startsWith(":"))).toEqual([]);
      expect(seen[seen.indexOf("x-forwarded-proto") + 1]).toBe("https");
      expect(seen[seen.indexOf("host") + 1]).toBe(new URL(url).host);
    } finally {
      session.close();
    }

    const h1Agent = new https.Agent({ ca, ALPNProtocols: ["http/1.1"] });
    const h1 = await new Promise<{ version: string; alpn: unknown; status: number; body: string }>(
      (resolve, reject) => {
        https
          .get(`${url}/echo/whoami`, { agent: h1Agent }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () =>
              resolve({
                version: res.httpVersion,
                alpn: (res.socket as { alpnProtocol?: unknown }).alpnProtocol,
                status: res.statusCode!,
                body: Buffer.concat(chunks).toString(),
              }),
            );
          })
          .on("error", reject);
      },
    );
    expect(h1).toEqual({ version: "1.1", alpn: "http/1.1", status: 200, body: "echo" });
    h1Agent.destroy();
  });
});

describe("gateway - load", () => {
  it("gateway - 500 concurrent requests to 2 instances: none lost, both instances used", async () => {
    const connection = { servers: server.url };
    const a = await serve(fetchApp("a"), { service: "pair", connection, logger: silent });
    const b = await serve(nodeApp("b"), { service: "pair", connection, logger: silent });
    await using gateway = createGateway({ listen: "127.0.0.1:0", connection, logger: silent });
    const { url } = await gateway.listen();
    const pool = new Pool(url, { connections: 500 });
    try {
      const answers = await Promise.all(
        Array.from({ length: 500 }, async (_, i) => {
          const res = await pool.request({ path: `/pair/whoami?i=${i}`, method: "GET" });
          return { status: res.statusCode, who: await res.body.text() };
        }),
      );
      expect(answers.filter((x) => x.status === 200)).toHaveLength(500);
      const counts = { a: 0, b: 0 };
      for (const x of answers) counts[x.who as "a" | "b"]++;
      expect(counts.a + counts.b).toBe(500);
      expect(counts.a).toBeGreaterThan(0);
      expect(counts.b).toBeGreaterThan(0);
    } finally {
      await pool.close();
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});

describe("gateway - graceful shutdown", () => {
  it("gateway - close() stops accepting connections and lets in-flight requests finish", async () => {
    const gateway = createGateway({
      listen: "127.0.0.1:0",
      connection: { servers: server.url },
      logger: silent,
    });
    const { url } = await gateway.listen();
    const before = echo.stats().requests;
    const inFlight = await slowRequests(url, 5, 400);
    await check(() => echo.stats().inFlight === 5, 5000, { name: "5 requests at the service" });
    const closed = gateway.close();
    const fresh = new Agent();
    await expect(request(`${url}/echo/whoami`, { dispatcher: fresh })).rejects.toThrow(/ECONNREFUSED/);
    await fresh.close();
    const results = await Promise.all(inFlight);
    expect(results).toEqual(Array.from({ length: 5 }, () => ({ status: 200, text: "slow" })));
    await closed;
    expect(echo.stats().requests - before).toBe(5);
    expect(gateway.ready).toBe(false);
  });

  it("gateway - the CLI on SIGTERM finishes in-flight requests and exits 0", async () => {
    const child = spawn(
      process.execPath,
      [BIN, "gateway", "--listen", "127.0.0.1:0", "--server", server.url],
      { cwd: REPO_ROOT, env: childEnv, stdio: ["ignore", "ignore", "pipe"] },
    );
    const exited = once(child, "exit");
    try {
      const url = await listeningUrl(child);
      const start = echo.stats().inFlight;
      const inFlight = await slowRequests(url, 5, 500);
      await check(() => echo.stats().inFlight - start === 5, 5000, { name: "5 requests at the service" });
      child.kill("SIGTERM");
      const results = await Promise.all(inFlight);
      expect(results).toEqual(Array.from({ length: 5 }, () => ({ status: 200, text: "slow" })));
      const [code, signal] = await exited;
      expect({ code, signal }).toEqual({ code: 0, signal: null });
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});

describe("gateway - admin", () => {
  it("gateway - /healthz, /readyz (503 once NATS is gone), /metrics counting known traffic", async () => {
    await using own = await natsFixture({}, { connect: false });
    const connection = { servers: own.server.url };
    const svc = await serve(fetchApp("m"), { service: "m", connection, logger: silent });
    await using gateway = createGateway({
      admin: "127.0.0.1:0",
      listen: "127.0.0.1:0",
      connection: { ...connection, reconnectTimeWait: 50 },
      logger: silent,
      config: { routes: [{ name: "metered", prefix: "/metered", strip: true, service: "m", timeout: 250 }] },
    });
    const { url, adminUrl } = await gateway.listen();
    const get = async (path: string) => {
      const res = await request(`${adminUrl}${path}`);
      return { status: res.statusCode, text: await res.body.text() };
    };
    expect(await get("/healthz")).toEqual({ status: 200, text: '{"status":"ok"}' });
    expect((await get("/readyz")).status).toBe(200);

    for (const path of ["/metered/whoami", "/metered/whoami", "/metered/whoami", "/metered/status/404"]) {
      await (await request(`${url}${path}`)).body.text();
    }
    await (await request(`${url}/absent/x`)).body.text();
    await svc.stop();
    await (await request(`${url}/metered/whoami`)).body.text();
    const metrics = (await get("/metrics")).text;
    const line = (name: string) =>
      metrics
        .split("\n")
        .find((l) => l.startsWith(name))
        ?.split(" ")[1];
    const metered = 'route="metered",service="m"';
    expect(line(`natsmesh_gateway_requests_total{${metered},method="GET",status="200"}`)).toBe("3");
    expect(line(`natsmesh_gateway_requests_total{${metered},method="GET",status="404"}`)).toBe("1");
    expect(line(`natsmesh_gateway_requests_total{${metered},method="GET",status="503"}`)).toBe("1");
    expect(line(`natsmesh_gateway_request_duration_seconds_count{${metered},method="GET"}`)).toBe("5");
    // The service answered lately, so no responders is retried until the route's 250 ms deadline:
    // at least the policy's 3 attempts, each but the last followed by a retry. (On a loaded machine
    // an earlier GET the instance did not acknowledge in time is sent again too, PROTOCOL.md §8.4:
    // one more retry, no more no-responders.)
    const attempts = Number(line(`natsmesh_gateway_no_responders_total{${metered}}`));
    expect(attempts).toBeGreaterThanOrEqual(3);
    expect(Number(line(`natsmesh_gateway_retries_total{${metered}}`))).toBeGreaterThanOrEqual(attempts - 1);
    // the default rule does not label a service nobody answered for: made-up paths add no series
    expect(
      line('natsmesh_gateway_requests_total{route="default",service="",method="GET",status="503"}'),
    ).toBe("1");
    expect(line("natsmesh_gateway_in_flight")).toBe("0");

    await own.server.stop();
    await check(async () => (await get("/readyz")).status === 503, 5000, {
      name: "/readyz 503 without NATS",
    });
    expect(JSON.parse((await get("/readyz")).text)).toMatchObject({ status: "not ready" });
    expect((await get("/healthz")).status).toBe(200);
    const res = await request(`${url}/metered/whoami`);
    expect([503, 504]).toContain(res.statusCode);
    await res.body.text();
  });
});

describe("gateway - package", () => {
  it("gateway - import('natsmesh/gateway') resolves to the built dist", async () => {
    const script = `const g = await import("natsmesh/gateway");
      console.log(JSON.stringify([typeof g.createGateway, typeof g.withRetry, import.meta.resolve("natsmesh/gateway")]));`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      cwd: REPO_ROOT,
      env: childEnv,
    });
    let out = "";
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
    });
    await once(child, "exit");
    const [create, retry, url] = JSON.parse(out) as string[];
    expect([create, retry]).toEqual(["function", "function"]);
    expect(url).toMatch(/\/dist\/gateway\/index\.js$/);
  });
});

describe("gateway - configuration errors", () => {
  it("gateway - the CLI reports file, route and problem before anything listens, and exits 2", async () => {
    const file = join(tmp, "gateway.yaml");
    await writeFile(
      file,
      [
        "routes:",
        "  - { prefix: /a, service: a }",
        "  - { prefix: /b, service: b }",
        "  - name: billing",
        "    prefix: /billing",
        "    service: Bad Name",
        "",
      ].join("\n"),
    );
    const port = await closedPort();
    const child = spawn(
      process.execPath,
      [BIN, "gateway", "-c", file, "--listen", `127.0.0.1:${port}`, "--server", server.url],
      { cwd: REPO_ROOT, env: childEnv, stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr!.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const [code] = await once(child, "exit");
    expect(code).toBe(2);
    expect(stderr).toContain(
      `natsmesh: ${file}: routes[2] (name 'billing'): service 'Bad Name' is not a valid service name`,
    );
    expect(stderr).not.toContain("listening");

    const flag = spawn(process.execPath, [BIN, "gateway", "--route", "/x=Bad"], {
      cwd: REPO_ROOT,
      env: childEnv,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let flagErr = "";
    flag.stderr!.on("data", (c: Buffer) => {
      flagErr += c.toString();
    });
    const [flagCode] = await once(flag, "exit");
    expect(flagCode).toBe(2);
    expect(flagErr).toBe("natsmesh: --route '/x=Bad': service 'Bad' is not a valid service name\n");
  });
});
