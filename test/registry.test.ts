/**
 * The registry example through NATS: a real nats-server, two instances of the unchanged Hono app in
 * one queue group sharing one database, and `createFetch` as the client. The suite runs on PGlite
 * always, and on PostgreSQL (a fresh database per run) when DATABASE_URL is set.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegistryApp, type Horse, type Ownership } from "../examples/registry/app.js";
import { type Db, migrate, openDb } from "../examples/registry/db.js";
import { todayIso } from "../examples/registry/validate.js";
import { createGateway, type Gateway } from "../src/gateway/index.js";
import { createFetch, type MeshFetch, type ServiceHandle, serve } from "../src/index.js";
import { type NatsFixture, natsFixture, silentLogger as silent } from "./support/helpers.js";

const BASE = "http://registry.nats";
const today = todayIso();
const DAY = 86_400_000;
const tomorrow = todayIso(new Date(Date.now() + DAY));

/** Two handles on one database (for the two instances), and how to dispose of them. */
interface SharedDb {
  dbs: [Db, Db];
  dispose(): Promise<void>;
}

/** One PGlite, shared in-process by both instances. */
async function pglite(): Promise<SharedDb> {
  const db = await openDb();
  return { dbs: [db, db], dispose: () => db.close() };
}

/** A fresh database `natsmesh_test_<random>` next to DATABASE_URL's, one pool per instance; dropped after. */
async function postgres(url: string): Promise<SharedDb> {
  const name = `natsmesh_test_${randomBytes(6).toString("hex")}`;
  const admin = new URL(url);
  admin.pathname = "/postgres";
  const target = new URL(url);
  target.pathname = `/${name}`;
  const adminQuery = async (sql: string) => {
    const client = new pg.Client({ connectionString: admin.toString() });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  // An identifier cannot be a parameter; `name` is generated above from hex digits only.
  await adminQuery(`CREATE DATABASE ${name}`);
  const opened = await Promise.allSettled([
    openDb({ url: target.toString() }),
    openDb({ url: target.toString() }),
  ]);
  const dbs = opened.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const dispose = async () => {
    await Promise.all(dbs.map((db) => db.close()));
    await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  };
  const failed = opened.find((r) => r.status === "rejected");
  if (failed) {
    await dispose();
    throw failed.reason;
  }
  return { dbs: dbs as [Db, Db], dispose };
}

interface Answer<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

function registrySuite(open: () => Promise<SharedDb>): void {
  let nats: NatsFixture;
  let shared: SharedDb | undefined;
  const services: ServiceHandle[] = [];
  let fetch: MeshFetch;
  const failures: unknown[] = [];
  const instances = new Set<string>();

  /** Calls the registry over NATS with an optional JSON body; the JSON answer parsed. */
  async function call<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<Answer<T>> {
    const init: RequestInit = { method };
    if (body !== undefined) {
      init.headers = { "content-type": "application/json" };
      init.body = typeof body === "string" ? body : JSON.stringify(body);
    }
    const res = await fetch(`${BASE}${path}`, init);
    const instance = res.headers.get("mesh-instance");
    if (instance) instances.add(instance);
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, headers: res.headers };
  }

  const horse = (passportNumber: string, extra: Record<string, unknown> = {}) => ({
    passportNumber,
    name: "Lady Luck",
    breed: "Arabian",
    dateOfBirth: "2015-04-12",
    ...extra,
  });

  beforeAll(async () => {
    nats = await natsFixture();
    shared = await open();
    // Both instances migrate at once, as two processes starting together would.
    await Promise.all(shared.dbs.map((db) => migrate(db)));
    for (const [i, db] of shared.dbs.entries()) {
      const nc = await nats.connect();
      const app = createRegistryApp(db, { onError: (err) => failures.push(err) });
      services.push(
        await serve(app, { service: "registry", nc, instance: `registry-${"ab"[i]}`, logger: silent }),
      );
    }
    const client = await nats.connect();
    fetch = createFetch({ nc: client });
  });

  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop()));
    await shared?.dispose();
    await nats?.[Symbol.asyncDispose]();
  });

  it("registry - behaviour: migrations are idempotent and tolerate concurrent runs", async () => {
    const [a, b] = shared!.dbs;
    await Promise.all([migrate(a), migrate(b), migrate(a), migrate(b)]);
    const { rows } = await a.query<{ n: number }>("SELECT count(*)::int AS n FROM horses");
    expect(rows[0]?.n).toBe(0);
  });

  it("registry - behaviour: POST /horses creates (201 + Location), GET reads it back", async () => {
    const created = await call<Horse>("POST", "/horses", horse("826002990000123", { owner: "Alice" }));
    expect(created.status).toBe(201);
    expect(created.headers.get("location")).toBe("/horses/826002990000123");
    expect(created.body).toMatchObject({
      passportNumber: "826002990000123",
      name: "Lady Luck",
      breed: "Arabian",
      dateOfBirth: "2015-04-12",
      currentOwner: "Alice",
    });
    expect(Date.parse(created.body.createdAt)).not.toBeNaN();
    const got = await call<Horse>("GET", "/horses/826002990000123");
    expect(got.status).toBe(200);
    expect(got.body).toEqual(created.body);
    // lower-case input is normalized, in bodies and paths
    const lower = await call<Horse>("POST", "/horses", horse("250001j12345678", { name: "Jolly Jumper" }));
    expect(lower.status).toBe(201);
    expect(lower.body.passportNumber).toBe("250001J12345678");
    expect((await call("GET", "/horses/250001j12345678")).status).toBe(200);
  });

  it("registry - behaviour: a duplicate passport number is 409, also when two instances race", async () => {
    const dup = await call("POST", "/horses", horse("826002990000123", { name: "Other" }));
    expect(dup.status).toBe(409);
    expect(dup.body).toEqual({ error: "a horse with passport number 826002990000123 already exists" });
    const race = await Promise.all(
      Array.from({ length: 6 }, () => call("POST", "/horses", horse("276009990000001", { name: "Racer" }))),
    );
    expect(race.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
  });

  it("registry - behaviour: validation errors are 400 with a message per field", async () => {
    const bad = await call("POST", "/horses", {
      passportNumber: "GB-123",
      name: "",
      breed: 7,
      dateOfBirth: "2023-02-29",
      colour: "bay",
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({
      error: "validation failed",
      fields: {
        passportNumber: "must be a UELN: 15 letters or digits, starting with a 3-digit country code",
        name: "is required",
        breed: "must be a string",
        dateOfBirth: "must be a calendar date written YYYY-MM-DD",
        colour: "is not a known field",
      },
    });
    const future = await call("POST", "/horses", horse("826002990000999", { dateOfBirth: tomorrow }));
    expect(future.status).toBe(400);
    expect(future.body).toEqual({
      error: "validation failed",
      fields: { dateOfBirth: "must not be in the future" },
    });
    for (const dateOfBirth of ["2021-13-01", "2021-04-31", "21-04-01", "2021-4-1", "1900-02-29"]) {
      const res = await call("POST", "/horses", horse("826002990000999", { dateOfBirth }));
      expect(res.status, dateOfBirth).toBe(400);
      expect(res.body).toHaveProperty("fields.dateOfBirth");
    }
    const leap = await call("POST", "/horses", horse("826002990000999", { dateOfBirth: "2000-02-29" }));
    expect(leap.status).toBe(201);
    expect((await call("POST", "/horses", {})).body).toMatchObject({
      fields: {
        passportNumber: "is required",
        name: "is required",
        breed: "is required",
        dateOfBirth: "is required",
      },
    });
  });

  it("registry - behaviour: bad JSON and non-object bodies are 400", async () => {
    const badJson = await call("POST", "/horses", "{not json");
    expect(badJson.status).toBe(400);
    expect(badJson.body).toEqual({ error: "the request body must be valid JSON" });
    const array = await call("POST", "/horses", [1, 2]);
    expect(array.status).toBe(400);
    expect(array.body).toEqual({ error: "the request body must be a JSON object" });
    expect((await call("PATCH", "/horses/826002990000123", "")).status).toBe(400);
    expect((await call("POST", "/horses/826002990000123/owners", "nul")).status).toBe(400);
  });

  it("registry - behaviour: GET /horses lists, filters by breed and paginates within bounds", async () => {
    for (const [i, breed] of ["Haflinger", "Haflinger", "Haflinger", "Friesian"].entries()) {
      const res = await call("POST", "/horses", horse(`040001000000${100 + i}`, { breed, name: `H${i}` }));
      expect(res.status).toBe(201);
    }
    const all = await call<{ items: Horse[]; total: number; limit: number; offset: number }>(
      "GET",
      "/horses",
    );
    expect(all.status).toBe(200);
    expect(all.body).toMatchObject({ total: 8, limit: 20, offset: 0 });
    const passports = all.body.items.map((h) => h.passportNumber);
    expect(passports).toEqual([...passports].sort());

    const haflingers = await call<{ items: Horse[]; total: number }>("GET", "/horses?breed=haflinger");
    expect(haflingers.body.total).toBe(3);
    expect(haflingers.body.items.map((h) => h.name)).toEqual(["H0", "H1", "H2"]);

    const page1 = await call<{ items: Horse[]; total: number }>("GET", "/horses?limit=3&offset=0");
    const page2 = await call<{ items: Horse[]; total: number }>("GET", "/horses?limit=3&offset=3");
    const page3 = await call<{ items: Horse[]; total: number }>("GET", "/horses?limit=3&offset=6");
    expect([page1, page2, page3].map((p) => p.body.items.length)).toEqual([3, 3, 2]);
    expect(
      [...page1.body.items, ...page2.body.items, ...page3.body.items].map((h) => h.passportNumber),
    ).toEqual(passports);
    const filteredPage = await call<{ items: Horse[]; total: number }>(
      "GET",
      "/horses?breed=Haflinger&limit=2&offset=2",
    );
    expect(filteredPage.body.items.map((h) => h.name)).toEqual(["H2"]);
    expect(filteredPage.body.total).toBe(3);

    const bounds = await call("GET", "/horses?limit=0&offset=-1");
    expect(bounds.status).toBe(400);
    expect(bounds.body).toEqual({
      error: "invalid query",
      fields: { limit: "must be between 1 and 100", offset: "must be a whole number" },
    });
    expect((await call("GET", "/horses?limit=101")).body).toHaveProperty(
      "fields.limit",
      "must be between 1 and 100",
    );
    expect((await call("GET", "/horses?offset=1000001")).status).toBe(400);
    expect((await call("GET", "/horses?limit=abc")).status).toBe(400);
  });

  it("registry - behaviour: GET of an unknown or malformed passport number is 404 / 400", async () => {
    const unknown = await call("GET", "/horses/826002990000000");
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error: "no horse with passport number 826002990000000" });
    const malformed = await call("GET", "/horses/nope");
    expect(malformed.status).toBe(400);
    expect(malformed.body).toHaveProperty("fields.passportNumber");
  });

  it("registry - behaviour: PATCH changes name and breed only", async () => {
    const patched = await call<Horse>("PATCH", "/horses/826002990000123", { name: "Lady Luck II" });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ name: "Lady Luck II", breed: "Arabian", dateOfBirth: "2015-04-12" });
    const both = await call<Horse>("PATCH", "/horses/826002990000123", {
      name: "Lucky",
      breed: "Anglo-Arab",
    });
    expect(both.body).toMatchObject({ name: "Lucky", breed: "Anglo-Arab" });
    expect((await call<Horse>("GET", "/horses/826002990000123")).body.breed).toBe("Anglo-Arab");

    const immutable = await call("PATCH", "/horses/826002990000123", { dateOfBirth: "2010-01-01", name: "" });
    expect(immutable.status).toBe(400);
    expect(immutable.body).toEqual({
      error: "validation failed",
      fields: { dateOfBirth: "cannot be changed", name: "is required" },
    });
    expect((await call("PATCH", "/horses/826002990000123", {})).body).toEqual({
      error: "validation failed",
      fields: { name: "name or breed is required" },
    });
    expect((await call("PATCH", "/horses/826002990000000", { name: "Ghost" })).status).toBe(404);
  });

  it("registry - behaviour: ownership transfers close the previous period, history in order", async () => {
    const p = "/horses/826002990000123/owners";
    const first = await call<Ownership>("POST", p, { owner: "Bob", from: "2019-05-01" });
    expect(first.status).toBe(201);
    expect(first.headers.get("location")).toBe(p);
    expect(first.body).toEqual({ owner: "Bob", from: "2019-05-01", to: null });
    expect((await call("POST", p, { owner: "Carol", from: "2022-01-15" })).status).toBe(201);

    const history = await call<{ items: Ownership[] }>("GET", p);
    expect(history.status).toBe(200);
    expect(history.body.items).toEqual([
      { owner: "Alice", from: "2015-04-12", to: "2019-05-01" },
      { owner: "Bob", from: "2019-05-01", to: "2022-01-15" },
      { owner: "Carol", from: "2022-01-15", to: null },
    ]);
    expect((await call<Horse>("GET", "/horses/826002990000123")).body.currentOwner).toBe("Carol");

    const cases: [Record<string, unknown>, Record<string, string>][] = [
      [
        { owner: "Dave", from: "2021-01-01" },
        { from: "must be after the current owner's start date (2022-01-15)" },
      ],
      [{ owner: "Carol", from: "2023-01-01" }, { owner: "is already the current owner" }],
      [{ owner: "Dave", from: tomorrow }, { from: "must not be in the future" }],
      [
        { owner: "", from: "2023-02-30" },
        { owner: "is required", from: "must be a calendar date written YYYY-MM-DD" },
      ],
    ];
    for (const [body, fields] of cases) {
      const res = await call("POST", p, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body).toEqual({ error: "validation failed", fields });
    }
    // before the date of birth, on a horse with no owner yet
    const q = "/horses/250001J12345678/owners";
    expect((await call<{ items: Ownership[] }>("GET", q)).body.items).toEqual([]);
    expect((await call("POST", q, { owner: "Eve", from: "2014-01-01" })).body).toEqual({
      error: "validation failed",
      fields: { from: "must not be before the date of birth (2015-04-12)" },
    });
    // `from` defaults to today
    expect((await call<Ownership>("POST", q, { owner: "Eve" })).body).toEqual({
      owner: "Eve",
      from: today,
      to: null,
    });
    expect((await call("POST", "/horses/826002990000000/owners", { owner: "Eve" })).status).toBe(404);
    expect((await call("GET", "/horses/826002990000000/owners")).status).toBe(404);
  });

  it("registry - behaviour: concurrent transfers leave one contiguous history", async () => {
    const p = "/horses/276009990000001/owners";
    const dates = ["2016-01-01", "2017-01-01", "2018-01-01", "2019-01-01", "2020-01-01", "2021-01-01"];
    const results = await Promise.all(dates.map((from, i) => call("POST", p, { owner: `Owner ${i}`, from })));
    for (const r of results) expect([201, 400]).toContain(r.status);
    const { items } = (await call<{ items: Ownership[] }>("GET", p)).body;
    expect(items.length).toBe(results.filter((r) => r.status === 201).length);
    expect(items.filter((o) => o.to === null)).toHaveLength(1);
    expect(items.at(-1)).toEqual({ owner: "Owner 5", from: "2021-01-01", to: null });
    for (let i = 1; i < items.length; i++) expect(items[i - 1]!.to).toBe(items[i]!.from);
  });

  it("registry - behaviour: health records are validated and listed by date", async () => {
    const p = "/horses/826002990000123/health";
    const vacc = await call<{ id: number }>("POST", p, {
      date: "2023-03-10",
      kind: "vaccination",
      vet: "Dr. Herriot",
      notes: "equine influenza booster",
    });
    expect(vacc.status).toBe(201);
    expect(vacc.body).toMatchObject({ date: "2023-03-10", kind: "vaccination", vet: "Dr. Herriot" });
    expect(vacc.headers.get("location")).toBe(`${p}/${vacc.body.id}`);
    expect((await call("GET", `${p}/${vacc.body.id}`)).body).toEqual(vacc.body);
    expect((await call("GET", `${p}/999999`)).status).toBe(404);
    const exam = await call("POST", p, { date: "2020-07-01", kind: "examination", vet: "Dr. Farnon" });
    expect(exam.status).toBe(201);
    expect(exam.body).toMatchObject({ notes: null });

    const bad = await call("POST", p, { date: tomorrow, kind: "surgery", vet: "" });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({
      error: "validation failed",
      fields: {
        date: "must not be in the future",
        kind: "must be one of vaccination, examination, treatment",
        vet: "is required",
      },
    });
    expect((await call("POST", p, { date: "2021-02-29", kind: "treatment", vet: "X" })).body).toHaveProperty(
      "fields.date",
      "must be a calendar date written YYYY-MM-DD",
    );
    expect((await call("POST", p, { date: "2015-04-11", kind: "treatment", vet: "X" })).body).toEqual({
      error: "validation failed",
      fields: { date: "must not be before the date of birth (2015-04-12)" },
    });

    const list = await call<{ items: { date: string; kind: string }[] }>("GET", p);
    expect(list.body.items.map((r) => [r.date, r.kind])).toEqual([
      ["2020-07-01", "examination"],
      ["2023-03-10", "vaccination"],
    ]);
    const vaccinations = await call<{ items: unknown[] }>("GET", `${p}?kind=vaccination`);
    expect(vaccinations.body.items).toHaveLength(1);
    expect((await call("GET", `${p}?kind=x`)).status).toBe(400);
    expect(
      (await call("POST", "/horses/826002990000000/health", { date: today, kind: "treatment", vet: "X" }))
        .status,
    ).toBe(404);
  });

  it("registry - behaviour: DELETE is 204, then the horse and its records are 404", async () => {
    const del = await call("DELETE", "/horses/826002990000123");
    expect(del.status).toBe(204);
    expect(del.body).toBeUndefined();
    expect((await call("GET", "/horses/826002990000123")).status).toBe(404);
    expect((await call("GET", "/horses/826002990000123/owners")).status).toBe(404);
    expect((await call("GET", "/horses/826002990000123/health")).status).toBe(404);
    expect((await call("DELETE", "/horses/826002990000123")).status).toBe(404);
    const { rows } = await shared!.dbs[0].query<{ n: number }>(
      "SELECT (SELECT count(*) FROM horse_owners WHERE passport_number = $1)::int + " +
        "(SELECT count(*) FROM health_records WHERE passport_number = $1)::int AS n",
      ["826002990000123"],
    );
    expect(rows[0]?.n).toBe(0);
  });

  it("registry - behaviour: an unknown route is a JSON 404", async () => {
    const res = await call("GET", "/stables");
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(res.body).toEqual({ error: "no route for GET /stables" });
    expect((await call("PUT", "/horses")).status).toBe(404);
  });

  it("registry - behaviour: both instances answered, and nothing failed", async () => {
    for (let i = 0; i < 5 && instances.size < 2; i++) {
      await Promise.all(Array.from({ length: 20 }, () => call("GET", "/horses?limit=1")));
    }
    expect([...instances].sort()).toEqual(["registry-a", "registry-b"]);
    expect(services.map((s) => s.stats().requests).every((n) => n > 0)).toBe(true);
    expect(failures).toEqual([]);
  });
}

describe("registry - behaviour on PGlite", () => {
  registrySuite(pglite);
});

const databaseUrl = process.env.DATABASE_URL;
describe.skipIf(!databaseUrl)("registry - behaviour on PostgreSQL (DATABASE_URL)", () => {
  registrySuite(() => postgres(databaseUrl!));
});

/** The demo's set-up (`npm start`): two registry instances on one database, behind the gateway. */
function gatewaySuite(open: () => Promise<SharedDb>): void {
  let nats: NatsFixture;
  let shared: SharedDb | undefined;
  let gateway: Gateway | undefined;
  const services: ServiceHandle[] = [];
  let base = "";

  beforeAll(async () => {
    nats = await natsFixture();
    shared = await open();
    await migrate(shared.dbs[0]);
    for (const [i, db] of shared.dbs.entries()) {
      const nc = await nats.connect();
      services.push(
        await serve(createRegistryApp(db), {
          service: "registry",
          nc,
          instance: `registry-${i + 1}`,
          logger: silent,
        }),
      );
    }
    const gnc = await nats.connect();
    gateway = createGateway({
      nc: gnc,
      listen: "127.0.0.1:0",
      config: { routes: [{ name: "horses", prefix: "/horses", service: "registry" }] },
      logger: silent,
    });
    base = (await gateway.listen()).url;
  });
  afterAll(async () => {
    await gateway?.close();
    for (const s of services) await s.stop();
    await shared?.dispose();
    await nats?.[Symbol.asyncDispose]();
  });

  const json = (method: string, body: unknown) => ({
    method,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

  it("registry - through the gateway: create, read, transfer, health records, errors", async () => {
    const passport = "826002000999001";
    const created = await fetch(
      `${base}/horses`,
      json("POST", {
        passportNumber: passport,
        name: "Shadowfax",
        breed: "Andalusian",
        dateOfBirth: "2015-04-12",
        owner: "Gandalf",
      }),
    );
    expect(created.status).toBe(201);
    expect(created.headers.get("location")).toBe(`/horses/${passport}`);
    expect(created.headers.get("x-request-id")).toBeTruthy();

    const got = await fetch(`${base}/horses/${passport}`);
    expect(await got.json()).toMatchObject({
      passportNumber: passport,
      name: "Shadowfax",
      currentOwner: "Gandalf",
    });

    expect((await fetch(`${base}/horses/${passport}/owners`, json("POST", { owner: "Éomer" }))).status).toBe(
      201,
    );
    const owners = (await (await fetch(`${base}/horses/${passport}/owners`)).json()) as {
      items: Ownership[];
    };
    expect(owners.items.map((o) => o.owner)).toEqual(["Gandalf", "Éomer"]);

    const health = await fetch(
      `${base}/horses/${passport}/health`,
      json("POST", { date: "2024-03-01", kind: "vaccination", vet: "Dr. Radagast" }),
    );
    expect(health.status).toBe(201);

    const invalid = await fetch(`${base}/horses`, json("POST", { name: "" }));
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { fields: Record<string, string> }).fields.passportNumber).toBe(
      "is required",
    );

    expect((await fetch(`${base}/horses/826002000999999`)).status).toBe(404);
    const nobody = await fetch(`${base}/nobody/x`);
    expect(nobody.status).toBe(503);
    expect(nobody.headers.get("retry-after")).toBeTruthy();
  });

  it("registry - through the gateway: both instances answer", async () => {
    const seen = new Set<string>();
    for (let round = 0; round < 5 && seen.size < 2; round++) {
      const answers = await Promise.all(Array.from({ length: 20 }, () => fetch(`${base}/horses?limit=1`)));
      for (const res of answers) {
        expect(res.status).toBe(200);
        seen.add(res.headers.get("mesh-instance") ?? "");
        await res.arrayBuffer();
      }
    }
    expect([...seen].sort()).toEqual(["registry-1", "registry-2"]);
  });
}

describe("registry - the demo's set-up through the gateway, on PGlite", () => {
  gatewaySuite(pglite);
});

describe.skipIf(!databaseUrl)(
  "registry - the demo's set-up through the gateway, on PostgreSQL (DATABASE_URL)",
  () => {
    gatewaySuite(() => postgres(databaseUrl!));
  },
);
