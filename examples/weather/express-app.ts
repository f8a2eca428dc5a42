import express from "express";
import { allCities, findCity, parseReport } from "./data.js";

/**
 * The weather API as a plain express app — nothing in it knows about NATS.
 * GET /cities, GET /city?q=NAME, POST /reports {city, sky}.
 */
export function createExpressApp(): express.Express {
  const app = express();
  app.use(express.json());
  app.get("/cities", (_req, res) => {
    res.json(allCities());
  });
  app.get("/city", (req, res) => {
    const q = typeof req.query.q === "string" ? req.query.q : "";
    if (!q) {
      res.status(400).json({ error: "query parameter q is required" });
      return;
    }
    const found = findCity(q);
    if (!found) {
      res.status(404).json({ error: `unknown city '${q}'` });
      return;
    }
    res.json(found);
  });
  app.post("/reports", (req, res) => {
    const report = parseReport(req.body);
    if (typeof report === "string") {
      res.status(400).json({ error: report });
      return;
    }
    res.status(201).json({ id: Date.now().toString(36), ...report });
  });
  return app;
}
