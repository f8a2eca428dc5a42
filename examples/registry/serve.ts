/**
 * Serves the equine register over NATS as service `registry`, on PostgreSQL when DATABASE_URL is set
 * and on an embedded PGlite otherwise (in memory, or in REGISTRY_DATA_DIR).
 *
 *   NATS_URL=nats://127.0.0.1:4222 DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
 *     npx tsx examples/registry/serve.ts
 *   npx natsmesh request 'http://registry/horses'
 */
import { serve } from "natsmesh";
import { createRegistryApp } from "./app.js";
import { migrate, openDb } from "./db.js";

const db = await openDb({ url: process.env.DATABASE_URL, dataDir: process.env.REGISTRY_DATA_DIR });
await migrate(db);
const svc = await serve(createRegistryApp(db), { service: "registry" });
const where =
  db.kind === "postgres" ? "PostgreSQL" : `PGlite (${process.env.REGISTRY_DATA_DIR ?? "in memory"})`;
console.log(`registry serving ${svc.subject} on ${where} (queue ${svc.queue}, instance ${svc.instance})`);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, async () => {
    await svc.stop();
    await db.close();
    process.exit(0);
  });
}
