import { Hono } from "hono";
import { allCities, findCity, parseReport } from "./data.js";

/**
 * The weather API as a plain Hono app — nothing in it knows about NATS.
 * GET /cities, GET /city?q=NAME, POST /reports {city, sky}.
 */
export function createHonoApp(): Hono {
  const app = new Hono();
  app.get("/cities", (c) => c.json(allCities()));
  app.get("/city", (c) => {
    const q = c.req.query("q") ?? "";
    if (!q) return c.json({ error: "query parameter q is required" }, 400);
    const found = findCity(q);
    if (!found) return c.json({ error: `unknown city '${q}'` }, 404);
    return c.json(found);
  });
  app.post("/reports", async (c) => {
    const body = await c.req.json().catch(() => undefined);
    const report = parseReport(body);
    if (typeof report === "string") return c.json({ error: report }, 400);
    return c.json({ id: Date.now().toString(36), ...report }, 201);
  });
  return app;
}
