/**
 * Does nats-server drop a stopped (SIGSTOPped) subscriber, with the soak's `ping_interval: 2s` and
 * `ping_max: 2`? Once with no message for it, once while messages keep arriving for its queue group
 * (as for a frozen service instance under load). Prints how long each took to leave `/connz`.
 *
 *   npx tsx bench/soak/ping-check.ts
 */
import { spawn } from "node:child_process";
import { connect } from "@nats-io/transport-node";
import { NatsServer } from "../../test/support/nats-server.js";
import { nodeConfig } from "./mesh.js";

const WAIT_MS = 20_000;

const SUBSCRIBER = `
const { connect } = await import("@nats-io/transport-node");
const nc = await connect({ servers: process.env.URL, name: "stopped" });
nc.subscribe("work", { queue: "q", callback: () => {} });
await nc.flush();
console.log("ready");`;

async function trial(traffic: boolean): Promise<string> {
  await using server = await NatsServer.start(
    nodeConfig({ ping: { intervalSeconds: 2, max: 2 }, jetstream: false }),
  );
  const child = spawn(process.execPath, ["--input-type=module", "-e", SUBSCRIBER], {
    env: { ...process.env, URL: server.url },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise((r) => child.stdout!.once("data", r));
  const publisher = await connect({ servers: server.url });
  child.kill("SIGSTOP");
  const started = Date.now();
  const timer = traffic
    ? setInterval(() => {
        for (let i = 0; i < 50; i++) publisher.publish("work", "x");
      }, 10)
    : undefined;
  let droppedAfter: number | undefined;
  while (droppedAfter === undefined && Date.now() - started < WAIT_MS) {
    const { connections = [] } = (await server.connz()) as { connections?: Array<{ name?: string }> };
    if (!connections.some((c) => c.name === "stopped")) droppedAfter = Date.now() - started;
    else await new Promise((r) => setTimeout(r, 250));
  }
  clearInterval(timer);
  child.kill("SIGKILL");
  await publisher.close();
  const when = droppedAfter === undefined ? `not within ${WAIT_MS} ms` : `after ${droppedAfter} ms`;
  return `${traffic ? "~5,000 msg/s for its queue group" : "no messages"}: dropped ${when}`;
}

process.stdout.write(`${await trial(false)}\n${await trial(true)}\n`);
