/**
 * Makes sure dist/ (what `bin/natsmesh` and `import("natsmesh")` load) is built from the current
 * sources. Run once from the vitest globalSetup, before test files run in parallel.
 */
import { execFile } from "node:child_process";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "./nats-server.js";

const MARKER = join(REPO_ROOT, "dist", "index.js");
const TSC = join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, (await stat(join(entry.parentPath, entry.name))).mtimeMs);
  }
  return newest;
}

/** Builds dist/ when it is missing or older than a file in src/. */
export async function ensureBuilt(): Promise<void> {
  const built = (await stat(MARKER).catch(() => undefined))?.mtimeMs ?? 0;
  if (built >= (await newestMtime(join(REPO_ROOT, "src")))) return;
  await promisify(execFile)(process.execPath, [TSC, "-p", "tsconfig.build.json"], { cwd: REPO_ROOT });
}
