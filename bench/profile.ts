/**
 * Where the time goes on natsmesh's request path: by default the headline call (POST 1 KB JSON,
 * bench/lib/order.ts) through `createFetch` → `serve` with a Fetch handler, c=64, with
 * `node --cpu-prof` on the client process (bench/client.ts jc) and the service process
 * (bench/responders.ts mesh-fetch-json):
 *   npx tsx bench/profile.ts            (writes the tables into BENCHMARKS.md's profile section)
 *   npx tsx bench/profile.ts --quick    (shorter, prints only, unless --write)
 *   npx tsx bench/profile.ts --scenario=jn   (another natsmesh scenario of bench/lib/scenarios.ts: jn is
 *                                       the node:http listener on the same call, c the GET of 100 B)
 *   --concurrency=1: one call at a time (where a c=1 call's time goes) instead of 64; prints only
 *   --no-write: prints only (`npm run bench` profiles jc and jn on each Node and writes them together)
 * The profiles (Chrome DevTools format) and the measured window (result.json) stay in
 * bench/results/profile/ for a closer look.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { startLocalServer } from "../src/dev/index.js";
import type { Job, JobResult } from "./client.js";
import { buildMesh, meshBuildLabel } from "./lib/mesh.js";
import { SCENARIOS, type Scenario, serviceName } from "./lib/scenarios.js";
import { writeSection } from "./lib/sections.js";
import { ask, startBench } from "./lib/spawn.js";

const quick = process.argv.includes("--quick");
const scenarioId = process.argv.find((a) => a.startsWith("--scenario="))?.slice(11) ?? "jc";
const scenario: Scenario =
  SCENARIOS.find((s) => s.id === scenarioId && s.responder.startsWith("mesh-")) ??
  fail(`--scenario=${scenarioId}: not a natsmesh scenario of bench/lib/scenarios.ts`);
const concurrency = Number(process.argv.find((a) => a.startsWith("--concurrency="))?.slice(14) ?? 64);
const write =
  concurrency === 64 && !process.argv.includes("--no-write") && (!quick || process.argv.includes("--write"));
const SECONDS = quick ? 3 : 8;
const DIR = "bench/results/profile";

function fail(message: string): never {
  throw new Error(message);
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

interface Entry {
  name: string;
  where: string;
  ms: number;
}

/** `file:///…/node_modules/@nats-io/nats-core/lib/x.js:9` → `@nats-io/nats-core/lib/x.js:9`; .ts files relative, no line. */
function where(url: string, line: number): string {
  if (!url) return "";
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) return `${url.slice(nm + 13)}:${line + 1}`;
  // natsmesh compiled by tsc (bench/lib/mesh.ts): src/<same path>.ts, lines of the emitted JavaScript.
  const build = url.indexOf("/bench/results/dist/");
  if (build >= 0) return `src/${url.slice(build + 20)}:${line + 1} (tsc output)`;
  // TypeScript run through tsx: the profile's lines are those of the transformed code, so none.
  if (url.endsWith(".ts")) return url.replace(`file://${process.cwd()}/`, "");
  return `${url}:${line + 1}`;
}

/** Kinds of code, for the one-line summary per process. */
function category(url: string, name: string): string {
  if (name === "(idle)") return "idle";
  if (name === "(garbage collector)") return "GC";
  if (name === "(program)" || name === "(root)") return "V8/native (program)";
  if (url.includes("/node_modules/@nats-io/")) return "nats.js";
  if (url.includes("/node_modules/undici/") || url.includes("internal/deps/undici")) return "undici";
  if (url.includes("/node_modules/")) return "other packages";
  if (url.startsWith("node:") || url === "") return "Node internals";
  if (url.includes("/src/") || url.includes("/bench/results/dist/")) return "natsmesh";
  return "bench";
}

/** Self time per function from the samples inside `window` (monotonic µs, as the profile's clock). */
function analyse(
  file: string,
  window: [number, number],
): { top: Entry[]; total: number; categories: Map<string, number> } {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i]!;
    if (t < window[0] || t > window[1]) continue;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + dt);
  }
  if (self.size === 0) throw new Error(`${file}: no samples inside the measured window`);
  const entries = new Map<string, Entry>();
  const categories = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const name = functionName || "(anonymous)";
    const cat = category(url, name);
    categories.set(cat, (categories.get(cat) ?? 0) + us / 1000);
    if (cat === "idle") continue;
    total += us / 1000;
    const key = `${name}@${url}:${lineNumber}`;
    const e = entries.get(key) ?? { name, where: where(url, lineNumber), ms: 0 };
    e.ms += us / 1000;
    entries.set(key, e);
  }
  const top = [...entries.values()].sort((a, b) => b.ms - a.ms).slice(0, 15);
  return { top, total, categories };
}

function table(title: string, file: string, result: JobResult): string {
  const requests = result.requests;
  const { top, total, categories } = analyse(file, result.window);
  const perReq = (ms: number) => ((ms * 1000) / requests).toFixed(2);
  const lines = [
    `**${title}** — ${Math.round(total).toLocaleString("en-US")} ms busy (not idle) for ${requests.toLocaleString("en-US")} requests, ${perReq(total)} µs per request`,
    "",
    `By kind: ${[...categories]
      .filter(([k]) => k !== "idle")
      .sort((a, b) => b[1] - a[1])
      .map(([k, ms]) => `${k} ${((ms / total) * 100).toFixed(0)}%`)
      .join(", ")}`,
    "",
    "| self % | µs/request | function | where |",
    "|---:|---:|---|---|",
    ...top.map(
      (e) =>
        `| ${((e.ms / total) * 100).toFixed(1)} | ${perReq(e.ms)} | \`${e.name}\` | ${e.where ? `\`${e.where}\`` : ""} |`,
    ),
  ];
  return lines.join("\n");
}

/** The main thread's profile: `CPU.<date>.<time>.<pid>.<thread id 0>.<seq>.cpuprofile`. */
function mainThreadProfile(name: string): string {
  const files = readdirSync(join(DIR, name));
  const main = files.find((f) => f.split(".")[4] === "0");
  if (!main) throw new Error(`${DIR}/${name}: no main-thread profile among ${files.join(", ")}`);
  return join(DIR, name, main);
}

async function main(): Promise<void> {
  if (!process.argv.includes("--src") && !process.env.NATSMESH_BENCH_BUILD) buildMesh();
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  // One directory per process: tsx's loader thread writes a profile of its own beside the main thread's.
  const prof = (name: string) => ["--cpu-prof", "--cpu-prof-dir", join(DIR, name)];
  const server = await startLocalServer();
  let result: JobResult;
  try {
    const name = serviceName(scenario.id);
    const service = await startBench(
      "bench/responders.ts",
      [scenario.responder, server.url, name],
      prof("service"),
    );
    const client = await startBench(
      "bench/client.ts",
      [scenario.id, server.url, "-", String(service.child.pid), String(server.pid)],
      prof("client"),
    );
    process.stderr.write(
      `bench: ${process.version} profiling ${scenario.id}, c=${concurrency}, ${SECONDS} s ...\n`,
    );
    const job: Job = { size: 100, concurrency, durationMs: SECONDS * 1000, warmupMs: 1000, latencyMs: 0 };
    // A discarded warm-up first (JIT), as in run.ts; the profile tables count the measured window only.
    await ask<JobResult>(client, { ...job, durationMs: 3000, warmupMs: 0 });
    result = await ask<JobResult>(client, job);
    writeFileSync(join(DIR, "result.json"), JSON.stringify(result));
    await client.stop();
    await service.stop();
  } finally {
    await server.stop();
  }
  const stamp = new Date().toISOString().slice(0, 16).replace("T", " ");
  const out = [
    `Run ${stamp} UTC · \`npx tsx bench/profile.ts${quick ? " --quick" : ""} --scenario=${scenario.id}${concurrency === 64 ? "" : ` --concurrency=${concurrency}`}\` (part of \`npm run bench\`) · ${scenario.call === "json" ? "POST 1 KB JSON" : "GET 100 B"} · node ${process.version} \`--cpu-prof\` · load average (1 min) ${loadavg()[0]!.toFixed(2)} · ${meshBuildLabel()} · 1 s warm-up + ${SECONDS} s at c=${concurrency}, ${Math.round(result.rps).toLocaleString("en-US")} req/s under the profiler · self time per function in the measured window (warm-up and start-up left out), top 15`,
    "",
    table(`Client: \`createFetch\` (bench/client.ts ${scenario.id})`, mainThreadProfile("client"), result),
    "",
    table(
      `Service: \`serve\`, ${scenario.short} (bench/responders.ts ${scenario.responder})`,
      mainThreadProfile("service"),
      result,
    ),
    "",
  ].join("\n");
  process.stdout.write(`\n${out}`);
  if (write) writeSection("BENCHMARKS.md", "profile", out);
  process.exit(0);
}

await main();
