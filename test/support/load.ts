/** A steady load of requests for failover tests: a few loops, each sending one request after another. */
import type { MeshFetch } from "../../src/index.js";
import { check } from "./nats-server.js";

/** What a {@link steadyLoad} saw. */
export interface LoadResult {
  /** Answers with status 200. */
  ok: number;
  /** Other answers and errors, described (`status 503`, `NoRespondersError: ...`). */
  failures: string[];
  /** 200 answers counted by the value of the tallied header (`mesh-cluster`, `mesh-instance`...). */
  by: Map<string, number>;
  /** Longest time between two successful answers, in milliseconds. */
  maxGapMs: number;
}

/** A running load; `stop()` waits for the requests in flight and returns the counts. */
export interface SteadyLoad {
  /** Counts so far (live). */
  readonly result: LoadResult;
  /** Resolves once `n` more successful answers came after the call; throws after `timeoutMs`. */
  successes(n: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<LoadResult>;
}

/**
 * Runs `concurrency` loops of `fetch(url)` until stopped, tallying 200 answers by `header`.
 *
 * @example
 * ```ts
 * const load = steadyLoad(fetch, "http://svc/whoami", { header: "mesh-server" });
 * await load.successes(50);
 * const { failures } = await load.stop();
 * ```
 */
export function steadyLoad(
  fetch: MeshFetch,
  url: string,
  { concurrency = 4, header = "mesh-instance" }: { concurrency?: number; header?: string } = {},
): SteadyLoad {
  const result: LoadResult = { ok: 0, failures: [], by: new Map(), maxGapMs: 0 };
  let running = true;
  let lastOk = performance.now();
  const loop = async () => {
    while (running) {
      try {
        const res = await fetch(url);
        const body = await res.text();
        if (res.status !== 200) {
          result.failures.push(`status ${res.status}: ${body.slice(0, 100)}`);
          continue;
        }
        const now = performance.now();
        result.maxGapMs = Math.max(result.maxGapMs, now - lastOk);
        lastOk = now;
        result.ok++;
        const key = res.headers.get(header) ?? "";
        result.by.set(key, (result.by.get(key) ?? 0) + 1);
      } catch (err) {
        result.failures.push(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  return {
    result,
    async successes(n, timeoutMs = 5000) {
      const at = result.ok + n;
      await check(() => result.ok >= at, timeoutMs, { name: `${n} more successful answers`, interval: 5 });
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      return result;
    },
  };
}

/** What {@link answersByBody} saw. */
export interface AnswersByBody {
  /** 200 answers counted by their body (an instance's label, for `/whoami`). */
  by: Map<string, number>;
  /** Other answers (`<status> <body>`) and errors, described. */
  failures: string[];
}

/**
 * Makes `n` calls, 6 at a time, and counts the 200 answers by body.
 *
 * @param call - one call, answering its status and body text
 * @example
 * ```ts
 * const { by, failures } = await answersByBody(30, async () => {
 *   const res = await fetch("http://svc/whoami");
 *   return { status: res.status, text: await res.text() };
 * });
 * ```
 */
export async function answersByBody(
  n: number,
  call: () => Promise<{ status: number; text: string }>,
): Promise<AnswersByBody> {
  const by = new Map<string, number>();
  const failures: string[] = [];
  let left = n;
  await Promise.all(
    Array.from({ length: 6 }, async () => {
      while (left-- > 0) {
        try {
          const { status, text } = await call();
          if (status === 200) by.set(text, (by.get(text) ?? 0) + 1);
          else failures.push(`${status} ${text}`);
        } catch (err) {
          failures.push(String(err));
        }
      }
    }),
  );
  return { by, failures };
}
