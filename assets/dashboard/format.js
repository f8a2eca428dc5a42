// Number formats of the dashboard. Pure functions.

/** Requests per second: 0, 0.4, 12, 1.2k. */
export function rate(x) {
  if (!Number.isFinite(x) || x <= 0) return "0";
  if (x < 10) return x.toFixed(1);
  if (x < 1000) return Math.round(x).toString();
  return `${(x / 1000).toFixed(1)}k`;
}

/** Seconds as milliseconds: "–" for none. */
export function ms(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const v = seconds * 1000;
  if (v < 1) return `${v.toFixed(2)} ms`;
  if (v < 100) return `${v.toFixed(1)} ms`;
  return `${Math.round(v)} ms`;
}

/** A share as a percentage. */
export function pct(x) {
  if (!Number.isFinite(x) || x <= 0) return "0%";
  if (x < 0.1) return `${(x * 100).toFixed(1)}%`;
  return `${Math.round(x * 100)}%`;
}

/** An uptime in seconds: 42s, 5m, 3h, 2d. */
export function uptime(s) {
  if (s < 60) return `${Math.floor(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** Mean in-flight (may be fractional). */
export function count(x) {
  if (!Number.isFinite(x)) return "0";
  return x < 10 && x % 1 !== 0 ? x.toFixed(1) : Math.round(x).toString();
}
