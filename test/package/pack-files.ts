/**
 * What the published tarball may and must hold: the built modules of src/ (JavaScript and
 * declarations, no source maps), the bin, the documents a user reads offline, the files of assets/
 * (the dashboard's page, served at run time), package.json. Anything
 * else (tests, benchmarks, examples, a stale dist/ file whose source is gone) is a finding, and so
 * is a built module, an export target or the bin that is missing.
 */

/** The top-level documents shipped besides dist/ and bin/ (npm adds README and LICENSE itself). */
export const SHIPPED_DOCS = ["README.md", "LICENSE", "CHANGELOG.md", "PROTOCOL.md"] as const;

/** Modules only the bin runs (src/cli): no entry point imports them, so their declarations stay out. */
export const BIN_ONLY = "cli/";

/** The parts of package.json the rules read. */
export interface PackageShape {
  bin?: Record<string, string>;
  exports?: Record<string, string | Record<string, string>>;
}

const BUILT = /^dist\/(.+)\.(js|d\.ts)$/;

function strip(path: string): string {
  return path.replace(/^\.\//, "");
}

/** Every file path package.json points at: export targets (each condition) and bins. */
export function declaredTargets(pkg: PackageShape): string[] {
  const targets = new Set<string>();
  for (const target of Object.values(pkg.exports ?? {})) {
    for (const file of typeof target === "string" ? [target] : Object.values(target))
      targets.add(strip(file));
  }
  for (const file of Object.values(pkg.bin ?? {})) targets.add(strip(file));
  return [...targets].sort();
}

/**
 * Checks a tarball's file list.
 *
 * @param packed - the paths in the tarball (as `npm pack --json` lists them)
 * @param sources - the modules of src/, relative to src/ and without extension (`client/fetch`)
 * @param pkg - the package.json that was packed
 * @param assets - the files of the repository's assets/ folder (`assets/dashboard/app.js`)
 * @returns one line per finding; empty when the list is right
 */
export function packFindings(
  packed: readonly string[],
  sources: readonly string[],
  pkg: PackageShape,
  assets: readonly string[] = [],
): string[] {
  const findings: string[] = [];
  const have = new Set(packed);
  const modules = new Set(sources);
  const allowed = new Set<string>(["package.json", ...SHIPPED_DOCS, ...declaredTargets(pkg), ...assets]);
  for (const file of packed) {
    const built = BUILT.exec(file);
    if (built) {
      if (!modules.has(built[1]!))
        findings.push(`${file}: no src/${built[1]}.ts (a stale build? npm pack rebuilds dist/ from scratch)`);
      else if (built[2] === "d.ts" && built[1]!.startsWith(BIN_ONLY))
        findings.push(`${file}: the CLI's types, which nothing imports`);
    } else if (!allowed.has(file)) {
      findings.push(`${file}: not something users need (package.json "files")`);
    }
  }
  for (const module of sources) {
    for (const ext of module.startsWith(BIN_ONLY) ? ["js"] : ["js", "d.ts"]) {
      if (!have.has(`dist/${module}.${ext}`))
        findings.push(`dist/${module}.${ext}: missing (src/${module}.ts is built)`);
    }
  }
  for (const file of [...SHIPPED_DOCS, ...declaredTargets(pkg), ...assets]) {
    if (!have.has(file)) findings.push(`${file}: missing (package.json or the docs name it)`);
  }
  return [...new Set(findings)];
}
