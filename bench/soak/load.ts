/**
 * Closed-loop load through the gateway: `loops` loops, each sending one request after another, the
 * kind drawn from the mix. Every answer is classified (HTTP status + `mesh-error` code, or the
 * client error's code) per kind, and successes are counted in 100 ms buckets for the throughput
 * timeline.
 */
import { Pool } from "undici";
import type { Mix } from "./options.js";

/** The request kinds. GET and keyed POST are idempotent (retried by the gateway); unkeyed is not. */
export type RequestKind = "get" | "keyed" | "unkeyed";

/** Width of a timeline bucket in ms. */
export const BUCKET_MS = 100;

/** A failed request, with when it ended. */
export interface FailureSample {
  kind: RequestKind;
  class: string;
  atMs: number;
}

/** What the load saw. */
export interface LoadTally {
  /** Requests sent, per kind. */
  sent: Record<RequestKind, number>;
  /** Answers and errors per kind and class (`200`, `503 NM_ERR_INSTANCE_LOST`, `error ECONNRESET`). */
  classes: Record<RequestKind, Record<string, number>>;
  /** Failures per kind. */
  failed: Record<RequestKind, number>;
  /** Successful answers per {@link BUCKET_MS} bucket since the start. */
  timeline: number[];
  /** The same per kind (absent in reports of older runs). */
  timelines?: Record<RequestKind, number[]>;
  /** The first 10,000 failures. */
  failureSamples: FailureSample[];
}

/** A running load. */
export interface SoakLoad {
  readonly tally: LoadTally;
  /** Stops the loops and waits for the requests in flight. */
  stop(): Promise<LoadTally>;
}

const OK_STATUS: Record<RequestKind, number> = { get: 200, keyed: 201, unkeyed: 201 };

/**
 * The kind each of `loops` loops sends when loops keep to one kind: split by the mix's shares
 * (largest remainders), at least one loop for each kind with a share.
 */
export function kindsOfLoops(loops: number, mix: Mix): RequestKind[] {
  const kinds = (["get", "keyed", "unkeyed"] as const).filter((k) => mix[k] > 0);
  if (loops < kinds.length) throw new RangeError(`--loops-by-kind needs ${kinds.length} loops at least`);
  const total = kinds.reduce((sum, k) => sum + mix[k], 0);
  const exact = kinds.map((k) => ({
    k,
    n: Math.max(1, Math.floor((loops * mix[k]) / total)),
    r: (loops * mix[k]) / total,
  }));
  let left = loops - exact.reduce((sum, e) => sum + e.n, 0);
  for (const e of [...exact].sort((a, b) => (b.r % 1) - (a.r % 1))) {
    if (left <= 0) break;
    e.n++;
    left--;
  }
  while (left < 0) {
    const biggest = exact.reduce((a, b) => (b.n > a.n ? b : a));
    biggest.n--;
    left++;
  }
  return exact.flatMap((e) => Array.from({ length: e.n }, () => e.k));
}

function pick(mix: Mix): RequestKind {
  const r = Math.random() * (mix.get + mix.keyed + mix.unkeyed);
  if (r < mix.get) return "get";
  return r < mix.get + mix.keyed ? "keyed" : "unkeyed";
}

/**
 * Starts the load against the gateway at `url`.
 *
 * @param clock - milliseconds since the run's start (the timeline's origin)
 * @param byKind - each loop sends one kind only ({@link kindsOfLoops}), instead of drawing each request's
 */
export function startLoad(
  url: string,
  loops: number,
  mix: Mix,
  clock: () => number,
  byKind = false,
): SoakLoad {
  const fixed = byKind ? kindsOfLoops(loops, mix) : undefined;
  const pool = new Pool(url, { connections: loops, headersTimeout: 120_000, bodyTimeout: 120_000 });
  const zero = () => ({ get: 0, keyed: 0, unkeyed: 0 });
  const tally: LoadTally = {
    sent: zero(),
    classes: { get: {}, keyed: {}, unkeyed: {} },
    failed: zero(),
    timeline: [],
    timelines: { get: [], keyed: [], unkeyed: [] },
    failureSamples: [],
  };
  const count = (kind: RequestKind, cls: string, ok: boolean) => {
    const at = Math.max(0, clock());
    tally.classes[kind][cls] = (tally.classes[kind][cls] ?? 0) + 1;
    if (ok) {
      const b = Math.floor(at / BUCKET_MS);
      while (tally.timeline.length <= b) tally.timeline.push(0);
      tally.timeline[b]!++;
      const own = tally.timelines![kind];
      while (own.length <= b) own.push(0);
      own[b]!++;
      return;
    }
    tally.failed[kind]++;
    if (tally.failureSamples.length < 10_000)
      tally.failureSamples.push({ kind, class: cls, atMs: Math.round(at) });
  };
  let running = true;
  const loop = async (n: number) => {
    let seq = 0;
    while (running) {
      const kind = fixed ? fixed[n - 1]! : pick(mix);
      const id = `${n}-${++seq}`;
      tally.sent[kind]++;
      try {
        const res =
          kind === "get"
            ? await pool.request({ method: "GET", path: `/soak/item/${seq % 1000}` })
            : await pool.request({
                method: "POST",
                path: "/soak/order",
                headers: {
                  "content-type": "application/json",
                  ...(kind === "keyed" ? { "idempotency-key": `k-${id}` } : { "x-soak-id": `u-${id}` }),
                },
                body: `{"order":"${id}","qty":1}`,
              });
        await res.body.dump();
        const code = res.headers["mesh-error"];
        const cls = code ? `${res.statusCode} ${code}` : String(res.statusCode);
        count(kind, cls, res.statusCode === OK_STATUS[kind]);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        count(kind, `error ${e.code ?? e.name}`, false);
      }
    }
  };
  const running$ = Array.from({ length: loops }, (_, n) => loop(n + 1));
  return {
    tally,
    async stop() {
      running = false;
      await Promise.all(running$);
      await pool.close();
      return tally;
    },
  };
}
