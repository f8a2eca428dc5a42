/**
 * The layer rule of `src/` (docs/ARCHITECTURE.md, "Modules (`src/`) and their layers"): each folder
 * imports only the folders its entry in {@link ALLOWED} names, and no folders import each other in a
 * cycle. The test reads every relative import of `src/**\/*.ts` with the TypeScript parser — static
 * and type-only `import` and `export ... from`, `import("...")` with a string literal and
 * `import("...")` types — and needs no server.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "./support/nats-server.js";

/** The entry points (`natsmesh`, `natsmesh/internal`) may re-export every part but the CLI. */
const LIBRARY = [
  "protocol",
  "util",
  "version.ts",
  "stream",
  "traffic",
  "dedupe",
  "durable",
  "tracing",
  "connect",
  "discovery",
  "metrics",
  "insight",
  "dashboard",
  "log",
  "client",
  "server",
  "dev",
  "gateway",
  "fault",
  "tap",
];

/**
 * What each part of `src/` may import: a folder (`client` for `src/client/**`) or a file directly
 * in `src/` (`index.ts`). Lower layers first; docs/ARCHITECTURE.md's "imports" column says the same
 * (checked below). `dev` stands apart: only the CLI and the entry points import it.
 */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  protocol: [],
  util: [],
  "version.ts": [],
  stream: ["protocol"],
  traffic: ["protocol"],
  dedupe: ["protocol"],
  durable: ["protocol"],
  tracing: ["protocol", "version.ts"],
  connect: ["protocol"],
  discovery: ["protocol"],
  metrics: ["protocol"],
  insight: ["protocol", "metrics"],
  dashboard: ["insight"],
  log: ["protocol"],
  tap: ["protocol", "connect"],
  client: ["protocol", "util", "stream", "traffic", "durable", "tracing", "connect", "insight"],
  server: [
    "protocol",
    "util",
    "stream",
    "dedupe",
    "durable",
    "tracing",
    "connect",
    "discovery",
    "metrics",
    "insight",
    "log",
  ],
  dev: ["protocol", "connect"],
  gateway: [
    "protocol",
    "traffic",
    "durable",
    "tracing",
    "connect",
    "metrics",
    "insight",
    "dashboard",
    "log",
    "client",
  ],
  fault: ["protocol", "traffic", "connect", "client", "server"],
  cli: [
    "protocol",
    "version.ts",
    "traffic",
    "durable",
    "connect",
    "discovery",
    "log",
    "client",
    "dev",
    "gateway",
    "fault",
    "tap",
    "insight",
    "dashboard",
  ],
  "index.ts": LIBRARY,
  "internal.ts": LIBRARY,
};

/** One relative import: `file` (relative to the repo, `/`-separated) names `specifier`. */
interface Import {
  file: string;
  specifier: string;
  /** The part of `src/` the importing file belongs to. */
  from: string;
  /** The part of `src/` the specifier resolves to; `undefined` when it leaves `src/`. */
  to: string | undefined;
}

/** The part of `src/` a path relative to `src/` belongs to: its top folder, or the file itself. */
function partOf(pathInSrc: string): string {
  const parts = pathInSrc.split("/");
  if (parts.length > 1) return parts[0]!;
  return parts[0]!.replace(/\.(js|ts|mjs|mts)$/, ".ts");
}

/** The module specifiers a TypeScript source names: imports, re-exports, `import()` calls and types. */
function specifiersOf(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      found.push(node.moduleSpecifier.text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      found.push(node.arguments[0].text);
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      found.push(node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Every `.ts` file under `srcDir`: its path, and its path relative to `srcDir` (`/`-separated). */
function sourcesOf(srcDir: string, dir = srcDir): { path: string; inSrc: string }[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourcesOf(srcDir, path);
    if (!entry.name.endsWith(".ts")) return [];
    return [{ path, inSrc: relative(srcDir, path).split(sep).join("/") }];
  });
}

const parsed = new Map<string, string[]>();

/** {@link specifiersOf} the file at `path`, parsed once per run. */
function specifiersIn(path: string): string[] {
  let found = parsed.get(path);
  if (found === undefined) {
    found = specifiersOf(path, readFileSync(path, "utf8"));
    parsed.set(path, found);
  }
  return found;
}

/** Every relative import of every `.ts` file under `srcDir`; `root` is what `file` is relative to. */
function importsOf(srcDir: string, root: string): Import[] {
  return sourcesOf(srcDir).flatMap(({ path, inSrc }) =>
    specifiersIn(path)
      .filter((specifier) => specifier.startsWith("."))
      .map((specifier) => {
        const target = relative(srcDir, resolve(dirname(path), specifier))
          .split(sep)
          .join("/");
        return {
          file: relative(root, path).split(sep).join("/"),
          specifier,
          from: partOf(inSrc),
          to: target.startsWith("..") ? undefined : partOf(target),
        };
      }),
  );
}

/** The parts of `src/`: its folders and the `.ts` files directly in it. */
function partsOf(srcDir: string): string[] {
  return readdirSync(srcDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() || e.name.endsWith(".ts"))
    .map((e) => e.name);
}

const show = (part: string) => (part.endsWith(".ts") ? `src/${part}` : `${part}/`);

/**
 * Checks imports against the allowed map: names every import of a part the map does not allow for
 * its importer (and every importer or import the map does not know), then every cycle between parts.
 *
 * @returns one readable line per problem; empty when the imports follow the rule
 */
function checkLayers(
  imports: readonly Import[],
  allowed: Readonly<Record<string, readonly string[]>>,
): string[] {
  const problems: string[] = [];
  for (const { file, specifier, from, to } of imports) {
    if (to === from) continue;
    const rule = allowed[from];
    if (rule === undefined) {
      problems.push(`${file}: ${show(from)} has no entry in the layer map (test/layers.test.ts ALLOWED)`);
    } else if (to === undefined) {
      problems.push(`${file} imports "${specifier}", outside src/`);
    } else if (!rule.includes(to)) {
      const may = rule.length > 0 ? rule.map(show).join(", ") : "nothing in src/";
      problems.push(`${file} imports "${specifier}" (${show(to)}), but ${show(from)} may import only ${may}`);
    }
  }
  for (const cycle of cyclesOf(imports)) problems.push(cycle);
  return problems;
}

/** One line per cycle between parts (a strongly connected set of two or more), with an import per step. */
function cyclesOf(imports: readonly Import[]): string[] {
  const edges = new Map<string, Map<string, Import>>();
  for (const imp of imports) {
    if (imp.to === undefined || imp.to === imp.from) continue;
    let out = edges.get(imp.from);
    if (!out) {
      out = new Map();
      edges.set(imp.from, out);
    }
    if (!out.has(imp.to)) out.set(imp.to, imp);
    if (!edges.has(imp.to)) edges.set(imp.to, new Map());
  }
  // Tarjan's strongly connected components.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const connect = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v)!.keys()) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) components.push(component);
    }
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) connect(v);
  return components.map((component) => {
    // Walk one closed path through the component, from its first part in sorted order.
    const members = new Set(component);
    const start = [...component].sort()[0]!;
    const path = [start];
    const steps: Import[] = [];
    const seen = new Set([start]);
    let at = start;
    for (;;) {
      const next = [...edges.get(at)!]
        .filter(([to]) => members.has(to))
        .sort(([a], [b]) => a.localeCompare(b));
      const back = next.find(([to]) => to === start);
      const [to, imp] = next.find(([to]) => !seen.has(to)) ?? back ?? next[0]!;
      steps.push(imp);
      path.push(to);
      if (to === start || seen.has(to)) break;
      seen.add(to);
      at = to;
    }
    const how = steps.map((s) => `${s.file} imports "${s.specifier}"`).join("; ");
    return `cycle between folders ${path.map(show).join(" → ")} (${how}); parts in the cycle: ${component
      .sort()
      .map(show)
      .join(", ")}`;
  });
}

/** The rows of the "Modules" table of docs/ARCHITECTURE.md: part → its "imports" cell, as a list. */
function documentedImports(markdown: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  const lines = markdown.split("\n");
  const header = lines.findIndex((l) => /^\| *folder *\|/.test(l));
  const columns = lines[header]!.split("|").map((c) => c.trim());
  const at = columns.indexOf("imports");
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith("|")) break;
    const cells = line.split("|").map((c) => c.trim());
    const part = cells[1]!.replace(/`/g, "").replace(/\/$/, "");
    const cell = cells[at]!;
    rows.set(
      part,
      cell === "—" ? [] : cell.split(",").map((c) => c.trim().replace(/`/g, "").replace(/\/$/, "")),
    );
  }
  return rows;
}

const SRC = join(REPO_ROOT, "src");

describe("layers - imports between the parts of src/", () => {
  it("layers - every part of src/ has an entry in the allowed map, and the map names only parts", () => {
    const parts = partsOf(SRC);
    expect(parts.filter((p) => ALLOWED[p] === undefined).map(show)).toEqual([]);
    const known = new Set([...Object.keys(ALLOWED)]);
    const unknown = Object.entries(ALLOWED).flatMap(([from, to]) =>
      to.filter((t) => !known.has(t)).map((t) => `${show(from)} allows ${t}, which is not in the map`),
    );
    expect(unknown).toEqual([]);
  });

  it("layers - the allowed map itself has no cycle", () => {
    const asImports = Object.entries(ALLOWED).flatMap(([from, tos]) =>
      tos.map((to) => ({ file: `(map) ${from}`, specifier: to, from, to })),
    );
    expect(cyclesOf(asImports)).toEqual([]);
  });

  it("layers - every relative import in src/ follows the allowed map, and no folders import each other in a cycle", () => {
    const imports = importsOf(SRC, REPO_ROOT);
    expect(imports.length).toBeGreaterThan(100);
    expect(checkLayers(imports, ALLOWED)).toEqual([]);
  });

  it("layers - only connect/ imports the NATS transport (@nats-io/transport-node)", () => {
    const outside = sourcesOf(SRC).flatMap(({ path, inSrc }) =>
      specifiersIn(path)
        .filter((s) => s === "@nats-io/transport-node" || s.startsWith("@nats-io/transport-node/"))
        .filter(() => partOf(inSrc) !== "connect")
        .map((s) => `src/${inSrc} imports "${s}": only connect/ may`),
    );
    expect(outside).toEqual([]);
  });

  it("layers - the imports column of docs/ARCHITECTURE.md's module table is the allowed map", () => {
    const documented = documentedImports(readFileSync(join(REPO_ROOT, "docs", "ARCHITECTURE.md"), "utf8"));
    const byPart = (map: Iterable<[string, readonly string[]]>): [string, string[]][] =>
      [...map]
        .map(([part, to]): [string, string[]] => [part, [...to].sort()])
        .sort(([a], [b]) => a.localeCompare(b));
    expect(byPart(documented)).toEqual(byPart(Object.entries(ALLOWED)));
  });

  it("layers - the checker reports back-references and cycles, naming the file, the import and the rule", () => {
    const imp = (file: string, specifier: string, from: string, to: string | undefined): Import => ({
      file,
      specifier,
      from,
      to,
    });
    const allowed = {
      protocol: [],
      stream: ["protocol"],
      client: ["protocol", "stream"],
      server: ["protocol"],
      // A map that allows two folders each other does not make their cycle pass.
      gateway: ["fault"],
      fault: ["gateway"],
    };
    const problems = checkLayers(
      [
        imp("src/client/call.ts", "../stream/index.js", "client", "stream"),
        imp("src/client/x.ts", "./y.js", "client", "client"),
        // A back-reference that closes a cycle: client → stream → client.
        imp("src/stream/sender.ts", "../client/call.js", "stream", "client"),
        // A back-reference without a cycle.
        imp("src/protocol/codec.ts", "../server/serve.js", "protocol", "server"),
        imp("src/server/c.ts", "../../package.json", "server", undefined),
        imp("src/cli/main.ts", "../client/index.js", "cli", "client"),
        imp("src/gateway/a.ts", "../fault/index.js", "gateway", "fault"),
        imp("src/fault/b.ts", "../gateway/index.js", "fault", "gateway"),
      ],
      allowed,
    );
    expect(problems).toEqual([
      'src/stream/sender.ts imports "../client/call.js" (client/), but stream/ may import only protocol/',
      'src/protocol/codec.ts imports "../server/serve.js" (server/), but protocol/ may import only nothing in src/',
      'src/server/c.ts imports "../../package.json", outside src/',
      "src/cli/main.ts: cli/ has no entry in the layer map (test/layers.test.ts ALLOWED)",
      'cycle between folders client/ → stream/ → client/ (src/client/call.ts imports "../stream/index.js"; src/stream/sender.ts imports "../client/call.js"); parts in the cycle: client/, stream/',
      'cycle between folders fault/ → gateway/ → fault/ (src/fault/b.ts imports "../gateway/index.js"; src/gateway/a.ts imports "../fault/index.js"); parts in the cycle: fault/, gateway/',
    ]);
  });

  it("layers - the parser finds static, type-only, re-exported and dynamic imports, not ones in comments or strings", () => {
    const text = [
      'import { a } from "./a.js";',
      'import type { B } from "../b/index.js";',
      'export { c } from "../c/index.js";',
      'export type { D } from "../d/index.js";',
      'export * from "../e/index.js";',
      'const f = await import("../f/index.js");',
      'type G = typeof import("../g/index.js");',
      '/** @example import { h } from "../h/index.js"; */',
      '// import { i } from "../i/index.js";',
      'const j = "import { j } from \\"../j/index.js\\"";',
      "const k = import(name);",
    ].join("\n");
    expect(specifiersOf("x.ts", text)).toEqual([
      "./a.js",
      "../b/index.js",
      "../c/index.js",
      "../d/index.js",
      "../e/index.js",
      "../f/index.js",
      "../g/index.js",
    ]);
  });
});
