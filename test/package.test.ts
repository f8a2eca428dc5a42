import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { packFindings, SHIPPED_DOCS } from "./package/pack-files.js";
import { quickStart } from "./package/readme.js";
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

describe("package - the tarball's rules (the package check applies them to `npm pack`)", () => {
  const pkg = {
    bin: { natsmesh: "bin/natsmesh" },
    exports: {
      ".": { types: "./dist/index.d.ts", default: "./dist/index.js" },
      "./package.json": "./package.json",
    },
  };
  const right = [
    "package.json",
    ...SHIPPED_DOCS,
    "bin/natsmesh",
    "dist/index.js",
    "dist/index.d.ts",
    "dist/client/fetch.js",
    "dist/client/fetch.d.ts",
    "dist/cli/main.js",
  ];

  it("package - the built modules, the bin and the documents pass", () => {
    expect(packFindings(right, ["index", "client/fetch", "cli/main"], pkg)).toEqual([]);
  });

  it("package - the files of assets/ are shipped, and each of them must be", () => {
    const assets = ["assets/dashboard/app.js", "assets/dashboard/index.html"];
    expect(packFindings([...right, ...assets], ["index", "client/fetch", "cli/main"], pkg, assets)).toEqual(
      [],
    );
    expect(packFindings([...right, assets[0]!], ["index", "client/fetch", "cli/main"], pkg, assets)).toEqual([
      "assets/dashboard/index.html: missing (package.json or the docs name it)",
    ]);
    expect(packFindings([...right, ...assets], ["index", "client/fetch", "cli/main"], pkg)).toEqual([
      'assets/dashboard/app.js: not something users need (package.json "files")',
      'assets/dashboard/index.html: not something users need (package.json "files")',
    ]);
  });

  it("package - maps, stale builds, the CLI's types, tests and missing files are findings", () => {
    const packed = [
      ...right.filter((f) => f !== "dist/client/fetch.d.ts" && f !== "LICENSE"),
      "dist/index.js.map",
      "dist/cli/main.d.ts",
      "dist/gone.js",
      "test/support/helpers.ts",
    ];
    expect(packFindings(packed, ["index", "client/fetch", "cli/main"], pkg)).toEqual([
      'dist/index.js.map: not something users need (package.json "files")',
      "dist/cli/main.d.ts: the CLI's types, which nothing imports",
      "dist/gone.js: no src/gone.ts (a stale build? npm pack rebuilds dist/ from scratch)",
      'test/support/helpers.ts: not something users need (package.json "files")',
      "dist/client/fetch.d.ts: missing (src/client/fetch.ts is built)",
      "LICENSE: missing (package.json or the docs name it)",
    ]);
  });

  it("package - the quick start is README's first ts block under 'Use it'", async () => {
    const code = quickStart(await readFile(join(REPO_ROOT, "README.md"), "utf8"));
    expect(code).toMatch(/^import \{ createFetch, serve \} from "natsmesh";/);
    expect(code).toContain('await fetch("http://weather.nats/city?q=london")');
    expect(() => quickStart("# x\n## Use it\ntext\n## Next\n```ts\nx\n```\n")).toThrow(/no ```ts block/);
  });
});
