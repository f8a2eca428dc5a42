/**
 * The fetch/serve demo (`npx tsx examples/weather/demo.ts`): the weather API, served over NATS by two instances
 * of service `weather` — one express, one Hono, unchanged apps — in one queue group, and called
 * with natsmesh's fetch. Uses the NATS server at NATS_URL when one answers, otherwise starts a
 * local nats-server. Keeps serving until Ctrl-C, so the printed CLI lines can be tried.
 */

import { createFetch, serve } from "natsmesh";
import { ensureNats } from "natsmesh/dev";
import { pino } from "pino";
import { createExpressApp } from "./express-app.js";
import { createHonoApp } from "./hono-app.js";

const log = pino({ level: "warn" });
const nats = await ensureNats();
console.log(
  nats.started
    ? `started a local nats-server at ${nats.url} (no server answered at NATS_URL / 127.0.0.1:4222)`
    : `using the NATS server at ${nats.url}`,
);

const connection = { servers: nats.url };
const instances = [
  await serve(createExpressApp(), {
    service: "weather",
    connection,
    instance: "weather-express-1",
    logger: log,
  }),
  await serve(createHonoApp(), { service: "weather", connection, instance: "weather-hono-1", logger: log }),
];
console.log(
  `serving 'weather' on ${instances[0]!.subject} in queue group '${instances[0]!.queue}' (express + hono)\n`,
);

const fetch = createFetch({ connection });
for (const city of ["london", "tokyo", "zürich", "atlantis"]) {
  const res = await fetch(`http://weather.nats/city?q=${encodeURIComponent(city)}`);
  console.log(
    `GET /city?q=${city} → ${res.status} from ${res.headers.get("mesh-instance")}: ${await res.text()}`,
  );
}
const posted = await fetch("http://weather.nats/reports", {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ city: "Paris", sky: "rain" }),
});
console.log(`POST /reports → ${posted.status}: ${await posted.text()}`);
await fetch.close();

const server = `--server ${nats.url}`;
console.log(`
Try it from another terminal (Ctrl-C here stops everything):
  npx natsmesh request ${server} 'http://weather/city?q=paris' -i
  npx natsmesh request ${server} http://weather/cities
  npx natsmesh request ${server} -H 'Content-Type: application/json' -d '{"city":"Tokyo","sky":"clear"}' http://weather/reports
  npx natsmesh request ${server} http://nobody/        # no responders → exit 2
`);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    console.log("\nstopping: draining the service instances ...");
    await Promise.all(instances.map((i) => i.stop()));
    await nats.stop();
    console.log("stopped cleanly");
  });
}
