/**
 * Cost of one access-log line: plain pino against natsmesh's createLogger (credential redaction).
 *   npx tsx bench/logging.ts
 */
import { Writable } from "node:stream";
import { pino } from "pino";
import { createLogger } from "../src/log/index.js";

const sink = () =>
  new Writable({
    write(_chunk, _encoding, cb) {
      cb();
    },
  });
const line = {
  method: "GET",
  path: "/x",
  status: 200,
  ms: 1.2,
  route: "r",
  service: "s",
  instance: "i",
  requestId: "abc",
};

function perLine(log: { info(obj: object, msg: string): void }): number {
  for (let i = 0; i < 20_000; i++) log.info(line, "access");
  const n = 100_000;
  const t = performance.now();
  for (let i = 0; i < n; i++) log.info(line, "access");
  return ((performance.now() - t) * 1000) / n;
}

console.log("| logger | µs per line |\n|---|---:|");
console.log(`| plain pino | ${perLine(pino({ name: "g" }, sink())).toFixed(2)} |`);
console.log(
  `| createLogger (redacting) | ${perLine(createLogger({ name: "g", destination: sink() })).toFixed(2)} |`,
);
