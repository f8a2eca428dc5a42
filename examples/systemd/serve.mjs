// /opt/weather/serve.mjs — the service an instance unit starts: an express app served over NATS,
// drained on SIGTERM (systemd's stop). The connection comes from the environment (NATS_URL, NATS_CA,
// NATS_NKEY...: /etc/natsmesh/mesh.env and the unit).
import express from "express";
import { serve } from "natsmesh";

const app = express().get("/city", (req, res) => res.json({ city: req.query.q }));
const svc = await serve(app, { service: "weather", version: "1.0.0" });
process.once("SIGTERM", () => {
  svc.stop().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
});
