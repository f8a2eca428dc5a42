/**
 * The tables `npm run bench` prints and writes into BENCHMARKS.md, from one Node version's medians:
 * the headline (the JSON call), the targets of issue #19, and the GET tables.
 */
import { ORDER_BYTES } from "./order.js";
import { sizeLabel } from "./payload.js";
import { callOf, type Scenario } from "./scenarios.js";

/** Concurrency of the throughput runs (the bodies' reference point aside). */
export const CONCURRENCY = 64;

/** Medians per scenario, size and concurrency. */
export interface Row {
  scenario: Scenario;
  /** The answer size of a GET; the order's size for the headline call. */
  size: number;
  /** Concurrency of the throughput run (64, or 8 for the bodies' reference point). */
  concurrency: number;
  rps: number;
  p50: number;
  p99: number;
  cpu: { client: number; service: number; "nats-server": number };
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const ratio = (n: number) => n.toFixed(2);
const totalCpu = (r: Row) => r.cpu.client + r.cpu.service + r.cpu["nats-server"];
/** Answer megabytes (10^6 bytes) per second. */
const mbps = (r: Row) => (r.rps * r.size) / 1e6;
/** CPU seconds of all three processes per GB (10^9 bytes) of answers. */
const cpuPerGb = (r: Row) => ((totalCpu(r) / 10_000 / 1000) * 1e9) / r.size;

/** The rows of one run kind: an answer size at a concurrency (c=64 unless given). */
function rowsAt(rows: Row[], size: number, concurrency = CONCURRENCY): Row[] {
  return rows.filter((r) => callOf(r.scenario) === "get" && r.size === size && r.concurrency === concurrency);
}

export function find(rows: Row[], id: string, size: number, concurrency = CONCURRENCY): Row | undefined {
  return rowsAt(rows, size, concurrency).find((r) => r.scenario.id === id);
}

/** The answer sizes measured at c=64 (the bodies' reference point at c=8 aside). */
export const sizesAtC64 = (rows: Row[]) => [
  ...new Set(
    rows.filter((r) => callOf(r.scenario) === "get" && r.concurrency === CONCURRENCY).map((r) => r.size),
  ),
];

export function smallTable(rows: Row[]): string {
  const a = find(rows, "a", 100)!.rps;
  const b = find(rows, "b", 100)!.rps;
  const h = find(rows, "h", 100)!.rps;
  const lines = [
    "| | scenario | req/s c=64 | × (a) | × (b) | × HTTP | p50 µs c=1 | p99 µs c=1 | CPU ms/10k client | service | nats-server |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of rowsAt(rows, 100)) {
    lines.push(
      `| ${r.scenario.id} | ${r.scenario.label} | ${fmt(r.rps)} | ${ratio(r.rps / a)} | ${ratio(r.rps / b)} | ${ratio(r.rps / h)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.cpu.client)} | ${fmt(r.cpu.service)} | ${fmt(r.cpu["nats-server"])} |`,
    );
  }
  return lines.join("\n");
}

/**
 * MB/s and CPU per GB of one size at one concurrency, beside raw NATS (`nc.request` and the lean
 * mux) and direct HTTP; the c=1 latency columns when that run had them. `note` follows the title.
 * Undefined when a, b or h was not measured there.
 */
export function bodyTable(
  rows: Row[],
  size: number,
  concurrency = CONCURRENCY,
  note = "",
): string | undefined {
  const [a, b, h] = ["a", "b", "h"].map((id) => find(rows, id, size, concurrency));
  if (!a || !b || !h) return undefined;
  const group = rowsAt(rows, size, concurrency);
  const latency = group.some((r) => Number.isFinite(r.p50));
  const lines = [
    `**${sizeLabel(size)} answers${concurrency === CONCURRENCY ? "" : ` at c=${concurrency}`}**${note}`,
    "",
    `| | scenario | req/s c=${concurrency} | MB/s | × \`nc.request\` | × lean mux | × HTTP |${latency ? " p50 µs c=1 | p99 µs c=1 |" : ""} CPU ms/10k client | service | nats-server | CPU s/GB, all | × lean mux | × HTTP |`,
    `|---|---|---:|---:|---:|---:|---:|${latency ? "---:|---:|" : ""}---:|---:|---:|---:|---:|---:|`,
  ];
  for (const r of group) {
    lines.push(
      `| ${r.scenario.id} | ${r.scenario.short} | ${fmt(r.rps)} | ${fmt(mbps(r))} | ${ratio(mbps(r) / mbps(a))} | ${ratio(mbps(r) / mbps(b))} | ${ratio(mbps(r) / mbps(h))} |${latency ? ` ${fmt(r.p50)} | ${fmt(r.p99)} |` : ""} ${fmt(r.cpu.client)} | ${fmt(r.cpu.service)} | ${fmt(r.cpu["nats-server"])} | ${cpuPerGb(r).toFixed(1)} | ${ratio(cpuPerGb(r) / cpuPerGb(b))} | ${ratio(cpuPerGb(r) / cpuPerGb(h))} |`,
    );
  }
  return lines.join("\n");
}

/** The headline rows: the JSON call (bench/lib/order.ts), one per scenario. */
const jsonRows = (rows: Row[]) => rows.filter((r) => callOf(r.scenario) === "json");

/**
 * The headline table: req/s and CPU per 10k requests at c=64, p50/p99 at c=1, each beside Moleculer,
 * the lean mux (the limit) and, for an app served through natsmesh, the same app over direct HTTP.
 */
export function headlineTable(rows: Row[]): string {
  const json = jsonRows(rows);
  const by = (id: string) => json.find((r) => r.scenario.id === id);
  const [mol, mux, nc] = [by("jm"), by("jb"), by("ja")];
  const x = (r: Row, base: Row | undefined) => (base ? ratio(r.rps / base.rps) : "–");
  const lines = [
    `POST ${sizeLabel(ORDER_BYTES)} JSON (8 records), the handler parses it and answers a small JSON object; the client serialises the order and parses the answer on every call.`,
    "",
    "| | scenario | req/s c=64 | × Moleculer | × lean mux | × same app over direct HTTP | p50 µs c=1 | p50 × `nc.request` | p99 µs c=1 | CPU ms/10k client | service | nats-server | all |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of json) {
    const direct = r.scenario.sameAppDirect ? by(r.scenario.sameAppDirect) : undefined;
    lines.push(
      `| ${r.scenario.id} | ${r.scenario.label} | ${fmt(r.rps)} | ${x(r, mol)} | ${x(r, mux)} | ${direct ? x(r, direct) : ""} | ${fmt(r.p50)} | ${nc ? ratio(r.p50 / nc.p50) : "–"} | ${fmt(r.p99)} | ${fmt(r.cpu.client)} | ${fmt(r.cpu.service)} | ${fmt(r.cpu["nats-server"])} | ${fmt(totalCpu(r))} |`,
    );
  }
  return lines.join("\n");
}

/** A number a bench/gateway.ts head line states as `<name> = <n>`. */
function stated(text: string | undefined, name: string): number | undefined {
  if (!text) return undefined;
  const m = new RegExp(`${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} = ([\\d.]+)`).exec(text);
  return m ? Number(m[1]) : undefined;
}

/**
 * The targets of issue #19 for one Node version's run, each as measured, target, met or by how
 * much missed; a target whose scenarios did not run is left out. `gateway` is bench/gateway.ts's
 * output of the same run.
 */
export function targetsTable(rows: Row[], gateway: string | undefined): string {
  const json = jsonRows(rows);
  const at = (id: string) => json.find((r) => r.scenario.id === id);
  const lines = ["| target (issue #19) | measured | target | met |", "|---|---:|---:|---|"];
  const target = (name: string, value: number | undefined, goal: number, atMost = false) => {
    if (value === undefined || !Number.isFinite(value)) return;
    const met = atMost ? value <= goal : value >= goal;
    const off = atMost ? (value / goal - 1) * 100 : (1 - value / goal) * 100;
    // A miss that rounds to the target itself is shown with the digits that tell it apart.
    const shown = !met && ratio(value) === ratio(goal) ? value.toFixed(3) : ratio(value);
    const miss = `${off.toFixed(off < 1 ? 1 : 0)}% ${atMost ? "above" : "below"}`;
    lines.push(
      `| ${name} | ${shown} | ${atMost ? "≤" : "≥"} ${ratio(goal)} | ${met ? "yes" : `no, ${miss}`} |`,
    );
  };
  const rps = (a: string, b: string) => {
    const [x, y] = [at(a), at(b)];
    return x && y ? x.rps / y.rps : undefined;
  };
  target("JSON call: Fetch handler (jc) ÷ Moleculer (jm), req/s", rps("jc", "jm"), 1);
  target("JSON call: Fetch handler (jc) ÷ lean mux (jb), req/s", rps("jc", "jb"), 0.5);
  target("JSON call: Hono app (jo) ÷ Moleculer (jm), req/s", rps("jo", "jm"), 1);
  target("JSON call: node:http listener (jn) ÷ Moleculer (jm), req/s", rps("jn", "jm"), 1);
  target(
    "JSON call: express over natsmesh (je) ÷ the same app over direct HTTP (jhe), req/s",
    rps("je", "jhe"),
    0.8,
  );
  target(
    "JSON call: fastify over natsmesh (jf) ÷ the same app over direct HTTP (jhf), req/s",
    rps("jf", "jhf"),
    0.8,
  );
  const [jc, ja] = [at("jc"), at("ja")];
  target(
    "JSON call: Fetch handler p50 at c=1 ÷ raw `nc.request` (ja)",
    jc && ja ? jc.p50 / ja.p50 : undefined,
    1.3,
    true,
  );
  const [c64, a64] = [find(rows, "c", 65536, 8), find(rows, "a", 65536, 8)];
  target(
    "64 KB answers at c=8: Fetch handler (c) ÷ raw `nc.request` (a), MB/s",
    c64 && a64 ? c64.rps / a64.rps : undefined,
    0.8,
  );
  const n64 = find(rows, "c2", 65536, 8);
  target(
    "64 KB answers at c=8: node:http listener (c2) ÷ raw `nc.request` (a), MB/s",
    n64 && a64 ? n64.rps / a64.rps : undefined,
    0.8,
  );
  target(
    "gateway ÷ bare front door (bench/wire/lean-gateway.ts), req/s",
    stated(gateway, "gateway ÷ bare front door"),
    0.8,
  );
  target(
    "gateway's CPU per request ÷ Caddy's, all serving processes",
    stated(gateway, "CPU per request ÷ Caddy's"),
    0.7,
    true,
  );
  return lines.join("\n");
}
