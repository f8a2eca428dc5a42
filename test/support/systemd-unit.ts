/**
 * Reads systemd unit files and environment files as systemd does, for the part the examples use:
 * `[Section]` headers, `Key=Value` lines (a key may repeat), `#`/`;` comments, and the
 * `KEY=value` lines of an `EnvironmentFile`. Quoting and line continuations are refused rather than
 * half-understood.
 */

/** A unit file: section → key → values in order. */
export type Unit = Map<string, Map<string, string[]>>;

/**
 * Parses a unit file's text.
 *
 * @throws Error naming the line for anything outside the subset above
 */
export function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) return;
    const header = /^\[([A-Za-z]+)\]$/.exec(line);
    if (header) {
      section = new Map();
      unit.set(header[1]!, section);
      return;
    }
    const pair = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!pair || !section || line.endsWith("\\")) throw new Error(`line ${i + 1}: cannot read '${raw}'`);
    const values = section.get(pair[1]!) ?? [];
    values.push(pair[2]!.trim());
    section.set(pair[1]!, values);
  });
  return unit;
}

/** The one value of `key` in `section`; throws when it is missing or repeated. */
export function one(unit: Unit, section: string, key: string): string {
  const values = unit.get(section)?.get(key) ?? [];
  if (values.length !== 1) throw new Error(`[${section}] ${key}: expected one value, found ${values.length}`);
  return values[0]!;
}

/** Every value of `key` in `section` (none: an empty list). */
export function all(unit: Unit, section: string, key: string): string[] {
  return unit.get(section)?.get(key) ?? [];
}

/** Parses `KEY=value` lines (an `EnvironmentFile`, or the values of `Environment=` lines). */
export function parseEnv(lines: string | string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of typeof lines === "string" ? lines.split("\n") : lines) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const pair = /^([A-Z_][A-Z0-9_]*)=([^"' ]*)$/.exec(line);
    if (!pair) throw new Error(`cannot read environment line '${raw}'`);
    env[pair[1]!] = pair[2]!;
  }
  return env;
}

/** Seconds of a time span such as `45`, `45s`, `2min`. */
export function seconds(span: string): number {
  const m = /^(\d+)(s|min)?$/.exec(span);
  if (!m) throw new Error(`cannot read time span '${span}'`);
  return Number(m[1]) * (m[2] === "min" ? 60 : 1);
}
