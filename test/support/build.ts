/**
 * Makes sure dist/ (what `bin/natsmesh` and `import("natsmesh")` load) is built from the current
 * sources. Only the tests that load dist/ call it (in their `beforeAll`, with {@link BUILD_TIMEOUT_MS}),
 * so a file that does not need dist/ runs without a build. Test files run in parallel processes: a
 * lock file lets one of them build while the others wait for it.
 */
import { execFile } from "node:child_process";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { check, isAlive, REPO_ROOT } from "./nats-server.js";

const MARKER = join(REPO_ROOT, "dist", "index.js");
const TSC = join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");
/** Held (it holds the builder's pid) while a test process builds dist/. */
const LOCK = join(REPO_ROOT, ".tmp", "build.lock");

/** Time a `beforeAll` that calls {@link ensureBuilt} may take: a build, or waiting for another one. */
export const BUILD_TIMEOUT_MS = 120_000;

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, (await stat(join(entry.parentPath, entry.name))).mtimeMs);
  }
  return newest;
}

async function isFresh(): Promise<boolean> {
  const built = (await stat(MARKER).catch(() => undefined))?.mtimeMs ?? 0;
  return built >= (await newestMtime(join(REPO_ROOT, "src")));
}

/** Takes the lock; false when another live process holds it (a lock left by a dead one is removed). */
async function tryLock(): Promise<boolean> {
  try {
    await writeFile(LOCK, String(process.pid), { flag: "wx" });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  const owner = Number(await readFile(LOCK, "utf8").catch(() => ""));
  // An empty file is a lock being written: its owner is alive.
  if (owner > 0 && !isAlive(owner)) await rm(LOCK, { force: true });
  return false;
}

/** Builds dist/ when it is missing or older than a file in src/, or waits for the process that does. */
export async function ensureBuilt(): Promise<void> {
  await mkdir(join(REPO_ROOT, ".tmp"), { recursive: true });
  await check(tryLock, BUILD_TIMEOUT_MS, { name: "dist/ build lock", interval: 100 });
  try {
    if (await isFresh()) return;
    await promisify(execFile)(process.execPath, [TSC, "-p", "tsconfig.build.json"], { cwd: REPO_ROOT });
  } finally {
    await rm(LOCK, { force: true });
  }
}
