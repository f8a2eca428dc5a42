/**
 * The audit account of PROTOCOL.md §11.3 on a real nats-server: account ORDERS runs the `orders`
 * service with access records and exports their stream (`mesh.orders.$TAP.>`) to AUDIT only; AUDIT
 * imports it, imports no service and its user may publish nothing. The audit tap sees orders'
 * traffic; callers in ORDERS still get a no-responders 503 at once while it runs; AUDIT can call
 * nothing (403 for the documented user, 503 for a user without the publish deny: no import) and
 * cannot put records in front of ORDERS' readers.
 */
import { PermissionViolationError } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  connect,
  createFetch,
  type MeshConnection,
  NoRespondersError,
  PermissionDeniedError,
  type ServiceHandle,
  serve,
} from "../src/index.js";
import { encodeAccessRecord } from "../src/internal.js";
import type { AccessRecord } from "../src/protocol/index.js";
import { type Tap, tap } from "../src/tap/index.js";
import { type NatsServerFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";

/** Long enough that a call that waited for it could not pass the "at once" checks below. */
const TIMEOUT = 10_000;
const AT_ONCE = 2_000;

/** The configuration PROTOCOL.md §11.3 documents, as the test runs it. */
const ACCOUNTS = {
  ORDERS: {
    users: [
      {
        user: "orders-svc",
        password: "o",
        permissions: {
          subscribe: { allow: ["mesh.orders.*", "$SRV.>", "$NM.>", "_INBOX.>"] },
          publish: { allow: ["_INBOX.>", "mesh.orders.$TAP.>"] }, // answers, and access records
        },
      },
      { user: "shop", password: "s" },
    ],
    exports: [{ stream: "mesh.orders.$TAP.>", accounts: ["AUDIT"] }],
  },
  AUDIT: {
    users: [
      {
        user: "auditor",
        password: "a",
        permissions: { publish: { deny: [">"] }, subscribe: { allow: ["mesh.orders.$TAP.>"] } },
      },
      // Without the publish deny: shows what the import alone allows and what the deny adds.
      { user: "auditor-open", password: "a" },
    ],
    imports: [{ stream: { account: "ORDERS", subject: "mesh.orders.$TAP.>" } }],
  },
};

let nats: NatsServerFixture;
const conns: MeshConnection[] = [];
let svc: ServiceHandle | undefined;

async function as(user: string, pass: string): Promise<MeshConnection> {
  const mesh = await connect({ servers: nats.server.url, user, pass, env: {} });
  conns.push(mesh);
  return mesh;
}

/** The tap's next record (leaving the tap running, as a loop that breaks out of it would not). */
async function next(t: Tap): Promise<AccessRecord> {
  const { value, done } = await t[Symbol.asyncIterator]().next();
  if (done) throw new Error("the tap ended");
  return value;
}

async function timed(promise: Promise<unknown>): Promise<{ err: unknown; ms: number }> {
  const started = performance.now();
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  return { err, ms: performance.now() - started };
}

beforeAll(async () => {
  nats = await natsFixture({ accounts: ACCOUNTS }, { connect: false });
});

afterAll(async () => {
  await svc?.stop();
  for (const c of conns.splice(0).reverse()) await c.close();
  await nats?.[Symbol.asyncDispose]();
});

describe("audit - an account that receives orders' records and can call nothing", () => {
  it("audit - the audit tap sees orders' traffic through the stream import; callers in orders still get 503 at once while it runs", async () => {
    const auditor = await as("auditor", "a");
    const shop = createFetch({ nc: (await as("shop", "s")).nc, timeout: TIMEOUT });
    const audit = await tap("orders", { nc: auditor });
    // No instance yet: with the audit account importing the records, nobody has interest in the
    // request subjects, so nats-server answers no-responders at once.
    const none = await timed(shop("http://orders/early"));
    expect(none.err).toBeInstanceOf(NoRespondersError);
    expect(none.ms).toBeLessThan(AT_ONCE);

    svc = await serve((req: Request) => new Response(`order ${new URL(req.url).pathname}`), {
      service: "orders",
      instance: "o1",
      nc: (await as("orders-svc", "o")).nc,
      logger: silent,
      metrics: false,
      accessRecords: true,
    });
    const res = await shop("http://orders/42?card=4111", { headers: { "x-request-id": "audit-1" } });
    expect(await res.text()).toBe("order /42");
    expect(await next(audit)).toMatchObject({
      service: "orders",
      instance: "o1",
      method: "GET",
      path: "/42",
      status: 200,
      requestId: "audit-1",
    });
    await audit.stop();
  });

  it("audit - a tap its user may not subscribe to is refused at once with PermissionDeniedError (403)", async () => {
    const refused = await timed(tap("payments", { nc: await as("auditor", "a") }));
    expect(refused.err).toBeInstanceOf(PermissionDeniedError);
    expect(refused.err).toMatchObject({
      status: 403,
      operation: "subscribe",
      denied: "mesh.payments.$TAP.*",
      message:
        "permission denied: NATS does not allow this connection to subscribe to 'mesh.payments.$TAP.*' (service 'payments')",
    });
    expect(refused.ms).toBeLessThan(AT_ONCE);
  });

  it("audit - the audit account can call nothing: 403 for its user (publish denied), 503 at once for any user (no service import)", async () => {
    const denied = await timed(
      createFetch({ nc: (await as("auditor", "a")).nc, timeout: TIMEOUT })("http://orders/x"),
    );
    expect(denied.err).toBeInstanceOf(PermissionDeniedError);
    expect(denied.ms).toBeLessThan(AT_ONCE);
    const open = await timed(
      createFetch({ nc: (await as("auditor-open", "a")).nc, timeout: TIMEOUT })("http://orders/x"),
    );
    expect(open.err).toBeInstanceOf(NoRespondersError);
    expect(open.ms).toBeLessThan(AT_ONCE);
  });

  it("audit - the audit account cannot publish records: its user is refused, and nothing it publishes reaches orders", async () => {
    const auditor = await as("auditor", "a");
    const refused = (async () => {
      for await (const s of auditor.nc.status())
        if (s.type === "error" && s.error instanceof PermissionViolationError) return s.error.message;
      return undefined;
    })();
    const fake = encodeAccessRecord({
      time: Date.now(),
      service: "orders",
      instance: "forged",
      method: "DELETE",
      path: "/all",
      status: 200,
      ms: 0,
      requestId: "forged",
    });
    auditor.nc.publish("mesh.orders.$TAP.forged", fake);
    expect(await refused).toMatch(/Permissions Violation for Publish to "mesh\.orders\.\$TAP\.forged"/);

    // A user of the audit account without the deny publishes into AUDIT only: orders' own tap never
    // sees it; the audit account's readers would, which is why its users get `publish: { deny: ">" }`.
    const shopConn = await as("shop", "s");
    const ordersTap = await tap("orders", { nc: shopConn });
    const auditTap = await tap("orders", { nc: await as("auditor", "a") });
    const open = await as("auditor-open", "a");
    open.nc.publish("mesh.orders.$TAP.forged", fake);
    await open.nc.flush();
    const res = await createFetch({ nc: shopConn.nc, timeout: TIMEOUT })("http://orders/real");
    expect(res.status).toBe(200);
    expect(await next(ordersTap)).toMatchObject({ instance: "o1", path: "/real" });
    expect(await next(auditTap)).toMatchObject({ instance: "forged" });
    expect(await next(auditTap)).toMatchObject({ instance: "o1", path: "/real" });
    await Promise.all([ordersTap.stop(), auditTap.stop()]);
  });
});
