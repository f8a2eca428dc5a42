/**
 * The dashboard page's files, read once into memory: the page, its module and style from the
 * package's `assets/dashboard/`, and uPlot's ES module and style from its installed package. No CDN,
 * no build step.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** One file the dashboard serves. */
export interface Asset {
  type: string;
  body: Buffer;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

let loaded: Map<string, Asset> | undefined;

function typeOf(file: string): string {
  return TYPES[file.slice(file.lastIndexOf("."))] ?? "application/octet-stream";
}

/**
 * The assets by URL path (`/`, `/assets/app.js`, `/assets/uPlot.esm.js`, ...), loaded at first use.
 *
 * @throws the file system's error when a file of the package is missing
 */
export function dashboardAssets(): Map<string, Asset> {
  if (loaded) return loaded;
  // src/dashboard and dist/dashboard are both two levels under the package root.
  const own = fileURLToPath(new URL("../../assets/dashboard/", import.meta.url));
  const uplot = dirname(createRequire(import.meta.url).resolve("uplot"));
  const files: Array<[string, string]> = [
    ["/", join(own, "index.html")],
    ["/assets/app.js", join(own, "app.js")],
    ["/assets/charts.js", join(own, "charts.js")],
    ["/assets/format.js", join(own, "format.js")],
    ["/assets/style.css", join(own, "style.css")],
    ["/assets/uPlot.esm.js", join(uplot, "uPlot.esm.js")],
    ["/assets/uPlot.min.css", join(uplot, "uPlot.min.css")],
  ];
  const map = new Map<string, Asset>();
  for (const [path, file] of files) map.set(path, { type: typeOf(file), body: readFileSync(file) });
  loaded = map;
  return map;
}
