/**
 * After `typedoc` (`npm run docs:api`): every function, class, constant, interface and type alias
 * that a public entry point exports has an `@example` in its doc comment (TypeDoc's own validation checks that each exported
 * name and member has a doc comment at all). Reads the JSON TypeDoc writes beside the HTML.
 */
import { readFile } from "node:fs/promises";

interface Comment {
  blockTags?: Array<{ tag: string }>;
}
interface Reflection {
  name: string;
  kind: number;
  comment?: Comment;
  signatures?: Array<{ comment?: Comment }>;
  children?: Reflection[];
}

/** TypeDoc's ReflectionKind values of what must carry an example. */
const NEEDS_EXAMPLE = new Map([
  [32, "constant"],
  [64, "function"],
  [128, "class"],
  [256, "interface"],
  [2097152, "type alias"],
]);

const project = JSON.parse(await readFile("docs/api/api.json", "utf8")) as Reflection;
const missing: string[] = [];
for (const entry of project.children ?? []) {
  for (const item of entry.children ?? []) {
    const kind = NEEDS_EXAMPLE.get(item.kind);
    if (!kind) continue;
    const comments = [item.comment, ...(item.signatures ?? []).map((s) => s.comment)];
    if (!comments.some((c) => c?.blockTags?.some((t) => t.tag === "@example")))
      missing.push(`${entry.name}: ${kind} ${item.name}`);
  }
}
if (missing.length > 0) {
  console.error(`docs:api: no @example for\n  ${missing.join("\n  ")}`);
  process.exitCode = 1;
}
