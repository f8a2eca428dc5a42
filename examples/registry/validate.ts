/**
 * Hand-written validation of the registry's requests: small pure functions that either return a
 * clean value or a map of field → message (`{ name: "is required", ... }`).
 */

/** Field-level messages of a rejected request. */
export type FieldErrors = Record<string, string>;

/** A parsed value, or the reasons it was rejected. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; fields: FieldErrors };

/**
 * UELN (Universal Equine Life Number): 15 letters or digits — a 3-digit country code, a 3-character
 * database code and a 9-character identification. Stored upper-case.
 */
export const UELN = /^[0-9]{3}[0-9A-Z]{12}$/;

/** Kinds of health record. */
export const HEALTH_KINDS = ["vaccination", "examination", "treatment"] as const;
export type HealthKind = (typeof HEALTH_KINDS)[number];

/** Default and bounds of `?limit=`; bound of `?offset=`. */
export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 100;
export const MAX_OFFSET = 1_000_000;

const MAX_NAME = 100;
const MAX_NOTES = 2000;

/** A horse as created by `POST /horses`. */
export interface NewHorse {
  passportNumber: string;
  name: string;
  breed: string;
  dateOfBirth: string;
  /** First owner, from the date of birth. */
  owner?: string;
}

/** The changeable fields of a horse (`PATCH /horses/:passport`). */
export interface HorsePatch {
  name?: string;
  breed?: string;
}

/** A change of ownership (`POST /horses/:passport/owners`). */
export interface Transfer {
  owner: string;
  /** First day of the new owner's period (default: today). */
  from: string;
}

/** A health record (`POST /horses/:passport/health`). */
export interface NewHealthRecord {
  date: string;
  kind: HealthKind;
  vet: string;
  notes: string | null;
}

/** A page of a list. */
export interface Page {
  limit: number;
  offset: number;
}

/** Today's date (UTC) as `YYYY-MM-DD`. */
export function todayIso(now: Date = new Date()): string {
  return now.toISOString().slice(0, 10);
}

/** Upper-cases and trims a passport number as typed by a user or found in a path. */
export function normalizePassport(raw: string): string {
  return raw.trim().toUpperCase();
}

/** The message for a bad passport number, or undefined when `value` is a UELN (any case). */
export function passportError(value: unknown): string | undefined {
  if (value === undefined || value === null || value === "") return "is required";
  if (typeof value !== "string") return "must be a string";
  if (!UELN.test(normalizePassport(value))) {
    return "must be a UELN: 15 letters or digits, starting with a 3-digit country code";
  }
  return undefined;
}

/** True for a real calendar date written `YYYY-MM-DD` (leap years included; year ≥ 1). */
export function isCalendarDate(value: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) return false;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  return day <= daysInMonth(year, month);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Options of {@link dateError}. */
export interface DateRules {
  /** Today as `YYYY-MM-DD`; later dates are rejected. */
  notAfter?: string;
  /** Earliest accepted date, and how to name it in the message. */
  notBefore?: { date: string; what: string };
}

/** The message for a bad ISO date, or undefined when it is good. */
export function dateError(value: unknown, rules: DateRules = {}): string | undefined {
  if (value === undefined || value === null || value === "") return "is required";
  if (typeof value !== "string" || !isCalendarDate(value)) {
    return "must be a calendar date written YYYY-MM-DD";
  }
  if (rules.notAfter !== undefined && value > rules.notAfter) return "must not be in the future";
  if (rules.notBefore !== undefined && value < rules.notBefore.date) {
    return `must not be before ${rules.notBefore.what} (${rules.notBefore.date})`;
  }
  return undefined;
}

/** The message for a bad free-text field, or undefined. */
export function textError(value: unknown, max: number, required = true): string | undefined {
  if (value === undefined || value === null || (typeof value === "string" && value.trim() === "")) {
    return required ? "is required" : undefined;
  }
  if (typeof value !== "string") return "must be a string";
  if (value.trim().length > max) return `must be at most ${max} characters`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(value)) {
    return "must not contain control characters";
  }
  return undefined;
}

/** A JSON body as an object; undefined for arrays, null and scalars. */
export function asObject(body: unknown): Record<string, unknown> | undefined {
  return typeof body === "object" && body !== null && !Array.isArray(body)
    ? (body as Record<string, unknown>)
    : undefined;
}

function unknownFields(body: Record<string, unknown>, known: readonly string[], fields: FieldErrors): void {
  for (const key of Object.keys(body)) {
    if (!known.includes(key)) fields[key] = "is not a known field";
  }
}

function collect(fields: FieldErrors, name: string, message: string | undefined): void {
  if (message !== undefined) fields[name] = message;
}

function done<T>(fields: FieldErrors, value: () => T): Parsed<T> {
  return Object.keys(fields).length > 0 ? { ok: false, fields } : { ok: true, value: value() };
}

/** Validates the body of `POST /horses`. */
export function parseNewHorse(body: Record<string, unknown>, today: string): Parsed<NewHorse> {
  const fields: FieldErrors = {};
  unknownFields(body, ["passportNumber", "name", "breed", "dateOfBirth", "owner"], fields);
  collect(fields, "passportNumber", passportError(body.passportNumber));
  collect(fields, "name", textError(body.name, MAX_NAME));
  collect(fields, "breed", textError(body.breed, MAX_NAME));
  collect(fields, "dateOfBirth", dateError(body.dateOfBirth, { notAfter: today }));
  collect(fields, "owner", textError(body.owner, MAX_NAME, false));
  return done(fields, () => {
    const horse: NewHorse = {
      passportNumber: normalizePassport(body.passportNumber as string),
      name: (body.name as string).trim(),
      breed: (body.breed as string).trim(),
      dateOfBirth: body.dateOfBirth as string,
    };
    if (typeof body.owner === "string" && body.owner.trim() !== "") horse.owner = body.owner.trim();
    return horse;
  });
}

/** Validates the body of `PATCH /horses/:passport`: name and/or breed, nothing else. */
export function parseHorsePatch(body: Record<string, unknown>): Parsed<HorsePatch> {
  const fields: FieldErrors = {};
  for (const key of Object.keys(body)) {
    if (key !== "name" && key !== "breed") {
      fields[key] = ["passportNumber", "dateOfBirth"].includes(key)
        ? "cannot be changed"
        : "is not a known field";
    }
  }
  if (body.name !== undefined) collect(fields, "name", textError(body.name, MAX_NAME));
  if (body.breed !== undefined) collect(fields, "breed", textError(body.breed, MAX_NAME));
  if (body.name === undefined && body.breed === undefined && Object.keys(fields).length === 0) {
    fields.name = "name or breed is required";
  }
  return done(fields, () => {
    const patch: HorsePatch = {};
    if (typeof body.name === "string") patch.name = body.name.trim();
    if (typeof body.breed === "string") patch.breed = body.breed.trim();
    return patch;
  });
}

/** Validates the body of `POST /horses/:passport/owners` (the horse's own dates are checked later). */
export function parseTransfer(body: Record<string, unknown>, today: string): Parsed<Transfer> {
  const fields: FieldErrors = {};
  unknownFields(body, ["owner", "from"], fields);
  collect(fields, "owner", textError(body.owner, MAX_NAME));
  if (body.from !== undefined) collect(fields, "from", dateError(body.from, { notAfter: today }));
  return done(fields, () => ({
    owner: (body.owner as string).trim(),
    from: (body.from as string | undefined) ?? today,
  }));
}

/** The message for a bad health-record kind, or undefined. */
export function kindError(value: unknown): string | undefined {
  if (value === undefined || value === null || value === "") return "is required";
  return typeof value === "string" && (HEALTH_KINDS as readonly string[]).includes(value)
    ? undefined
    : `must be one of ${HEALTH_KINDS.join(", ")}`;
}

/** Validates the body of `POST /horses/:passport/health` (the date of birth is checked later). */
export function parseHealthRecord(body: Record<string, unknown>, today: string): Parsed<NewHealthRecord> {
  const fields: FieldErrors = {};
  unknownFields(body, ["date", "kind", "vet", "notes"], fields);
  collect(fields, "date", dateError(body.date, { notAfter: today }));
  collect(fields, "kind", kindError(body.kind));
  collect(fields, "vet", textError(body.vet, MAX_NAME));
  collect(fields, "notes", textError(body.notes, MAX_NOTES, false));
  return done(fields, () => ({
    date: body.date as string,
    kind: body.kind as HealthKind,
    vet: (body.vet as string).trim(),
    notes: typeof body.notes === "string" && body.notes.trim() !== "" ? body.notes.trim() : null,
  }));
}

function boundedInt(raw: string | undefined, min: number, max: number, fallback: number): number | string {
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d{1,9}$/.test(raw)) return "must be a whole number";
  const n = Number(raw);
  return n < min || n > max ? `must be between ${min} and ${max}` : n;
}

/** Validates `?limit=` (1–100, default 20) and `?offset=` (0–1 000 000, default 0). */
export function parsePage(query: { limit?: string; offset?: string }): Parsed<Page> {
  const limit = boundedInt(query.limit, 1, MAX_LIMIT, DEFAULT_LIMIT);
  const offset = boundedInt(query.offset, 0, MAX_OFFSET, 0);
  const fields: FieldErrors = {};
  if (typeof limit === "string") fields.limit = limit;
  if (typeof offset === "string") fields.offset = offset;
  return done(fields, () => ({ limit: limit as number, offset: offset as number }));
}
