/**
 * Duplicate executions: the instances' execution logs (`K <key> <ms>` / `U <id> <ms>` lines, one per
 * POST executed, written before the answer, with the wall-clock time) read together; a request key
 * found more than once ran more than once, on one instance or several.
 */
import { readFileSync } from "node:fs";

/** Executions of one kind of POST. */
export interface Executions {
  /** Lines, i.e. executions. */
  executions: number;
  /** Distinct request keys executed. */
  keys: number;
  /** Keys executed more than once. */
  duplicateKeys: number;
  /** Executions beyond the first of each key. */
  extraExecutions: number;
  /** Up to 20 of the duplicated keys, with their counts. */
  examples: Array<{ key: string; times: number }>;
  /** Wall-clock ms (`Date.now()`) of every execution beyond the first of a key, ascending. */
  repeatsAt: number[];
}

interface Seen {
  times: number;
  at: number[];
}

function summarize(counts: Map<string, Seen>): Executions {
  let executions = 0;
  let duplicateKeys = 0;
  const examples: Array<{ key: string; times: number }> = [];
  const repeatsAt: number[] = [];
  for (const [key, { times, at }] of counts) {
    executions += times;
    if (times < 2) continue;
    duplicateKeys++;
    if (examples.length < 20) examples.push({ key, times });
    repeatsAt.push(...at.sort((a, b) => a - b).slice(1));
  }
  repeatsAt.sort((a, b) => a - b);
  return {
    executions,
    keys: counts.size,
    duplicateKeys,
    extraExecutions: executions - counts.size,
    examples,
    repeatsAt,
  };
}

/** Counts the executions of keyed (`K`) and unkeyed (`U`) POSTs in `files` (missing files are empty). */
export function countExecutions(files: string[]): { keyed: Executions; unkeyed: Executions } {
  const keyed = new Map<string, Seen>();
  const unkeyed = new Map<string, Seen>();
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n")) {
      const map = line.startsWith("K ") ? keyed : line.startsWith("U ") ? unkeyed : undefined;
      if (!map) continue;
      const [key = "", at = "0"] = line.slice(2).split(" ");
      const seen = map.get(key) ?? { times: 0, at: [] };
      if (seen.times === 0) map.set(key, seen);
      seen.times++;
      seen.at.push(Number(at));
    }
  }
  return { keyed: summarize(keyed), unkeyed: summarize(unkeyed) };
}
