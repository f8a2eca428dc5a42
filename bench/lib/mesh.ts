import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type * as Mesh from "../../src/index.js";

/** Where run.ts and profile.ts compile natsmesh for the bench's processes. */
export const BUILD_DIR = resolve("bench/results/dist");
const ENV = "NATSMESH_BENCH_BUILD";

/**
 * Compiles src/ with tsc (tsconfig.build.json) into {@link BUILD_DIR} and points this process's
 * children at it, so every bench process runs what users run: tsc's JavaScript, not the
 * TypeScript sources through tsx (whose esbuild `keepNames` wraps every closure in a `__name`
 * call, a cost the published dist/ does not have; in the profile it was 5–12% of the client).
 * A type error elsewhere in the tree does not stop the build: tsc emits anyway.
 *
 * @throws Error when tsc emitted nothing.
 */
export function buildMesh(): void {
  rmSync(BUILD_DIR, { recursive: true, force: true });
  process.stderr.write(`bench: compiling src/ with tsc into ${BUILD_DIR} ...\n`);
  const tsc = resolve("node_modules/typescript/bin/tsc");
  const r = spawnSync(
    process.execPath,
    [
      tsc,
      "-p",
      "tsconfig.build.json",
      "--outDir",
      BUILD_DIR,
      "--declaration",
      "false",
      "--sourceMap",
      "false",
    ],
    { encoding: "utf8" },
  );
  if (!existsSync(join(BUILD_DIR, "index.js")))
    throw new Error(`tsc emitted nothing into ${BUILD_DIR}:\n${r.stdout}${r.stderr}`);
  if (r.status !== 0)
    process.stderr.write("bench: tsc reported type errors (in work in progress); it emitted anyway\n");
  process.env[ENV] = BUILD_DIR;
}

/** natsmesh as this bench process runs it: the tsc build when run.ts made one, else src/ through tsx. */
export async function loadMesh(): Promise<typeof Mesh> {
  const dir = process.env[ENV];
  const href = dir
    ? pathToFileURL(join(dir, "index.js")).href
    : new URL("../../src/index.js", import.meta.url).href;
  return (await import(href)) as typeof Mesh;
}

/** `compiled (tsc)` or `TypeScript sources (tsx)`, for the tables' head lines. */
export function meshBuildLabel(): string {
  return process.env[ENV] ? "natsmesh compiled by tsc" : "natsmesh from src/ through tsx";
}
