/**
 * The README's quick start, as users copy it: the first ```ts block under the "## Use it" heading.
 */

/** The heading the quick start sits under. */
export const QUICK_START_HEADING = "## Use it";

/**
 * Extracts the quick start from README.md's text.
 *
 * @returns the code of the block
 * @throws Error when the heading or its ```ts block is missing
 */
export function quickStart(readme: string): string {
  const at = readme.split("\n").findIndex((line) => line.trim() === QUICK_START_HEADING);
  if (at < 0) throw new Error(`README.md: no '${QUICK_START_HEADING}' heading`);
  const rest = readme.split("\n").slice(at + 1);
  const open = rest.findIndex((line) => line.trim() === "```ts");
  const nextHeading = rest.findIndex((line) => line.startsWith("## "));
  if (open < 0 || (nextHeading >= 0 && nextHeading < open))
    throw new Error(`README.md: no \`\`\`ts block under '${QUICK_START_HEADING}'`);
  const close = rest.findIndex((line, i) => i > open && line.trim() === "```");
  if (close < 0) throw new Error(`README.md: the quick start's \`\`\`ts block is not closed`);
  return `${rest.slice(open + 1, close).join("\n")}\n`;
}
