/**
 * Account isolation and subject permissions against a real nats-server (docs/SECURITY.md):
 * - account A exports the `orders` service (`mesh.orders.*`), account B imports it and calls it through
 *   natsmesh's fetch and through a gateway connected as B; account C, without the import, gets a
 *   NoRespondersError at once, never a hang;
 * - a user allowed to publish only to `mesh.weather.get` cannot reach other methods or services: the
 *   server's asynchronous permission violation becomes a PermissionDeniedError (403) at once, and 403
 *   `NM_ERR_PERMISSION_DENIED` at the gateway, without naming the subject;
 * - a user without subscribe permission on `_INBOX.>` gets a PermissionDeniedError naming the inbox.
 */
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGateway, type Gateway } from "../src/gateway/index.js";
import {
  connect,
  createFetch,
  type MeshConnection,
  type MeshFetch,
  NoRespondersError,
  PermissionDeniedError,
  type ServiceHandle,
  serve,
} from "../src/index.js";
import { type NatsServerFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";

/** Long enough that a call that waited for it could not pass the "at once" checks below. */
const TIMEOUT = 10_000;
const AT_ONCE = 2_000;

const ACCOUNTS = {
  A: {
    users: [{ user: "orders-svc", password: "a" }],
    exports: [{ service: "mesh.orders.*" }, { service: "mesh.invoices.*" }],
  },
  B: {
    users: [{ user: "shop", password: "b" }],
    imports: [
      { service: { account: "A", subject: "mesh.orders.*" } },
      { service: { account: "A", subject: "mesh.invoices.*" } },
    ],
  },
  C: { users: [{ user: "stranger", password: "c" }] },
  W: {
    users: [
      {
        // an instance needs no more than this (docs/SECURITY.md §3)
        user: "svc",
        password: "w",
        permissions: {
          // _INBOX.>: the instance's own inbox, where callers send credit and chunks of streamed bodies
          subscribe: { allow: ["mesh.weather.*", "mesh.billing.*", "$SRV.>", "$NM.>", "_INBOX.>"] },
          publish: { allow: ["_INBOX.>", "$NM.REPORT.weather.>", "$NM.REPORT.billing.>"] },
        },
      },
      {
        user: "reader",
        password: "w",
        permissions: { publish: { allow: ["mesh.weather.get"] }, subscribe: { allow: ["_INBOX.>"] } },
      },
      {
        // may also send credit to an instance's handed-over subject: streamed bodies work
        user: "streamer",
        password: "w",
        permissions: {
          publish: { allow: ["mesh.weather.get", "_INBOX.>"] },
          subscribe: { allow: ["_INBOX.>"] },
        },
      },
      {
        user: "deaf",
        password: "w",
        permissions: { publish: { allow: ["mesh.weather.get"] }, subscribe: { deny: ["_INBOX.>"] } },
      },
    ],
  },
};

let nats: NatsServerFixture;
const services: ServiceHandle[] = [];
const conns: MeshConnection[] = [];
const fetches: MeshFetch[] = [];

async function as(user: string, pass: string): Promise<MeshConnection> {
  const mesh = await connect({ servers: nats.server.url, user, pass, env: {} });
  conns.push(mesh);
  return mesh;
}

async function fetchAs(user: string, pass: string): Promise<MeshFetch> {
  const f = createFetch({ nc: (await as(user, pass)).nc, timeout: TIMEOUT });
  fetches.push(f);
  return f;
}

async function rejection(promise: Promise<unknown>): Promise<{ err: unknown; ms: number }> {
  const started = performance.now();
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  return { err, ms: performance.now() - started };
}

/** Larger than max_payload (1 MiB): streamed in chunks, the caller granting credit (PROTOCOL.md §8). */
const BIG = new Uint8Array(3 << 20).fill(7);

const orders = (req: Request) =>
  Response.json({ order: new URL(req.url).pathname, method: req.method, account: "A" });

beforeAll(async () => {
  nats = await natsFixture({ accounts: ACCOUNTS }, { connect: false });
  const ordersConn = await as("orders-svc", "a");
  const weatherConn = await as("svc", "w");
  services.push(
    await serve(orders, { service: "orders", nc: ordersConn.nc, logger: silent, metrics: false }),
    await serve((req: Request) => new Response(new URL(req.url).pathname === "/big" ? BIG : "sunny"), {
      service: "weather",
      nc: weatherConn.nc,
      logger: silent,
      metrics: false,
    }),
    await serve(() => new Response("invoice"), {
      service: "billing",
      nc: weatherConn.nc,
      logger: silent,
      metrics: false,
    }),
  );
});

afterAll(async () => {
  for (const f of fetches) await f.close();
  for (const s of services) await s.stop();
  for (const c of conns) await c.close();
  await nats?.[Symbol.asyncDispose]();
});

describe("security - accounts: a service export and its import", () => {
  it("security - account B calls account A's exported orders service through natsmesh's fetch", async () => {
    const fetch = await fetchAs("shop", "b");
    const res = await fetch("http://orders.nats/orders/42", { method: "POST", body: "{}" });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ order: "/orders/42", method: "POST", account: "A" });
    expect(res.headers.get("mesh-service")).toBe("orders");
  });

  it("security - account C without the import gets NoRespondersError at once, not a timeout", async () => {
    const fetch = await fetchAs("stranger", "c");
    const { err, ms } = await rejection(fetch("http://orders.nats/orders/42"));
    expect(err).toBeInstanceOf(NoRespondersError);
    expect((err as NoRespondersError).status).toBe(503);
    expect(ms).toBeLessThan(AT_ONCE);
  });

  it("security - an imported service with no instance in A: TimeoutError at the caller's deadline, not no-responders", async () => {
    // nats-server 2.9 sends no no-responders status across a service import (docs/SECURITY.md §2)
    const fetch = await fetchAs("shop", "b");
    const { err, ms } = await rejection(fetch("http://invoices.nats/", { timeout: 800 }));
    expect(err).toMatchObject({ name: "TimeoutError", status: 504, service: "invoices" });
    expect(ms).toBeGreaterThanOrEqual(700);
    expect(ms).toBeLessThan(AT_ONCE + 800);
  });

  it("security - account A's own services stay invisible to B: weather lives in W, B gets NoResponders", async () => {
    const fetch = await fetchAs("shop", "b");
    const { err, ms } = await rejection(fetch("http://weather.nats/"));
    expect(err).toBeInstanceOf(NoRespondersError);
    expect(ms).toBeLessThan(AT_ONCE);
  });

  it("security - a gateway connected as account B serves the imported service, and 503s what B cannot see", async () => {
    const mesh = await as("shop", "b");
    const gateway: Gateway = createGateway({ listen: "127.0.0.1:0", nc: mesh.nc, logger: silent });
    try {
      const { url } = await gateway.listen();
      const ok = await request(`${url}/orders/7`);
      expect(ok.statusCode).toBe(200);
      expect(await ok.body.json()).toMatchObject({ order: "/7", account: "A" });
      const hidden = await request(`${url}/billing/`);
      expect(hidden.statusCode).toBe(503);
      expect(await hidden.body.text()).not.toContain("mesh.billing");
    } finally {
      await gateway.close();
    }
  });
});

describe("security - permissions: a user allowed to publish only to mesh.weather.get", () => {
  it("security - the allowed subject works", async () => {
    const fetch = await fetchAs("reader", "w");
    const res = await fetch("http://weather.nats/city");
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("sunny");
  });

  it("security - another method or service fails at once with PermissionDeniedError (403); allowed calls in flight are untouched", async () => {
    const fetch = await fetchAs("reader", "w");
    const [post, billing, get] = await Promise.all([
      rejection(fetch("http://weather.nats/reports", { method: "POST", body: "x" })),
      rejection(fetch("http://billing.nats/")),
      fetch("http://weather.nats/city").then((r) => r.text()),
    ]);
    expect(get).toBe("sunny");
    for (const [{ err, ms }, subject, service] of [
      [post, "mesh.weather.post", "weather"],
      [billing, "mesh.billing.get", "billing"],
    ] as const) {
      expect(err).toBeInstanceOf(PermissionDeniedError);
      const denied = err as PermissionDeniedError;
      expect(denied).toMatchObject({
        code: "NM_ERR_PERMISSION_DENIED",
        status: 403,
        operation: "publish",
        denied: subject,
        subject,
        service,
      });
      expect(denied.message).toBe(
        `permission denied: NATS does not allow this connection to publish to '${subject}' (service '${service}')`,
      );
      expect(ms).toBeLessThan(AT_ONCE);
    }
    // the connection stays usable
    expect(await (await fetch("http://weather.nats/city")).text()).toBe("sunny");
  });

  it("security - the gateway answers a denied publish with 403 NM_ERR_PERMISSION_DENIED, naming no subject", async () => {
    const mesh = await as("reader", "w");
    const gateway = createGateway({
      listen: "127.0.0.1:0",
      nc: mesh.nc,
      logger: silent,
      config: { defaults: { timeout: TIMEOUT } },
    });
    try {
      const { url } = await gateway.listen();
      const started = performance.now();
      const denied = await request(`${url}/weather/reports`, { method: "POST", body: "x" });
      expect(performance.now() - started).toBeLessThan(AT_ONCE);
      expect(denied.statusCode).toBe(403);
      expect(denied.headers["mesh-error"]).toBe("NM_ERR_PERMISSION_DENIED");
      const text = await denied.body.text();
      expect(JSON.parse(text)).toMatchObject({ code: "NM_ERR_PERMISSION_DENIED", status: 403 });
      expect(text).not.toMatch(/mesh\.|_INBOX|weather\.post/);
      // a denied idempotent request is not retried into a timeout either
      const get = await request(`${url}/billing/`);
      expect(get.statusCode).toBe(403);
      await get.body.dump();
      const ok = await request(`${url}/weather/city`);
      expect(ok.statusCode).toBe(200);
      expect(await ok.body.text()).toBe("sunny");
    } finally {
      await gateway.close();
    }
  });

  it("security - a streamed response needs publish permission on _INBOX.> for credit: without it, PermissionDeniedError at once", async () => {
    const fetch = await fetchAs("reader", "w");
    const res = await fetch("http://weather.nats/big");
    expect(res.status).toBe(200);
    const { err, ms } = await rejection(res.arrayBuffer());
    expect(err).toBeInstanceOf(PermissionDeniedError);
    expect(err).toMatchObject({
      operation: "publish",
      status: 403,
      service: "weather",
      subject: "mesh.weather.get",
    });
    expect((err as PermissionDeniedError).denied).toMatch(/^_INBOX\./);
    expect((err as Error).message).toContain("handed over for a streamed body (allow publish on '_INBOX.>')");
    expect(ms).toBeLessThan(AT_ONCE);

    const streamer = await fetchAs("streamer", "w");
    const body = new Uint8Array(await (await streamer("http://weather.nats/big")).arrayBuffer());
    expect(body.byteLength).toBe(BIG.byteLength);
  });

  it("security - without subscribe permission on _INBOX.> every call fails with PermissionDeniedError naming the inbox", async () => {
    const fetch = await fetchAs("deaf", "w");
    for (let i = 0; i < 2; i++) {
      const { err, ms } = await rejection(fetch("http://weather.nats/city"));
      expect(err).toBeInstanceOf(PermissionDeniedError);
      expect(err).toMatchObject({ operation: "subscribe", status: 403, service: "weather" });
      expect((err as PermissionDeniedError).denied).toMatch(/^_INBOX\.[A-Za-z0-9]+\.\*$/);
      expect((err as Error).message).toContain("allow subscribe on '_INBOX.>'");
      expect(ms).toBeLessThan(AT_ONCE);
    }
  });
});
