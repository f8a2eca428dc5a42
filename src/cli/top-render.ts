/**
 * `natsmesh top`'s screen: the picture as a table, one line per service and one per instance below
 * it, sorted. Pure.
 *
 * @module
 */
import type { MeshView, ServiceView } from "../insight/view.js";

/** The orders `natsmesh top` sorts services in (`s` cycles through them). */
export const TOP_SORTS = ["name", "rate", "errors", "p99", "saturation", "instances"] as const;
/** One of {@link TOP_SORTS}. */
export type TopSort = (typeof TOP_SORTS)[number];

const KEYS: Record<TopSort, (s: ServiceView) => number | string> = {
  name: (s) => s.service,
  rate: (s) => s.rate,
  errors: (s) => (s.rate > 0 ? s.errorRate / s.rate : 0),
  p99: (s) => s.p99 ?? -1,
  saturation: (s) => s.saturation,
  instances: (s) => s.instances.length,
};

/**
 * The services in the order asked: by name ascending, by any figure descending (busiest first).
 *
 * @param services - the services
 * @param sort - the order
 * @returns a sorted copy
 */
export function sortServices(services: readonly ServiceView[], sort: TopSort): ServiceView[] {
  const key = KEYS[sort];
  return [...services].sort((a, b) => {
    const x = key(a);
    const y = key(b);
    if (typeof x === "string" && typeof y === "string") return x.localeCompare(y);
    return (y as number) - (x as number) || a.service.localeCompare(b.service);
  });
}

const ms = (s: number | null) => (s === null ? "-" : `${(s * 1000).toFixed(s < 0.01 ? 2 : 1)}ms`);
const pct = (x: number) => `${(x * 100).toFixed(x < 0.1 && x > 0 ? 1 : 0)}%`;
const rate = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x >= 10 ? x.toFixed(0) : x.toFixed(1));
const load = (x: number) => (x < 10 && x % 1 !== 0 ? x.toFixed(1) : x.toFixed(0));

/** A server name that is a 56-character server id, shortened. */
const short = (name: string) => (name.length > 20 ? `${name.slice(0, 12)}…` : name);

function uptime(s: number): string {
  if (s < 60) return `${Math.floor(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** Lays rows out in columns: text left-aligned in the first `left` columns, numbers right-aligned. */
function columns(rows: string[][], left: number): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) widths[i] = Math.max(widths[i] ?? 0, row[i]!.length);
  }
  return rows.map((row) =>
    row
      .map((c, i) => (i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join("  ")
      .trimEnd(),
  );
}

/**
 * The screen of `natsmesh top`.
 *
 * @param view - the picture
 * @param sort - the order of the services
 * @returns the lines (no trailing newline)
 * @example
 * ```ts
 * console.log(renderTop(insight.view(), "rate").join("\n"));
 * ```
 */
export function renderTop(view: MeshView, sort: TopSort): string[] {
  const instances = view.services.reduce((n, s) => n + s.instances.length, 0);
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const head = `natsmesh top — ${plural(view.services.length, "service")}, ${plural(instances, "instance")}, window ${view.window}s, target ${pct(view.target)}, sorted by ${sort}  (s: sort, r: reverse, q: quit)`;
  if (view.services.length === 0)
    return [
      head,
      "",
      "No service is reporting (instances publish on $NM.REPORT.<service>.<instance> each second).",
    ];
  const rows: string[][] = [
    [
      "SERVICE/INSTANCE",
      "VERSION",
      "SERVER",
      "REQ/S",
      "ERR",
      "NORESP/S",
      "P50",
      "P99",
      "IN-FLIGHT",
      "SAT",
      "NEED",
      "UP",
    ],
  ];
  for (const s of sortServices(view.services, sort)) {
    rows.push([
      s.service,
      s.versions.join(","),
      `${s.instances.length} inst`,
      rate(s.rate),
      pct(s.rate > 0 ? s.errorRate / s.rate : 0),
      s.noResponderRate > 0 ? rate(s.noResponderRate) : "",
      ms(s.p50),
      ms(s.p99),
      `${load(s.inFlight)}/${s.limit}`,
      pct(s.saturation),
      String(s.needed),
      "",
    ]);
    for (const i of s.instances) {
      rows.push([
        `  ${i.id}${i.out ? " (out)" : ""}`,
        i.version,
        i.cluster ? `${short(i.server)}@${i.cluster}` : short(i.server),
        rate(i.rate),
        pct(i.rate > 0 ? i.errorRate / i.rate : 0),
        "",
        ms(i.p50),
        ms(i.p99),
        `${load(i.inFlight)}/${i.limit}`,
        pct(i.saturation),
        "",
        uptime(i.uptime),
      ]);
    }
  }
  return [head, "", ...columns(rows, 3)];
}
