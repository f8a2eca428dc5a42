/**
 * One worker instance of the durable proof (bench/durable/proof.ts), in a process of its own: service
 * `proof` served by natsmesh's compiled build (dist/) with durable requests on.
 *
 *   POST /order    201, echoes the body after DURABLE_WORK_MS (±50%) of work; records the execution first
 *   POST /poison   throws, always
 *
 * Every execution is appended to `$DURABLE_EXEC_LOG` synchronously before the handler answers
 * (`<idempotency-key> <ms>`), so a SIGKILL cannot lose the record of a run. Environment:
 * `DURABLE_NATS_URLS` (comma-separated), `DURABLE_EXEC_LOG`, `DURABLE_OPTIONS` (JSON: serve()'s
 * `durable` option), `DURABLE_CONCURRENCY`, `DURABLE_WORK_MS`. Prints `ready <instance id>`.
 */
import { appendFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
// dist/, the compiled build users run.
import { serve } from "../../dist/index.js";

const execLog = process.env.DURABLE_EXEC_LOG;
if (!execLog) throw new Error("DURABLE_EXEC_LOG is not set");
const work = Number(process.env.DURABLE_WORK_MS ?? 20);

async function handler(req: Request): Promise<Response> {
  const { pathname } = new URL(req.url);
  const key = req.headers.get("idempotency-key") ?? "?";
  appendFileSync(execLog!, `${key} ${Date.now()}\n`);
  if (pathname === "/poison") throw new Error("poison request");
  const body = await req.text();
  await sleep(work * (0.5 + Math.random()));
  return new Response(body, { status: 201, headers: { "content-type": "application/json" } });
}

const svc = await serve(handler, {
  service: "proof",
  connection: {
    servers: (process.env.DURABLE_NATS_URLS ?? "").split(","),
    reconnectTimeWait: 100,
    maxReconnectAttempts: -1,
  },
  concurrency: Number(process.env.DURABLE_CONCURRENCY ?? 8),
  discovery: false,
  metrics: false,
  logger: pino({ level: "warn" }, pino.destination(2)),
  durable: JSON.parse(process.env.DURABLE_OPTIONS ?? "{}") as Record<string, unknown>,
});
process.stdout.write(`ready ${svc.instance}\n`);
process.once("SIGTERM", () => {
  svc.stop().then(() => process.exit(0));
});
