/**
 * A small SVG bar chart for BENCHMARKS.md and the README: panels stacked vertically, one horizontal
 * bar per scenario, natsmesh's bars highlighted. Plain string building, no dependency.
 */

/** One bar. */
export interface Bar {
  label: string;
  value: number;
  highlight?: boolean;
}

/** One panel: a title and its bars, each panel scaled to its own maximum. */
export interface Panel {
  title: string;
  bars: Bar[];
}

const WIDTH = 760;
const LABEL = 150;
const VALUE = 70;
const ROW = 18;
const GAP = 4;
const TITLE = 26;
const PANEL_GAP = 14;

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function formatValue(v: number): string {
  return v >= 100 ? Math.round(v).toLocaleString("en-US") : v.toFixed(1);
}

/**
 * @param panels - the panels, top to bottom.
 * @param footer - a line under the panels (the run and its command).
 * @returns an SVG document.
 */
export function barChart(panels: Panel[], footer = ""): string {
  const parts: string[] = [];
  let y = 8;
  const area = WIDTH - LABEL - VALUE - 16;
  for (const panel of panels) {
    parts.push(`<text x="8" y="${y + 16}" class="t">${escapeXml(panel.title)}</text>`);
    y += TITLE;
    const max = Math.max(...panel.bars.map((b) => b.value), 1e-9);
    for (const bar of panel.bars) {
      const w = Math.max(1, (bar.value / max) * area);
      parts.push(
        `<text x="${LABEL}" y="${y + ROW - 5}" class="l">${escapeXml(bar.label)}</text>`,
        `<rect x="${LABEL + 8}" y="${y}" width="${w.toFixed(1)}" height="${ROW}" class="${bar.highlight ? "h" : "b"}"/>`,
        `<text x="${(LABEL + 12 + w).toFixed(1)}" y="${y + ROW - 5}" class="v">${formatValue(bar.value)}</text>`,
      );
      y += ROW + GAP;
    }
    y += PANEL_GAP;
  }
  if (footer) {
    parts.push(`<text x="8" y="${y + 4}" class="f">${escapeXml(footer)}</text>`);
    y += 16;
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="system-ui, sans-serif" font-size="12" role="img">`,
    `<title>${escapeXml(panels.map((p) => p.title).join("; "))}</title>`,
    "<style>.t{font-weight:600;font-size:13px}.l{text-anchor:end;fill:#333}.v{fill:#333}.b{fill:#9aa5b1}.h{fill:#2f6fdb}.f{fill:#666;font-size:11px}</style>",
    `<rect width="${WIDTH}" height="${y}" fill="#fff"/>`,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}
