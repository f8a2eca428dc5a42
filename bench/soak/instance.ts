/**
 * One service instance of the soak, in a process of its own (started by fleet.ts): service `soak`,
 * a Fetch handler served by natsmesh's compiled build (dist/).
 *
 *   GET  /item/<n>   200, a small JSON answer
 *   POST /order      201, echoes the body; records the execution first
 *
 * Every POST execution is appended to `$SOAK_EXEC_LOG` synchronously before the answer is sent, so
 * a SIGKILL cannot lose the record of a request that was answered: `K <Idempotency-Key>` for a
 * keyed POST, `U <x-soak-id>` for an unkeyed one, each followed by the wall-clock time in ms. Environment: `SOAK_NATS_URLS` (comma-separated),
 * `SOAK_LABEL`, `SOAK_EXEC_LOG`, `SOAK_SERVE_OPTIONS` (JSON merged into the serve() options: the
 * hook for opt-in features such as deduplication). Prints `ready <instance id>`; drains on SIGTERM.
 */
import { appendFileSync } from "node:fs";
import { pino } from "pino";
// dist/, the compiled build users run (bench/ has a package.json of its own, so no self-reference).
import { serve } from "../../dist/index.js";

const label = process.env.SOAK_LABEL ?? "soak";
const execLog = process.env.SOAK_EXEC_LOG;
if (!execLog) throw new Error("SOAK_EXEC_LOG is not set");
const extra = JSON.parse(process.env.SOAK_SERVE_OPTIONS ?? "{}") as Record<string, unknown>;

async function handler(req: Request): Promise<Response> {
  if (req.method === "GET") {
    const { pathname } = new URL(req.url);
    return Response.json({ item: pathname, by: label });
  }
  if (req.method === "POST") {
    const body = await req.text();
    const key = req.headers.get("idempotency-key");
    const id = key ? `K ${key}` : `U ${req.headers.get("x-soak-id") ?? "?"}`;
    appendFileSync(execLog!, `${id} ${Date.now()}\n`);
    return new Response(body, { status: 201, headers: { "content-type": "application/json" } });
  }
  return new Response("method not allowed", { status: 405 });
}

const svc = await serve(handler, {
  service: "soak",
  connection: {
    servers: (process.env.SOAK_NATS_URLS ?? "").split(","),
    reconnectTimeWait: 100,
    maxReconnectAttempts: -1,
  },
  logger: pino({ level: "warn" }, pino.destination(2)),
  ...extra,
});
process.stdout.write(`ready ${svc.instance}\n`);
process.once("SIGTERM", () => {
  svc.stop().then(() => process.exit(0));
});
