/**
 * Streamed bodies: 1 GiB from a client through a service and back, with each process's RSS growth,
 * beside raw NATS publish throughput of the same 64 KiB messages, in one run on one nats-server
 * (max_payload 64 KiB + 8, so natsmesh's chunks are 64 KiB too).
 *
 *   npx tsx bench/streaming.ts            (1 GiB, 3 repetitions, writes BENCHMARKS.md)
 *   npx tsx bench/streaming.ts --quick    (128 MiB, 1 repetition, prints only)
 *
 * Scenarios, each a fresh transfer of N bytes in 64 KiB pieces:
 *   raw     nc.publish of 64 KiB messages to a subscriber in the service process (flush every 64)
 *   rawecho the same, the subscriber publishing each message back to the client: the raw NATS
 *           equivalent of echo (N bytes each way at once)
 *   upload  natsmesh fetch, ReadableStream body → serve() Fetch handler that counts it
 *   echo    natsmesh fetch, ReadableStream body → serve() handler answering `new Response(req.body)`
 *           → the client reads it back: N bytes each way at once
 * Throughput is payload MB/s (for echo: bytes that came back); RSS growth is the peak during the
 * transfer minus the RSS just before it, sampled every 20 ms, in the client and the service process.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { createFetch } from "../src/client/index.js";
import { findNatsServer } from "../src/internal.js";
import { serve } from "../src/server/index.js";
import { median } from "./lib/measure.js";
import { freePort } from "./lib/port.js";
import { writeSection } from "./lib/sections.js";
import { ask, startBench } from "./lib/spawn.js";

const PIECE = 64 * 1024;
const argv = process.argv.slice(2);

/** Samples this process's RSS; `peak()` is the largest seen since `reset()`. */
class RssWatch {
  #base = 0;
  #peak = 0;
  #timer: NodeJS.Timeout | undefined;
  reset(): void {
    this.#base = process.memoryUsage.rss();
    this.#peak = this.#base;
    this.#timer ??= setInterval(() => {
      this.#peak = Math.max(this.#peak, process.memoryUsage.rss());
    }, 20);
  }
  growth(): number {
    this.#peak = Math.max(this.#peak, process.memoryUsage.rss());
    return this.#peak - this.#base;
  }
  stop(): void {
    clearInterval(this.#timer);
  }
}

function source(n: number): ReadableStream<Uint8Array> {
  const piece = Buffer.alloc(PIECE, 7);
  let sent = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (sent >= n) return c.close();
        const take = Math.min(PIECE, n - sent);
        sent += take;
        // A new buffer per piece, as a real producer would hand over.
        c.enqueue(Buffer.from(piece.subarray(0, take)));
      },
    },
    { highWaterMark: 0 },
  );
}

/** The service side, in its own process: natsmesh service + raw subscriber; answers JSON lines. */
async function serviceProcess(url: string): Promise<void> {
  const nc = await connect({ servers: url });
  const rss = new RssWatch();
  let rawCount = 0;
  nc.subscribe("bench.rawecho", {
    callback: (_e, m) => {
      if (m.reply) nc.publish(m.reply, m.data);
    },
  });
  nc.subscribe("bench.raw", {
    callback: (_e, m) => {
      rawCount += m.data.byteLength;
      if (m.reply) nc.publish(m.reply, String(rawCount));
    },
  });
  await serve(
    async (req: Request) => {
      if (new URL(req.url).pathname === "/echo") return new Response(req.body);
      let n = 0;
      for await (const c of req.body! as unknown as AsyncIterable<Uint8Array>) n += c.byteLength;
      return new Response(String(n));
    },
    { service: "streams", nc, logger: pino({ level: "silent" }), metrics: false, discovery: false },
  );
  process.stdout.write("READY\n");
  for await (const line of (await import("node:readline")).createInterface({ input: process.stdin })) {
    const msg = JSON.parse(line) as { op: string };
    if (msg.op === "reset") {
      rawCount = 0;
      rss.reset();
      process.stdout.write(`${JSON.stringify({ ok: true })}\n`);
    } else if (msg.op === "report") {
      process.stdout.write(`${JSON.stringify({ rss: rss.growth(), raw: rawCount })}\n`);
    }
  }
  rss.stop();
  await nc.close();
}

async function startNats(): Promise<{ url: string; stop(): void }> {
  const dir = mkdtempSync(path.join(tmpdir(), "natsmesh-bench-"));
  const conf = path.join(dir, "nats.conf");
  writeFileSync(conf, `max_payload: ${PIECE + 8}\n`);
  const port = await freePort();
  const bin = findNatsServer();
  const proc = spawn(bin, ["-c", conf, "-a", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
  const url = `nats://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      const nc = await connect({ servers: url, timeout: 200 });
      await nc.close();
      return { url, stop: () => proc.kill("SIGTERM") };
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  throw new Error("bench/streaming: nats-server did not start");
}

async function rawPublish(nc: NatsConnection, n: number): Promise<void> {
  const piece = Buffer.alloc(PIECE, 7);
  for (let sent = 0, i = 0; sent < n; sent += PIECE, i++) {
    nc.publish("bench.raw", Buffer.from(piece));
    if (i % 64 === 63) await nc.flush();
  }
  // The subscriber answers with its count: the last answer says everything arrived.
  for (;;) {
    const got = Number((await nc.request("bench.raw", new Uint8Array(0), { timeout: 10_000 })).string());
    if (got >= n) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Publishes n bytes to bench.rawecho and waits until they all came back. */
async function rawEcho(nc: NatsConnection, n: number): Promise<void> {
  const piece = Buffer.alloc(PIECE, 7);
  const inbox = `bench.back.${Date.now()}`;
  let back = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => {
    done = r;
  });
  const sub = nc.subscribe(inbox, {
    callback: (_e, m) => {
      back += m.data.byteLength;
      if (back >= n) done();
    },
  });
  for (let sent = 0, i = 0; sent < n; sent += PIECE, i++) {
    nc.publish("bench.rawecho", Buffer.from(piece), { reply: inbox });
    if (i % 64 === 63) await nc.flush();
  }
  await all;
  sub.unsubscribe();
}

interface Figures {
  mbps: number;
  clientRss: number;
  serviceRss: number;
}

async function main(): Promise<void> {
  if (argv[0] === "--role=service") return serviceProcess(argv[1]!);
  const quick = argv.includes("--quick");
  const n = quick ? 128 * 1024 * 1024 : 1024 * 1024 * 1024;
  const reps = quick ? 1 : 3;
  const nats = await startNats();
  const svc = await startBench("bench/streaming.ts", ["--role=service", nats.url]);
  const nc = await connect({ servers: nats.url });
  const fetch = createFetch({ nc });
  const rss = new RssWatch();
  const runs: Record<string, Figures[]> = { raw: [], rawecho: [], upload: [], echo: [] };
  try {
    for (let rep = 0; rep < reps; rep++) {
      for (const scenario of ["raw", "rawecho", "upload", "echo"] as const) {
        await ask(svc, { op: "reset" });
        rss.reset();
        const t0 = performance.now();
        let bytes = n;
        if (scenario === "raw") {
          await rawPublish(nc, n);
        } else if (scenario === "rawecho") {
          await rawEcho(nc, n);
        } else {
          const res = await fetch(`http://streams/${scenario}`, {
            method: "POST",
            body: source(n),
            duplex: "half",
          } as RequestInit);
          if (scenario === "upload") {
            bytes = Number(await res.text());
          } else {
            bytes = 0;
            for await (const c of res.body! as unknown as AsyncIterable<Uint8Array>) bytes += c.byteLength;
          }
          if (bytes !== n) throw new Error(`${scenario}: ${bytes} bytes arrived of ${n}`);
        }
        const s = (performance.now() - t0) / 1000;
        const report = await ask<{ rss: number }>(svc, { op: "report" });
        runs[scenario]!.push({ mbps: bytes / 1e6 / s, clientRss: rss.growth(), serviceRss: report.rss });
        process.stderr.write(`${scenario} rep ${rep + 1}: ${(bytes / 1e6 / s).toFixed(0)} MB/s\n`);
      }
    }
  } finally {
    rss.stop();
    await fetch.close();
    await nc.close();
    await svc.stop();
    nats.stop();
  }
  const mib = (b: number) => (b / 1048576).toFixed(1);
  const mbpsOf = (id: string) => median(runs[id]!.map((r) => r.mbps));
  // Each natsmesh transfer against its raw NATS equivalent: one way, or there and back at once.
  const rows = [
    ["raw", "raw", "raw NATS: `nc.publish` of 64 KiB messages → subscriber (flush every 64)"],
    ["upload", "raw", "natsmesh upload: streamed request body → `serve()` Fetch handler"],
    ["rawecho", "rawecho", "raw NATS echo: the subscriber publishes each message back (each way)"],
    ["echo", "rawecho", "natsmesh echo: streamed request → `new Response(req.body)` → client (each way)"],
  ] as const;
  const lines = [
    `Run ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC · \`npx tsx bench/streaming.ts${quick ? " --quick" : ""}\` · ${cpus().length} cores · load ${loadavg()[0]!.toFixed(1)} · node ${process.version} · ${mib(n)} MiB per transfer in 64 KiB pieces, max_payload 64 KiB + 8 · ${reps} repetition(s), medians`,
    "",
    "| transfer | MB/s | × raw equivalent | RSS growth, client MiB | RSS growth, service MiB |",
    "|---|---:|---:|---:|---:|",
    ...rows.map(([id, base, label]) => {
      const r = runs[id]!;
      const mbps = mbpsOf(id);
      return `| ${label} | ${mbps.toFixed(0)} | ${(mbps / mbpsOf(base)).toFixed(2)} | ${mib(Math.max(...r.map((x) => x.clientRss)))} | ${mib(Math.max(...r.map((x) => x.serviceRss)))} |`;
    }),
  ];
  const table = lines.join("\n");
  process.stdout.write(`${table}\n`);
  if (!quick) writeSection("BENCHMARKS.md", "streaming", table);
}

await main();
