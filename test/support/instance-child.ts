/**
 * A service instance in a process of its own, for tests that SIGKILL it: serves the test API
 * (`apps.ts`) as service `$SERVICE` with label `$LABEL` on `$NATS_URL` (prefix `$NATS_PREFIX`),
 * prints `ready <instance id>` once subscribed, and drains on SIGTERM.
 */
import { pino } from "pino";
import { serve } from "../../src/index.js";
import { fetchApp } from "./apps.js";

const svc = await serve(fetchApp(process.env.LABEL ?? "child"), {
  service: process.env.SERVICE ?? "child",
  connection: { reconnectTimeWait: 100, maxReconnectAttempts: -1 },
  logger: pino({ level: "silent" }),
});
process.stdout.write(`ready ${svc.instance}\n`);
process.once("SIGTERM", () => {
  svc.stop().then(() => process.exit(0));
});
