/**
 * The main demo (`npm start`): the equine registry served over NATS by two instances, behind the
 * natsmesh gateway on http://127.0.0.1:8080.
 *
 * - NATS: the server at NATS_URL when one answers, else a local nats-server on a free port.
 * - Storage: PostgreSQL at DATABASE_URL, else embedded PGlite (in memory).
 * - Gateway: GATEWAY_LISTEN (default 127.0.0.1:8080), admin on GATEWAY_ADMIN (default 127.0.0.1:8081).
 * Prints curl lines that work; Ctrl-C stops everything cleanly.
 */

import { serve } from "natsmesh";
import { ensureNats } from "natsmesh/dev";
import { createGateway } from "natsmesh/gateway";
import { pino } from "pino";
import { createRegistryApp } from "./registry/app.js";
import { migrate, openDb } from "./registry/db.js";

const log = pino({ level: process.env.NATSMESH_LOG_LEVEL ?? "warn" });
const nats = await ensureNats();
console.log(
  nats.started
    ? `NATS: started a local nats-server at ${nats.url} (nothing answered at ${process.env.NATS_URL ?? "nats://127.0.0.1:4222"})`
    : `NATS: using the server at ${nats.url}`,
);

const db = await openDb({ url: process.env.DATABASE_URL });
await migrate(db);
console.log(
  `storage: ${db.kind === "postgres" ? "PostgreSQL at DATABASE_URL" : "embedded PGlite (in memory; set DATABASE_URL for PostgreSQL)"}`,
);

const connection = { servers: nats.url };
const app = createRegistryApp(db);
const instances = [
  await serve(app, { service: "registry", connection, instance: "registry-1", logger: log }),
  await serve(app, { service: "registry", connection, instance: "registry-2", logger: log }),
];
console.log(`registry: 2 instances in queue group '${instances[0]!.queue}' on ${instances[0]!.subject}`);

const gateway = createGateway({
  connection,
  listen: process.env.GATEWAY_LISTEN ?? "127.0.0.1:8080",
  admin: process.env.GATEWAY_ADMIN ?? "127.0.0.1:8081",
  config: { routes: [{ name: "horses", prefix: "/horses", service: "registry" }] },
  logger: log,
});
let addresses: Awaited<ReturnType<typeof gateway.listen>>;
try {
  addresses = await gateway.listen();
} catch (err) {
  console.error(
    `gateway: cannot listen: ${(err as Error).message} (set GATEWAY_LISTEN / GATEWAY_ADMIN to other ports)`,
  );
  await Promise.all(instances.map((i) => i.stop()));
  await db.close();
  await nats.stop();
  process.exit(1);
}
const base = addresses.url;
console.log(`gateway: ${base} (admin ${addresses.adminUrl})

Try it:
  curl -s ${base}/horses
  curl -s -i -X POST ${base}/horses -H 'content-type: application/json' \\
       -d '{"passportNumber":"826002000123456","name":"Shadowfax","breed":"Andalusian","dateOfBirth":"2015-04-12","owner":"Gandalf"}'
  curl -s ${base}/horses/826002000123456
  curl -s -X POST ${base}/horses/826002000123456/owners -H 'content-type: application/json' -d '{"owner":"Éomer"}'
  curl -s ${base}/horses/826002000123456/owners
  curl -s -X POST ${base}/horses/826002000123456/health -H 'content-type: application/json' \\
       -d '{"date":"2024-03-01","kind":"vaccination","vet":"Dr. Radagast","notes":"equine influenza"}'
  curl -s -i -X POST ${base}/horses -H 'content-type: application/json' -d '{"name":""}'     # 400 with field errors
  curl -s -i ${base}/nobody/                                                                    # 503: no responders
  curl -s ${addresses.adminUrl}/metrics | grep natsmesh_gateway_requests_total
Every response names the instance that answered (mesh-instance) and carries an x-request-id.
Ctrl-C stops everything.`);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    console.log("\nstopping: gateway, then the registry instances (draining), then storage and NATS ...");
    await gateway.close();
    await Promise.all(instances.map((i) => i.stop()));
    await db.close();
    await nats.stop();
    console.log("stopped cleanly");
  });
}
