/**
 * The registry's storage: PostgreSQL through `pg` when a URL is given (DATABASE_URL), else PGlite —
 * the same PostgreSQL, embedded in WASM (in memory, or in a data directory). Both are reached through
 * one tiny interface; every statement takes its values as parameters ($1, $2, ...).
 */
import type { PGlite } from "@electric-sql/pglite";
import type { Pool, PoolClient } from "pg";

/** Something that runs one parameterized statement. */
export interface Queryable {
  query<T>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
}

/** A database: statements, transactions, and closing. */
export interface Db extends Queryable {
  /** Runs `fn` in a transaction: COMMIT when it resolves, ROLLBACK when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /** `postgres` or `pglite`, for logs. */
  readonly kind: "postgres" | "pglite";
}

/** Options of {@link openDb}. */
export interface OpenDbOptions {
  /** A PostgreSQL URL (`postgres://user@host:5432/db`); PGlite when absent or empty. */
  url?: string;
  /** PGlite's data directory (default: in memory). Ignored with `url`. */
  dataDir?: string;
}

/** Opens PostgreSQL (a `pg.Pool`, checked with one query) or an embedded PGlite. */
export async function openDb(options: OpenDbOptions = {}): Promise<Db> {
  if (options.url) {
    const { default: pg } = await import("pg");
    const pool = new pg.Pool({ connectionString: options.url, max: 10 });
    // An idle client losing its connection must not crash the process; the pool replaces it.
    pool.on("error", () => undefined);
    const db = new PgDb(pool);
    try {
      await db.query("SELECT 1");
    } catch (err) {
      await pool.end();
      throw err;
    }
    return db;
  }
  const { PGlite } = await import("@electric-sql/pglite");
  return new PgliteDb(options.dataDir ? await PGlite.create(options.dataDir) : await PGlite.create());
}

class PgDb implements Db {
  readonly kind = "postgres";
  constructor(readonly pool: Pool) {}

  async query<T>(sql: string, params: unknown[] = []): Promise<{ rows: T[] }> {
    const res = await this.pool.query(sql, params);
    return { rows: res.rows as T[] };
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const client: PoolClient = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const result = await fn({
        query: async <R>(sql: string, params: unknown[] = []) => ({
          rows: (await client.query(sql, params)).rows as R[],
        }),
      });
      await client.query("COMMIT");
      client.release();
      return result;
    } catch (err) {
      // A connection that cannot even roll back is destroyed rather than returned to the pool.
      const broken = await client.query("ROLLBACK").then(
        () => undefined,
        (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
      );
      client.release(broken);
      throw err;
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

class PgliteDb implements Db {
  readonly kind = "pglite";
  constructor(readonly pg: PGlite) {}

  async query<T>(sql: string, params: unknown[] = []): Promise<{ rows: T[] }> {
    const res = await this.pg.query<T>(sql, params);
    return { rows: res.rows };
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.pg.transaction((tx) =>
      fn({
        query: async <R>(sql: string, params: unknown[] = []) => ({
          rows: (await tx.query<R>(sql, params)).rows,
        }),
      }),
    );
  }

  close(): Promise<void> {
    return this.pg.close();
  }
}

/** Key of the advisory lock that serializes migrations of instances sharing one database. */
export const MIGRATION_LOCK = 0x6e6d7265; // "nmre"

/** The schema, one idempotent statement each. */
export const SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS horses (
     passport_number TEXT PRIMARY KEY CHECK (passport_number ~ '^[0-9]{3}[0-9A-Z]{12}$'),
     name TEXT NOT NULL,
     breed TEXT NOT NULL,
     date_of_birth DATE NOT NULL,
     created_at TIMESTAMPTZ NOT NULL DEFAULT now()
   )`,
  "CREATE INDEX IF NOT EXISTS horses_breed ON horses (lower(breed))",
  `CREATE TABLE IF NOT EXISTS horse_owners (
     id INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     passport_number TEXT NOT NULL REFERENCES horses (passport_number) ON DELETE CASCADE,
     owner TEXT NOT NULL,
     from_date DATE NOT NULL,
     to_date DATE,
     CHECK (to_date IS NULL OR to_date >= from_date)
   )`,
  // At most one open ownership period per horse, whatever the callers do.
  `CREATE UNIQUE INDEX IF NOT EXISTS horse_owners_current
     ON horse_owners (passport_number) WHERE to_date IS NULL`,
  `CREATE TABLE IF NOT EXISTS health_records (
     id INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     passport_number TEXT NOT NULL REFERENCES horses (passport_number) ON DELETE CASCADE,
     date DATE NOT NULL,
     kind TEXT NOT NULL CHECK (kind IN ('vaccination', 'examination', 'treatment')),
     notes TEXT,
     vet TEXT NOT NULL
   )`,
  "CREATE INDEX IF NOT EXISTS health_records_horse ON health_records (passport_number, date)",
];

/**
 * Creates the tables when missing. Idempotent, and safe when several instances start at once on one
 * database: a transaction-scoped advisory lock lets one instance migrate at a time (concurrent
 * `CREATE TABLE IF NOT EXISTS` alone can still fail on the catalog's unique indexes).
 */
export async function migrate(db: Db): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    for (const statement of SCHEMA) await tx.query(statement);
  });
}
