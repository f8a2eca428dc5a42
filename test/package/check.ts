/**
 * The package as users get it (`npm run check:package`, the last step of `npm test`).
 *
 * Packs natsmesh with `npm pack` (which rebuilds dist/ from scratch), checks the tarball's file list,
 * lints it with publint and are-the-types-wrong, installs it into a fresh project in a temporary
 * directory with that project's own `npm install` (no link to this checkout), and there:
 * type-checks the README's quick start and an import of every entry point with tsc, under
 * `nodenext` and `bundler` resolution, with the package's declarations checked too
 * (`skipLibCheck: false`); runs the quick start as plain JavaScript and as tsc's output against a
 * nats-server of its own on a free port; compares each installed entry point's run-time exports with
 * src/; serves the README's app and calls it with `npx natsmesh request` and through
 * `npx natsmesh gateway`. Exit status 1 on any finding, with what failed.
 *
 * NATSMESH_PACKAGE_KEEP=1 keeps the temporary directory for a look.
 */
import { existsSync } from "node:fs";
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { NatsServer, REPO_ROOT } from "../support/nats-server.js";
import { packFindings } from "./pack-files.js";
import { Background, run } from "./processes.js";
import { quickStart } from "./readme.js";

interface PackageJson {
  version: string;
  bin: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
  devDependencies: Record<string, string>;
}

const TSC = join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");
const FIXTURE = join(REPO_ROOT, "test", "package", "fixture");
const started = performance.now();

function elapsed(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}

async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const at = performance.now();
  const result = await fn();
  console.log(`package: ${name} (${elapsed(at)})`);
  return result;
}

function fail(message: string): never {
  throw new Error(message);
}

/** The subpath an `exports` key names, as users import it: "." → "natsmesh", "./log" → "natsmesh/log". */
function specifier(key: string): string {
  return key === "." ? "natsmesh" : `natsmesh/${key.slice(2)}`;
}

/**
 * The code entry points (every `exports` key with a JavaScript target) and the src/ module the key
 * names (`./gateway` → src/gateway/index.ts or src/gateway.ts), found from the key, not the target,
 * so that a target pointing at the wrong file shows.
 */
function entryPoints(pkg: PackageJson): Array<{ specifier: string; source: string }> {
  return Object.entries(pkg.exports).flatMap(([key, target]) => {
    const js = typeof target === "string" ? target : target.default;
    if (!js?.endsWith(".js")) return [];
    const name = key === "." ? "index" : key.slice(2);
    const dir = join(REPO_ROOT, "src", name, "index.ts");
    return [
      { specifier: specifier(key), source: existsSync(dir) ? dir : join(REPO_ROOT, "src", `${name}.ts`) },
    ];
  });
}

async function sourceModules(): Promise<string[]> {
  const entries = await readdir(join(REPO_ROOT, "src"), { recursive: true });
  return entries.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")).map((f) => f.replace(/\.ts$/, ""));
}

/** The files of assets/ (the dashboard's page), as paths from the repository root. */
async function assetFiles(): Promise<string[]> {
  const entries = await readdir(join(REPO_ROOT, "assets"), { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(REPO_ROOT, join(e.parentPath, e.name)))
    .sort();
}

/** The environment of natsmesh's processes: no NATS_* of the caller, a HOME without natscli contexts. */
function meshEnv(home: string, natsUrl: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("NATS_")));
  // `npm test` puts this checkout's node_modules/.bin first: npx must find the installed bin instead.
  const path = (env.PATH ?? "").split(delimiter).filter((p) => !p.includes("node_modules"));
  return {
    ...env,
    PATH: path.join(delimiter),
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    NATS_URL: natsUrl,
  };
}

function tsconfig(compilerOptions: Record<string, unknown>, files: string[]): string {
  const base = { strict: true, target: "ES2022", skipLibCheck: false, types: ["node"], lib: ["ES2023"] };
  return JSON.stringify({ compilerOptions: { ...base, ...compilerOptions }, files }, null, 2);
}

/** Checks the quick start's line: `200 <instance> { city: 'london' }`. */
function expectQuickStart(stdout: string, how: string): void {
  if (!/^200 \S+ \{ city: 'london' \}$/m.test(stdout)) fail(`the quick start (${how}) printed:\n${stdout}`);
}

async function main(): Promise<void> {
  const pkg = JSON.parse(await readFile(join(REPO_ROOT, "package.json"), "utf8")) as PackageJson;
  const work = await mkdtemp(join(tmpdir(), "natsmesh-package-"));
  const app = join(work, "app");
  const home = join(work, "home");
  const running: Background[] = [];
  /** Steps that run beside others; settled before the directory goes. */
  const pending: Promise<unknown>[] = [];
  let server: NatsServer | undefined;
  try {
    const tarball = await step("npm pack", async () => {
      const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", work], {
        cwd: REPO_ROOT,
        env: process.env,
        timeout: 120_000,
      });
      const [info] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
      const findings = packFindings(
        info!.files.map((f) => f.path),
        await sourceModules(),
        pkg,
        await assetFiles(),
      );
      if (findings.length > 0) fail(`the tarball's files:\n  ${findings.join("\n  ")}`);
      return join(work, info!.filename);
    });

    await writeFile(join(work, "package.json"), "{}\n"); // npm looks no further up from app/
    await Promise.all([mkdir(app), mkdir(home)]);
    const dev = pkg.devDependencies;
    const project = {
      name: "natsmesh-quick-start",
      private: true,
      type: "module",
      dependencies: { natsmesh: `file:${tarball}`, express: dev.express },
      devDependencies: { "@types/express": dev["@types/express"], "@types/node": dev["@types/node"] },
    };
    await writeFile(join(app, "package.json"), `${JSON.stringify(project, null, 2)}\n`);

    const lint = step("publint and attw", async () => {
      const publint = await run(process.execPath, [bin("publint"), "run", "--strict", tarball], {
        cwd: REPO_ROOT,
        env: process.env,
      });
      if (!/All good!/.test(publint.stdout)) fail(`publint:\n${publint.stdout}${publint.stderr}`);
      // .attw.json holds the profile (ESM only: node16 from ESM and bundler resolution).
      await run(process.execPath, [bin("attw"), tarball, "--no-emoji", "--no-color"], {
        cwd: REPO_ROOT,
        env: process.env,
      });
    });
    pending.push(lint.catch(() => {})); // awaited at the end
    await step("npm install (a fresh project, from the registry)", () =>
      run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], {
        cwd: app,
        env: process.env,
        timeout: 120_000,
      }),
    );
    const installed = await lstat(join(app, "node_modules", "natsmesh"));
    if (!installed.isDirectory() || installed.isSymbolicLink())
      fail("node_modules/natsmesh is not an installed copy");

    const entries = entryPoints(pkg);
    const code = quickStart(await readFile(join(REPO_ROOT, "README.md"), "utf8"));
    await writeFile(join(app, "quickstart.ts"), code);
    await writeFile(join(app, "quickstart.mjs"), code);
    await writeFile(
      join(app, "entry-points.ts"),
      entries.map((e, i) => `import * as m${i} from "${e.specifier}";\n`).join("") +
        `export const modules = [${entries.map((_, i) => `m${i}`).join(", ")}];\n`,
    );
    await writeFile(join(app, "serve-weather.mjs"), await readFile(join(FIXTURE, "serve-weather.mjs")));
    const files = ["quickstart.ts", "entry-points.ts"];
    await writeFile(
      join(app, "tsconfig.json"),
      tsconfig({ module: "nodenext", moduleResolution: "nodenext", outDir: "build" }, files),
    );
    await writeFile(
      join(app, "tsconfig.bundler.json"),
      // The package's declarations are checked once, above; attw checks they resolve under bundler too.
      tsconfig({ module: "preserve", moduleResolution: "bundler", noEmit: true, skipLibCheck: true }, files),
    );

    const typecheck = step("tsc: nodenext (built) and bundler", () =>
      Promise.all(
        ["tsconfig.json", "tsconfig.bundler.json"].map((config) =>
          run(process.execPath, [TSC, "-p", config], { cwd: app, env: process.env }),
        ),
      ),
    );
    pending.push(typecheck.catch(() => {})); // awaited before its output runs
    server = await NatsServer.start({});
    const env = meshEnv(home, server.url);

    await step("entry points: the installed exports are src/'s", async () => {
      const [got, want] = await Promise.all([
        exportNames(
          entries.map((e) => e.specifier),
          [],
          app,
          env,
        ),
        exportNames(
          entries.map((e) => pathToFileURL(e.source).href),
          ["--import", "tsx"],
          REPO_ROOT,
          env,
        ),
      ]);
      entries.forEach((e, i) => {
        if (JSON.stringify(got[i]) !== JSON.stringify(want[i]))
          fail(
            `${e.specifier}: installed exports ${JSON.stringify(got[i])}, src/ has ${JSON.stringify(want[i])}`,
          );
      });
    });
    await step("quick start in JavaScript", async () => {
      expectQuickStart(
        (await run(process.execPath, ["quickstart.mjs"], { cwd: app, env })).stdout,
        "JavaScript",
      );
    });
    await typecheck;
    await step("quick start in TypeScript (tsc's output)", async () => {
      expectQuickStart(
        (await run(process.execPath, ["build/quickstart.js"], { cwd: app, env })).stdout,
        "TypeScript",
      );
    });

    const service = new Background(process.execPath, ["serve-weather.mjs"], { cwd: app, env });
    running.push(service);
    const [, instance] = await service.waitFor(/^ready (\S+)$/m);

    await step("npx natsmesh request", async () => {
      const { stdout } = await run(
        "npx",
        ["--no-install", "natsmesh", "request", "-i", "http://weather/city?q=london"],
        {
          cwd: app,
          env,
        },
      );
      if (!/^HTTP\/1\.1 200\b/m.test(stdout) || !stdout.includes(`mesh-instance: ${instance}`))
        fail(`npx natsmesh request printed:\n${stdout}`);
      if (!stdout.trimEnd().endsWith('{"city":"london"}')) fail(`npx natsmesh request's body:\n${stdout}`);
    });

    await step("npx natsmesh gateway", async () => {
      const gateway = new Background(
        "npx",
        ["--no-install", "natsmesh", "gateway", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
        { cwd: app, env },
      );
      running.push(gateway);
      const [, url, admin] = await gateway.waitFor(
        /gateway listening on (http:\/\/\S+) \(admin (http:\/\/\S+)\)/,
      );
      const ready = await fetch(`${admin}/readyz`);
      if (ready.status !== 200) fail(`the gateway's ${admin}/readyz: ${ready.status} ${await ready.text()}`);
      // The default rule: /<service>/<rest>.
      const res = await fetch(`${url}/weather/city?q=london`);
      const body = await res.text();
      if (res.status !== 200 || body !== '{"city":"london"}' || res.headers.get("mesh-instance") !== instance)
        fail(`GET ${url}/weather/city?q=london through the gateway: ${res.status} ${body}`);
      // npx ends by the SIGTERM it passes on; stop() waits for the gateway's own exit.
      await gateway.stop();
      if (!gateway.output.includes("natsmesh: gateway stopped"))
        fail(`the gateway did not close on SIGTERM:\n${gateway.output}`);
    });
    const serviceExit = await service.stop();
    if (serviceExit !== 0 || !service.output.includes("stopped"))
      fail(`serve-weather.mjs on SIGTERM: ${serviceExit}`);
    await lint;
    console.log(`package: all checks passed (${elapsed(started)} in all)`);
  } finally {
    await Promise.all(running.map((p) => p.stop("SIGKILL").catch(() => {})));
    await Promise.allSettled(pending);
    await server?.stop();
    if (process.env.NATSMESH_PACKAGE_KEEP === "1") console.log(`package: kept ${work}`);
    else await rm(work, { recursive: true, force: true });
  }
}

/** The sorted run-time export names of each module, read in a child process (importing starts no timers here). */
async function exportNames(
  specifiers: string[],
  flags: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<string[][]> {
  const script = `const out = []; for (const s of ${JSON.stringify(specifiers)}) out.push(Object.keys(await import(s)).sort()); process.stdout.write(JSON.stringify(out), () => process.exit(0));`;
  const { stdout } = await run(process.execPath, [...flags, "--input-type=module", "-e", script], {
    cwd,
    env,
  });
  return JSON.parse(stdout) as string[][];
}

function bin(name: "publint" | "attw"): string {
  const paths = { publint: "publint/src/cli.js", attw: "@arethetypeswrong/cli/dist/index.js" };
  return join(REPO_ROOT, "node_modules", paths[name]);
}

main().catch((err: unknown) => {
  console.error(
    `package: FAILED after ${elapsed(started)}: ${err instanceof Error ? err.message : String(err)}`,
  );
  process.exitCode = 1;
});
