import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { BUILD_TIMEOUT_MS, ensureBuilt } from "./support/build.js";
import { REPO_ROOT } from "./support/nats-server.js";

describe("package - what a user imports", () => {
  beforeAll(() => ensureBuilt(), BUILD_TIMEOUT_MS);

  it("package - import('natsmesh') and its subpaths resolve from the repo root to the built dist", async () => {
    const script = `
      const m = await import("natsmesh");
      const subs = await Promise.all(["gateway", "traffic", "discovery", "metrics", "log", "dev", "internal"].map((s) => import("natsmesh/" + s)));
      console.log(JSON.stringify({
        main: ["createFetch", "serve", "connect", "MeshDispatcher", "MeshError"].map((k) => typeof m[k]),
        subs: subs.map((s) => Object.keys(s).length > 0),
        url: import.meta.resolve("natsmesh"),
      }));`;
    const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], {
      cwd: REPO_ROOT,
    });
    const out = JSON.parse(stdout) as { main: string[]; subs: boolean[]; url: string };
    expect(out.main).toEqual(["function", "function", "function", "function", "function"]);
    expect(out.subs).toEqual([true, true, true, true, true, true, true]);
    expect(out.url).toMatch(/\/dist\/index\.js$/);
  });
});
