/**
 * Serves the express weather app over NATS as service `weather` — and, for a gradual migration, on
 * a real HTTP port at the same time when PORT is set.
 *
 *   NATS_URL=nats://127.0.0.1:4222 npx tsx examples/weather/serve-express.ts
 *   npx natsmesh request 'http://weather/city?q=london'
 */
import { serve } from "natsmesh";
import { createExpressApp } from "./express-app.js";

const app = createExpressApp();
if (process.env.PORT) app.listen(Number(process.env.PORT));
const svc = await serve(app, { service: "weather" });
console.log(`express weather app serving ${svc.subject} (queue ${svc.queue}, instance ${svc.instance})`);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, async () => {
    await svc.stop();
    process.exit(0);
  });
}
