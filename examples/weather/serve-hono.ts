/**
 * Serves the Hono weather app over NATS as service `weather`.
 *
 *   NATS_URL=nats://127.0.0.1:4222 npx tsx examples/weather/serve-hono.ts
 *   npx natsmesh request 'http://weather/city?q=london'
 */
import { serve } from "natsmesh";
import { createHonoApp } from "./hono-app.js";

const svc = await serve(createHonoApp(), { service: "weather" });
console.log(`hono weather app serving ${svc.subject} (queue ${svc.queue}, instance ${svc.instance})`);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, async () => {
    await svc.stop();
    process.exit(0);
  });
}
