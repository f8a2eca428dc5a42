/**
 * Duplicate executions: the instances' execution logs (`K <key>` / `U <id>` lines, one per POST
 * executed, written before the answer) read together; a request key found more than once ran more
 * than once, on one instance or several.
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
}

function summarize(counts: Map<string, number>): Executions {
  let executions = 0;
  let duplicateKeys = 0;
  const examples: Array<{ key: string; times: number }> = [];
  for (const [key, times] of counts) {
    executions += times;
    if (times < 2) continue;
    duplicateKeys++;
    if (examples.length < 20) examples.push({ key, times });
  }
  return {
    executions,
    keys: counts.size,
    duplicateKeys,
    extraExecutions: executions - counts.size,
    examples,
  };
}

/** Counts the executions of keyed (`K`) and unkeyed (`U`) POSTs in `files` (missing files are empty). */
export function countExecutions(files: string[]): { keyed: Executions; unkeyed: Executions } {
  const keyed = new Map<string, number>();
  const unkeyed = new Map<string, number>();
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
      const key = line.slice(2);
      map.set(key, (map.get(key) ?? 0) + 1);
    }
  }
  return { keyed: summarize(keyed), unkeyed: summarize(unkeyed) };
}
