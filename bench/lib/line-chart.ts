/**
 * A small SVG line chart: panels stacked vertically sharing the x axis (seconds), each with its own
 * y scale and a legend. Plain string building, no dependency.
 */

/** One line of a panel. */
export interface Line {
  label: string;
  color: string;
  /** y per x (same length as the chart's xs); null leaves a gap. */
  ys: Array<number | null>;
  dashed?: boolean;
}

/** One panel. */
export interface LinePanel {
  title: string;
  lines: Line[];
  /** Upper bound of the y axis (default: the largest value × 1.1). */
  max?: number;
}

const WIDTH = 760;
const LEFT = 48;
const RIGHT = 16;
const HEIGHT = 170;
const TITLE = 50;
const GAP = 18;

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function niceStep(max: number): number {
  const raw = max / 4;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? raw;
}

/**
 * @param xs - x values (seconds), increasing
 * @param panels - the panels, top to bottom
 * @param footer - a line under the panels (the run and its command)
 * @returns an SVG document
 */
export function lineChart(xs: number[], panels: LinePanel[], footer = ""): string {
  const parts: string[] = [];
  const plotW = WIDTH - LEFT - RIGHT;
  const x0 = xs[0] ?? 0;
  const x1 = xs.at(-1) ?? 1;
  const sx = (x: number) => LEFT + ((x - x0) / (x1 - x0 || 1)) * plotW;
  let y = 8;
  for (const panel of panels) {
    parts.push(`<text x="8" y="${y + 16}" class="t">${esc(panel.title)}</text>`);
    let lx = LEFT;
    for (const line of panel.lines) {
      parts.push(
        `<line x1="${lx}" y1="${y + 32}" x2="${lx + 18}" y2="${y + 32}" stroke="${line.color}" stroke-width="2"${line.dashed ? ' stroke-dasharray="4 3"' : ""}/>`,
        `<text x="${lx + 22}" y="${y + 36}" class="l">${esc(line.label)}</text>`,
      );
      lx += 30 + line.label.length * 6.5;
    }
    y += TITLE;
    const values = panel.lines.flatMap((l) => l.ys.filter((v): v is number => v !== null));
    const max = panel.max ?? Math.max(1e-9, ...values) * 1.1;
    const sy = (v: number) => y + HEIGHT - (v / max) * HEIGHT;
    const step = niceStep(max);
    for (let v = 0; v <= max + 1e-9; v += step) {
      parts.push(
        `<line x1="${LEFT}" y1="${sy(v).toFixed(1)}" x2="${WIDTH - RIGHT}" y2="${sy(v).toFixed(1)}" class="g"/>`,
        `<text x="${LEFT - 6}" y="${(sy(v) + 4).toFixed(1)}" class="a" text-anchor="end">${Number(v.toFixed(2))}</text>`,
      );
    }
    for (const line of panel.lines) {
      let d = "";
      line.ys.forEach((v, i) => {
        if (v === null) return;
        d += `${d === "" || line.ys[i - 1] === null ? "M" : "L"}${sx(xs[i]!).toFixed(1)},${sy(v).toFixed(1)}`;
      });
      parts.push(
        `<path d="${d}" fill="none" stroke="${line.color}" stroke-width="1.8"${line.dashed ? ' stroke-dasharray="4 3"' : ""}/>`,
      );
    }
    y += HEIGHT;
    for (let t = Math.ceil(x0 / 10) * 10; t <= x1; t += 10) {
      parts.push(`<text x="${sx(t).toFixed(1)}" y="${y + 14}" class="a" text-anchor="middle">${t}s</text>`);
    }
    y += GAP + 14;
  }
  if (footer) parts.push(`<text x="8" y="${y + 4}" class="f">${esc(footer)}</text>`);
  const height = y + (footer ? 16 : 0);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, sans-serif" role="img">
<title>${esc(panels.map((p) => p.title).join("; "))}</title>
<style>.t{font-size:14px;font-weight:600;fill:#111827}.l{font-size:12px;fill:#374151}.a{font-size:11px;fill:#6b7280}.f{font-size:11px;fill:#6b7280}.g{stroke:#e5e7eb;stroke-width:1}</style>
<rect width="100%" height="100%" fill="#fff"/>
${parts.join("\n")}
</svg>
`;
}
