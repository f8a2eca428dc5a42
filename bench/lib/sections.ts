import { readFileSync, writeFileSync } from "node:fs";

/**
 * Replaces the text between `<!-- bench:<name>:start -->` and `<!-- bench:<name>:end -->` in a
 * Markdown file (BENCHMARKS.md), keeping the markers.
 *
 * @throws Error when the file lacks the markers.
 */
export function writeSection(file: string, name: string, content: string): void {
  const text = readFileSync(file, "utf8");
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`${file} lacks the ${start} / ${end} markers`);
  writeFileSync(file, `${text.slice(0, i + start.length)}\n${content.trimEnd()}\n${text.slice(j)}`);
}
