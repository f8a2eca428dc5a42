/**
 * Rogue publisher flood: how good callers fare while another process floods the service's subject
 * with garbage, against a baseline without the flood.
 *
 *   npx tsx bench/flood.ts [seconds per phase, default 5] [good callers, default 16] [rates, default 10000,0]
 *
 * `rates`: the flood phases, comma-separated garbage messages per second (0: flat out).
 *
 * Three processes besides nats-server: the service (`serve()` with a Fetch handler and the default
 * logger at `info`, writing to /dev/null; malformed messages are logged once per second), the flooder
 * (publishes random bytes and broken frames to `mesh.flood.get` as fast as nats-server takes them, half
 * with a reply subject so the service must answer 400s), and this process, whose good callers keep
 * `callers` requests in flight with `createFetch` (timeout 2 s). Prints one Markdown table.
 * `FLOOD_LOG_LEVEL=error` turns the service's "malformed message" warnings off altogether;
 * `FLOOD_CPU_PROF=<dir>` makes the service write a V8 CPU profile into `<dir>`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { cpus, loadavg } from "node:os";
import { connect } from "@nats-io/transport-node";
import { pino } from "pino";
import { startLocalServer } from "../src/dev/index.js";
import { createFetch, type ServiceHandle, serve } from "../src/index.js";
import { createLogger } from "../src/log/index.js";

const [role, url] = process.argv.slice(2);

/** The service: prints its counters as JSON on stdin's end. */
async function runService(natsUrl: string): Promise<void> {
  const nc = await connect({ servers: natsUrl, noAsyncTraces: true });
  let disconnects = 0;
  (async () => {
    for await (const s of nc.status()) if (s.type === "disconnect") disconnects++;
  })();
  const logger = createLogger({
    level: process.env.FLOOD_LOG_LEVEL ?? "info",
    destination: pino.destination({ dest: "/dev/null", sync: false }),
  });
  const svc: ServiceHandle = await serve(() => new Response("ok"), {
    service: "flood",
    nc,
    logger,
    metrics: false,
  });
  // Peak memory while it runs: what queues in the instance under the flood (sampled every 100 ms).
  let heapPeak = 0;
  let rssPeak = 0;
  const sample = setInterval(() => {
    const m = process.memoryUsage();
    heapPeak = Math.max(heapPeak, m.heapUsed);
    rssPeak = Math.max(rssPeak, m.rss);
  }, 100);
  // "mark" on stdin: print the CPU time used so far and the counters (for CPU per message).
  let input = "";
  process.stdin.on("data", (d: Buffer) => {
    input += d.toString();
    for (let nl = input.indexOf("\n"); nl >= 0; nl = input.indexOf("\n")) {
      if (input.slice(0, nl) === "mark") {
        const { user, system } = process.cpuUsage();
        const { malformed } = svc.stats();
        process.stdout.write(`MARK ${JSON.stringify({ cpu: user + system, malformed })}\n`);
      }
      input = input.slice(nl + 1);
    }
  });
  process.stdout.write("READY\n");
  await once(process.stdin, "end");
  clearInterval(sample);
  process.stdout.write(`${JSON.stringify({ ...svc.stats(), disconnects, heapPeak, rssPeak })}\n`);
  await svc.stop();
  await nc.close();
}

/**
 * The flooder: publishes garbage until stdin ends, then prints how many messages it sent. `rate` is
 * messages per second (in bursts every 10 ms), or 0 for as fast as nats-server takes them.
 */
async function runFlooder(natsUrl: string, rate: number): Promise<void> {
  const nc = await connect({ servers: natsUrl, noAsyncTraces: true });
  const garbage = Array.from({ length: 256 }, (_, i) => {
    if (i % 4 === 0) return randomBytes(16 + (i % 200));
    const frame = Buffer.concat([Buffer.from([0x4e, 0x4d, 1, 1, 0, 0, 0, 40]), randomBytes(40 + (i % 100))]);
    if (i % 4 === 2) frame.writeUInt32BE(0xffffffff, 4); // absurd head length
    return frame;
  });
  let sent = 0;
  let stop = false;
  process.stdin.resume();
  process.stdin.once("end", () => {
    stop = true;
  });
  process.stdout.write("READY\n");
  const started = performance.now();
  while (!stop) {
    const burst =
      rate > 0 ? Math.max(0, Math.floor(((performance.now() - started) * rate) / 1000) - sent) : 1000;
    for (let i = 0; i < burst; i++, sent++) {
      nc.publish("mesh.flood.get", garbage[sent & 255]!, sent & 1 ? { reply: `_ROGUE.${sent}` } : undefined);
    }
    await nc.flush();
    if (rate > 0) await new Promise((r) => setTimeout(r, 10));
  }
  process.stdout.write(`${JSON.stringify({ sent })}\n`);
  await nc.close();
}

function child(
  which: string,
  natsUrl: string,
  ...args: string[]
): { proc: ChildProcess; ready: Promise<void>; result: Promise<string> } {
  // FLOOD_CPU_PROF=<dir>: the service writes a V8 CPU profile there (`node --cpu-prof`) when it exits.
  const prof = which === "service" && process.env.FLOOD_CPU_PROF;
  const flags = prof ? ["--cpu-prof", "--cpu-prof-dir", prof] : [];
  const proc = spawn(
    process.execPath,
    [...flags, "--import", "tsx", import.meta.filename, which, natsUrl, ...args],
    {
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  let out = "";
  proc.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const ready = new Promise<void>((resolve, reject) => {
    const check = () => (out.includes("READY\n") ? resolve() : undefined);
    proc.stdout!.on("data", check);
    proc.once("exit", (code) => reject(new Error(`${which} exited with ${code}`)));
  });
  const result = once(proc, "exit").then(() => out.split("\n").filter(Boolean).at(-1) ?? "");
  return { proc, ready, result };
}

interface Mark {
  /** CPU time the service used so far, µs. */
  cpu: number;
  malformed: number;
}

/** Asks the service for its CPU time and counters now. */
function mark(service: ChildProcess): Promise<Mark> {
  return new Promise((resolve) => {
    let seen = "";
    const onData = (d: Buffer) => {
      seen += d.toString();
      const m = /MARK (\{.*\})\n/.exec(seen);
      if (m) {
        service.stdout!.off("data", onData);
        resolve(JSON.parse(m[1]!) as Mark);
      }
    };
    service.stdout!.on("data", onData);
    service.stdin!.write("mark\n");
  });
}

interface Phase {
  ok: number;
  failed: number;
  rps: number;
  p50: number;
  p99: number;
  max: number;
}

async function goodCallers(natsUrl: string, callers: number, ms: number): Promise<Phase> {
  const fetch = createFetch({ connection: { servers: natsUrl, noAsyncTraces: true }, timeout: 2000 });
  const latencies: number[] = [];
  let failed = 0;
  const end = performance.now() + ms;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (performance.now() < end) {
        const started = performance.now();
        try {
          const res = await fetch("http://flood/");
          await res.arrayBuffer();
          if (res.status === 200) latencies.push(performance.now() - started);
          else failed++;
        } catch {
          failed++;
        }
      }
    }),
  );
  await fetch.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return {
    ok: latencies.length,
    failed,
    rps: latencies.length / (ms / 1000),
    p50: at(0.5),
    p99: at(0.99),
    max: latencies.at(-1) ?? Number.NaN,
  };
}

/** Runs the good callers while a flooder publishes at `rate` (0: flat out); stops it after. */
async function floodPhase(natsUrl: string, callers: number, ms: number, rate: number) {
  const flooder = child("flood", natsUrl, String(rate));
  await flooder.ready;
  const phase = await goodCallers(natsUrl, callers, ms);
  flooder.proc.stdin!.end();
  const { sent } = JSON.parse(await flooder.result) as { sent: number };
  return { phase, sent };
}

/** Milliseconds from now until a good call is answered within 100 ms again. */
async function recovery(natsUrl: string): Promise<number> {
  const fetch = createFetch({ connection: { servers: natsUrl, noAsyncTraces: true }, timeout: 100 });
  const started = performance.now();
  for (;;) {
    const ok = await fetch("http://flood/").then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
  }
  await fetch.close();
  return performance.now() - started;
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 5);
  const callers = Number(process.argv[3] ?? 16);
  const ratesArg = process.argv[4] ?? "10000,0";
  const rates = ratesArg.split(",").map(Number);
  const ms = seconds * 1000;
  const loadBefore = loadavg()[0]!.toFixed(1);
  await using nats = await startLocalServer();
  const service = child("service", nats.url);
  await service.ready;
  await goodCallers(nats.url, callers, 1000); // warm-up
  const m0 = await mark(service.proc);
  const baseline = await goodCallers(nats.url, callers, ms);
  const m1 = await mark(service.proc);
  const floods: Array<{ rate: number; phase: Phase; sent: number }> = [];
  for (const r of rates) floods.push({ rate: r, ...(await floodPhase(nats.url, callers, ms, r)) });
  const recovered = await recovery(nats.url);
  const m2 = await mark(service.proc);
  // The service's CPU per garbage message over the flood phases, less what the good requests of
  // those phases cost at the no-flood phase's CPU per request.
  const perGood = (m1.cpu - m0.cpu) / Math.max(1, baseline.ok + baseline.failed);
  const goodInFloods = floods.reduce((n, f) => n + f.phase.ok + f.phase.failed, 0);
  const perGarbage = (m2.cpu - m1.cpu - goodInFloods * perGood) / Math.max(1, m2.malformed - m1.malformed);
  service.proc.stdin!.end();
  const stats = JSON.parse(await service.result) as {
    malformed: number;
    disconnects: number;
    heapPeak: number;
    rssPeak: number;
  };
  const row = (name: string, p: Phase) =>
    `| ${name} | ${((100 * p.ok) / Math.max(1, p.ok + p.failed)).toFixed(2)} % (${p.failed} failed) | ${Math.round(p.rps).toLocaleString("en")} | ${(p.p50 * 1000).toFixed(0)} | ${(p.p99 * 1000).toFixed(0)} | ${p.max.toFixed(1)} |`;
  const rate = (sent: number) => `${Math.round(sent / seconds).toLocaleString("en")} msgs/s`;
  console.log(
    `Run ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC · \`npx tsx bench/flood.ts ${seconds} ${callers}${process.argv[4] === undefined ? "" : ` ${ratesArg}`}\` · ${cpus().length} cores · node ${process.version} · load average ${loadBefore} before, ${loadavg()[0]!.toFixed(1)} after · malformed-message warnings ${process.env.FLOOD_LOG_LEVEL === "error" ? "off" : "on (once per second)"} · ${callers} good callers, ${seconds} s per phase\n`,
  );
  console.log("| phase | good callers' success | good req/s | p50 µs | p99 µs | max ms |");
  console.log("|---|---:|---:|---:|---:|---:|");
  console.log(row("no flood", baseline));
  for (const f of floods) {
    const name = f.rate > 0 ? `garbage flood at ${rate(f.sent)}` : `garbage flood flat out (${rate(f.sent)})`;
    console.log(row(name, f.phase));
  }
  console.log(
    `\nAfter the last flood stopped, the first good call was answered after ${Math.round(recovered)} ms. The service counted ${stats.malformed.toLocaleString("en")} malformed messages (half answered 400, half dropped and logged) and saw ${stats.disconnects} disconnects; its CPU per good request was ${perGood.toFixed(1)} µs without a flood and ${perGarbage.toFixed(2)} µs per garbage message during the floods; its peak heap was ${(stats.heapPeak / 2 ** 20).toFixed(0)} MiB (RSS ${(stats.rssPeak / 2 ** 20).toFixed(0)} MiB).`,
  );
}

if (role === "service") await runService(url!);
else if (role === "flood") await runFlooder(url!, Number(process.argv[4] ?? 0));
else await main();
