import { type Context, Hono } from "hono";
import type { Db, Queryable } from "./db.js";
import {
  asObject,
  dateError,
  type FieldErrors,
  kindError,
  normalizePassport,
  parseHealthRecord,
  parseHorsePatch,
  parseNewHorse,
  parsePage,
  parseTransfer,
  passportError,
  textError,
  todayIso,
} from "./validate.js";

/** A horse as the API returns it. */
export interface Horse {
  passportNumber: string;
  name: string;
  breed: string;
  dateOfBirth: string;
  currentOwner: string | null;
  createdAt: string;
}

/** One period of ownership; `to` is null for the current owner. */
export interface Ownership {
  owner: string;
  from: string;
  to: string | null;
}

/** A health record as the API returns it. */
export interface HealthRecord {
  id: number;
  date: string;
  kind: string;
  vet: string;
  notes: string | null;
}

/** Options of {@link createRegistryApp}. */
export interface RegistryAppOptions {
  /** Today's date as `YYYY-MM-DD` (default: the UTC date); tests may pin it. */
  today?: () => string;
  /** Called with unexpected errors, answered 500 (default: console.error). */
  onError?: (err: unknown) => void;
}

const HORSE_COLUMNS = `h.passport_number AS "passportNumber", h.name, h.breed,
  to_char(h.date_of_birth, 'YYYY-MM-DD') AS "dateOfBirth",
  (SELECT o.owner FROM horse_owners o WHERE o.passport_number = h.passport_number AND o.to_date IS NULL)
    AS "currentOwner",
  h.created_at AS "createdAt"`;

const OWNER_COLUMNS = `owner, to_char(from_date, 'YYYY-MM-DD') AS "from", to_char(to_date, 'YYYY-MM-DD') AS "to"`;

const HEALTH_COLUMNS = `id, to_char(date, 'YYYY-MM-DD') AS date, kind, vet, notes`;

interface HorseRow extends Omit<Horse, "createdAt"> {
  createdAt: Date | string;
}

function toHorse(row: HorseRow): Horse {
  return { ...row, createdAt: new Date(row.createdAt).toISOString() };
}

/** PostgreSQL's SQLSTATE of a failed statement (pg and PGlite both set `code`). */
function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

const UNIQUE_VIOLATION = "23505";
const FOREIGN_KEY_VIOLATION = "23503";

/** An answer decided deep in a handler (e.g. inside a transaction), thrown to its route. */
class Reply extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    readonly body: { error: string; fields?: FieldErrors },
  ) {
    super(body.error);
  }
}

const invalid = (fields: FieldErrors, error = "validation failed") => new Reply(400, { error, fields });
const unknownHorse = (passport: string) =>
  new Reply(404, { error: `no horse with passport number ${passport}` });

/** The passport number of the path, normalized, or a 400. */
function pathPassport(c: Context): string {
  const raw = c.req.param("passport") ?? "";
  const message = passportError(raw);
  if (message) throw invalid({ passportNumber: message }, "invalid passport number");
  return normalizePassport(raw);
}

/** The request's JSON object body, or a 400. */
async function jsonObject(c: Context): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = JSON.parse(await c.req.text());
  } catch {
    throw new Reply(400, { error: "the request body must be valid JSON" });
  }
  const object = asObject(body);
  if (!object) throw new Reply(400, { error: "the request body must be a JSON object" });
  return object;
}

async function dateOfBirth(q: Queryable, passport: string, lock = false): Promise<string> {
  const { rows } = await q.query<{ dateOfBirth: string }>(
    `SELECT to_char(date_of_birth, 'YYYY-MM-DD') AS "dateOfBirth" FROM horses WHERE passport_number = $1
     ${lock ? "FOR UPDATE" : ""}`,
    [passport],
  );
  const row = rows[0];
  if (!row) throw unknownHorse(passport);
  return row.dateOfBirth;
}

async function findHorse(q: Queryable, passport: string): Promise<Horse | undefined> {
  const { rows } = await q.query<HorseRow>(
    `SELECT ${HORSE_COLUMNS} FROM horses h WHERE passport_number = $1`,
    [passport],
  );
  return rows[0] && toHorse(rows[0]);
}

/**
 * The equine register as a plain Hono app — nothing in it knows about NATS.
 *
 * - `GET /horses?breed=&limit=&offset=`, `POST /horses`
 * - `GET | PATCH | DELETE /horses/:passport`
 * - `GET | POST /horses/:passport/owners` (POST transfers ownership)
 * - `GET /horses/:passport/health?kind=`, `POST /horses/:passport/health`, `GET /horses/:passport/health/:id`
 */
export function createRegistryApp(db: Db, options: RegistryAppOptions = {}): Hono {
  const today = options.today ?? (() => todayIso());
  const onError = options.onError ?? ((err: unknown) => console.error("registry: request failed", err));
  const app = new Hono();

  app.get("/horses", async (c) => {
    const page = parsePage({ limit: c.req.query("limit"), offset: c.req.query("offset") });
    const breed = c.req.query("breed") || undefined; // `?breed=` alone does not filter
    const fields: FieldErrors = page.ok ? {} : { ...page.fields };
    if (breed !== undefined) {
      const message = textError(breed, 100);
      if (message) fields.breed = message;
    }
    if (!page.ok || Object.keys(fields).length > 0) throw invalid(fields, "invalid query");
    const { limit, offset } = page.value;
    const where = breed === undefined ? "" : "WHERE lower(h.breed) = lower($3)";
    const params: unknown[] = breed === undefined ? [limit, offset] : [limit, offset, breed.trim()];
    const [list, count] = await Promise.all([
      db.query<HorseRow>(
        `SELECT ${HORSE_COLUMNS} FROM horses h ${where} ORDER BY h.passport_number COLLATE "C" LIMIT $1 OFFSET $2`,
        params,
      ),
      db.query<{ total: number }>(
        `SELECT count(*)::int AS total FROM horses h ${breed === undefined ? "" : "WHERE lower(h.breed) = lower($1)"}`,
        breed === undefined ? [] : [breed.trim()],
      ),
    ]);
    return c.json({ items: list.rows.map(toHorse), total: count.rows[0]?.total ?? 0, limit, offset });
  });

  app.post("/horses", async (c) => {
    const parsed = parseNewHorse(await jsonObject(c), today());
    if (!parsed.ok) throw invalid(parsed.fields);
    const horse = parsed.value;
    try {
      await db.transaction(async (tx) => {
        await tx.query(
          "INSERT INTO horses (passport_number, name, breed, date_of_birth) VALUES ($1, $2, $3, $4)",
          [horse.passportNumber, horse.name, horse.breed, horse.dateOfBirth],
        );
        if (horse.owner !== undefined) {
          await tx.query("INSERT INTO horse_owners (passport_number, owner, from_date) VALUES ($1, $2, $3)", [
            horse.passportNumber,
            horse.owner,
            horse.dateOfBirth,
          ]);
        }
      });
    } catch (err) {
      if (sqlState(err) === UNIQUE_VIOLATION) {
        throw new Reply(409, {
          error: `a horse with passport number ${horse.passportNumber} already exists`,
        });
      }
      throw err;
    }
    const created = await findHorse(db, horse.passportNumber);
    if (!created) throw unknownHorse(horse.passportNumber); // deleted in between
    c.header("Location", `/horses/${horse.passportNumber}`);
    return c.json(created, 201);
  });

  app.get("/horses/:passport", async (c) => {
    const passport = pathPassport(c);
    const horse = await findHorse(db, passport);
    if (!horse) throw unknownHorse(passport);
    return c.json(horse);
  });

  app.patch("/horses/:passport", async (c) => {
    const passport = pathPassport(c);
    const parsed = parseHorsePatch(await jsonObject(c));
    if (!parsed.ok) throw invalid(parsed.fields);
    const { name, breed } = parsed.value;
    const { rows } = await db.query<{ passport_number: string }>(
      `UPDATE horses SET name = coalesce($2, name), breed = coalesce($3, breed)
       WHERE passport_number = $1 RETURNING passport_number`,
      [passport, name ?? null, breed ?? null],
    );
    const horse = rows.length > 0 ? await findHorse(db, passport) : undefined;
    if (!horse) throw unknownHorse(passport);
    return c.json(horse);
  });

  app.delete("/horses/:passport", async (c) => {
    const passport = pathPassport(c);
    const { rows } = await db.query(
      "DELETE FROM horses WHERE passport_number = $1 RETURNING passport_number",
      [passport],
    );
    if (rows.length === 0) throw unknownHorse(passport);
    return c.body(null, 204);
  });

  app.get("/horses/:passport/owners", async (c) => {
    const passport = pathPassport(c);
    await dateOfBirth(db, passport);
    const { rows } = await db.query<Ownership>(
      `SELECT ${OWNER_COLUMNS} FROM horse_owners WHERE passport_number = $1 ORDER BY from_date, id`,
      [passport],
    );
    return c.json({ items: rows });
  });

  app.post("/horses/:passport/owners", async (c) => {
    const passport = pathPassport(c);
    const parsed = parseTransfer(await jsonObject(c), today());
    if (!parsed.ok) throw invalid(parsed.fields);
    const { owner, from } = parsed.value;
    const opened = await db
      .transaction(async (tx) => {
        // Locking the horse serializes transfers of one horse across every instance.
        const born = await dateOfBirth(tx, passport, true);
        const fromError = dateError(from, { notBefore: { date: born, what: "the date of birth" } });
        if (fromError) throw invalid({ from: fromError });
        const { rows } = await tx.query<Ownership & { id: number }>(
          `SELECT id, ${OWNER_COLUMNS} FROM horse_owners WHERE passport_number = $1 AND to_date IS NULL`,
          [passport],
        );
        const current = rows[0];
        if (current) {
          if (current.owner === owner) throw invalid({ owner: "is already the current owner" });
          if (from <= current.from) {
            throw invalid({ from: `must be after the current owner's start date (${current.from})` });
          }
          await tx.query("UPDATE horse_owners SET to_date = $2 WHERE id = $1", [current.id, from]);
        }
        const inserted = await tx.query<Ownership>(
          `INSERT INTO horse_owners (passport_number, owner, from_date) VALUES ($1, $2, $3)
           RETURNING ${OWNER_COLUMNS}`,
          [passport, owner, from],
        );
        return inserted.rows[0]!;
      })
      .catch((err: unknown) => {
        if (sqlState(err) === UNIQUE_VIOLATION) {
          throw new Reply(409, { error: "ownership changed concurrently; retry" });
        }
        throw err;
      });
    c.header("Location", `/horses/${passport}/owners`);
    return c.json(opened, 201);
  });

  app.get("/horses/:passport/health", async (c) => {
    const passport = pathPassport(c);
    const kind = c.req.query("kind");
    if (kind !== undefined) {
      const message = kindError(kind);
      if (message) throw invalid({ kind: message }, "invalid query");
    }
    await dateOfBirth(db, passport);
    const { rows } = await db.query<HealthRecord>(
      `SELECT ${HEALTH_COLUMNS} FROM health_records WHERE passport_number = $1 AND ($2::text IS NULL OR kind = $2)
       ORDER BY date, id`,
      [passport, kind ?? null],
    );
    return c.json({ items: rows });
  });

  app.get("/horses/:passport/health/:id{[0-9]+}", async (c) => {
    const passport = pathPassport(c);
    const id = c.req.param("id");
    const { rows } =
      id.length > 9
        ? { rows: [] }
        : await db.query<HealthRecord>(
            `SELECT ${HEALTH_COLUMNS} FROM health_records WHERE passport_number = $1 AND id = $2`,
            [passport, Number(id)],
          );
    if (!rows[0]) return c.json({ error: `no health record ${id} for horse ${passport}` }, 404);
    return c.json(rows[0]);
  });

  app.post("/horses/:passport/health", async (c) => {
    const passport = pathPassport(c);
    const parsed = parseHealthRecord(await jsonObject(c), today());
    if (!parsed.ok) throw invalid(parsed.fields);
    const record = parsed.value;
    const born = await dateOfBirth(db, passport);
    const message = dateError(record.date, { notBefore: { date: born, what: "the date of birth" } });
    if (message) throw invalid({ date: message });
    let rows: HealthRecord[];
    try {
      ({ rows } = await db.query<HealthRecord>(
        `INSERT INTO health_records (passport_number, date, kind, vet, notes) VALUES ($1, $2, $3, $4, $5)
         RETURNING ${HEALTH_COLUMNS}`,
        [passport, record.date, record.kind, record.vet, record.notes],
      ));
    } catch (err) {
      if (sqlState(err) === FOREIGN_KEY_VIOLATION) throw unknownHorse(passport); // deleted in between
      throw err;
    }
    const created = rows[0]!;
    c.header("Location", `/horses/${passport}/health/${created.id}`);
    return c.json(created, 201);
  });

  app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${c.req.path}` }, 404));

  app.onError((err, c) => {
    if (err instanceof Reply) return c.json(err.body, err.status);
    onError(err);
    return c.json({ error: "internal error" }, 500);
  });

  return app;
}
