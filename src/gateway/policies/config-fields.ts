/**
 * Checks the fields of a policy configuration coming from untyped input (YAML, JSON, JavaScript).
 */
import { PolicyConfigError } from "./policy-config-error.js";

/** An HTTP token (RFC 9110 §5.6.2): the syntax of header names and methods. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Reads typed values out of untyped configuration, throwing a {@link PolicyConfigError} that names
 * the place and the field for the first value that does not fit.
 *
 * @example
 * ```ts
 * const fields = new ConfigFields("cors()");
 * const maxAge = fields.nonNegativeInteger(input.maxAge, "maxAge");
 * ```
 */
export class ConfigFields {
  readonly #where: string;

  /**
   * @param where - the place reported in errors, e.g. `rateLimit()`
   * @example
   * ```ts
   * new ConfigFields("jwtAuth()");
   * ```
   */
  constructor(where: string) {
    this.#where = where;
  }

  /**
   * Throws the error for `field`.
   *
   * @param field - dotted path of the faulty field; empty for the whole object
   * @param problem - what is wrong, phrased to follow the field name
   * @param cause - optional underlying error
   * @returns never
   * @throws {@link PolicyConfigError} always
   * @example
   * ```ts
   * fields.fail("jwks", "cannot be read", err);
   * ```
   */
  fail(field: string, problem: string, cause?: unknown): never {
    throw new PolicyConfigError(this.#where, field, problem, cause === undefined ? {} : { cause });
  }

  /**
   * @param value - the untyped value
   * @param field - its path, for errors
   * @param known - the field names the mapping may have; omit to allow any
   * @returns `value` as a mapping
   * @throws {@link PolicyConfigError} when `value` is not a plain mapping or has an unknown field
   * @example
   * ```ts
   * const block = fields.record(input, "", ["origins", "methods"]);
   * ```
   */
  record(value: unknown, field: string, known?: readonly string[]): Record<string, unknown> {
    if (typeof value !== "object" || value === null || Array.isArray(value))
      this.fail(field, `must be a mapping (got ${describeValue(value)})`);
    const record = value as Record<string, unknown>;
    const unknown = known && Object.keys(record).find((name) => !known.includes(name));
    if (known && unknown !== undefined)
      this.fail(field, `has unknown field '${unknown}' (known: ${known.join(", ")})`);
    return record;
  }

  /**
   * @param value - the untyped value
   * @param field - its path, for errors
   * @returns `value` when it is an integer of at least 1
   * @throws {@link PolicyConfigError} otherwise
   * @example
   * ```ts
   * fields.positiveInteger(input.requests, "requests");
   * ```
   */
  positiveInteger(value: unknown, field: string): number {
    if (!Number.isSafeInteger(value) || (value as number) < 1)
      this.fail(field, `must be a positive integer (got ${describeValue(value)})`);
    return value as number;
  }

  /**
   * @param value - the untyped value
   * @param field - its path, for errors
   * @returns `value` when it is an integer of at least 0
   * @throws {@link PolicyConfigError} otherwise
   * @example
   * ```ts
   * fields.nonNegativeInteger(input.maxAge, "maxAge");
   * ```
   */
  nonNegativeInteger(value: unknown, field: string): number {
    if (!Number.isSafeInteger(value) || (value as number) < 0)
      this.fail(field, `must be a non-negative integer (got ${describeValue(value)})`);
    return value as number;
  }

  /**
   * @param value - the untyped value
   * @param field - its path, for errors
   * @returns `value` when it is a boolean
   * @throws {@link PolicyConfigError} otherwise
   * @example
   * ```ts
   * fields.boolean(input.credentials, "credentials");
   * ```
   */
  boolean(value: unknown, field: string): boolean {
    if (typeof value !== "boolean") this.fail(field, `must be true or false (got ${describeValue(value)})`);
    return value;
  }

  /**
   * @param value - the untyped value
   * @param field - its path, for errors
   * @returns `value` when it is a non-empty string
   * @throws {@link PolicyConfigError} otherwise
   * @example
   * ```ts
   * fields.string(input.issuer, "issuer");
   * ```
   */
  string(value: unknown, field: string): string {
    if (typeof value !== "string" || value.trim() === "")
      this.fail(field, `must be a non-empty string (got ${describeValue(value)})`);
    return value;
  }

  /**
   * @param value - the untyped value
   * @param field - its path, for errors
   * @returns `value` when it is a non-empty list of non-empty strings
   * @throws {@link PolicyConfigError} otherwise, naming the faulty item (`field[2]`)
   * @example
   * ```ts
   * fields.stringList(input.origins, "origins");
   * ```
   */
  stringList(value: unknown, field: string): string[] {
    if (!Array.isArray(value) || value.length === 0)
      this.fail(field, `must be a non-empty list of strings (got ${describeValue(value)})`);
    return value.map((item, i) => this.string(item, `${field}[${i}]`));
  }

  /**
   * @param value - the untyped value
   * @param field - its path, for errors
   * @returns `value` as a list when it is a non-empty string or a non-empty list of them
   * @throws {@link PolicyConfigError} otherwise
   * @example
   * ```ts
   * fields.stringOrList(input.audience, "audience");
   * ```
   */
  stringOrList(value: unknown, field: string): string[] {
    return typeof value === "string" ? [this.string(value, field)] : this.stringList(value, field);
  }

  /**
   * @param value - the untyped value
   * @param field - its path, for errors
   * @param what - what the token names, for errors (`header name`, `method`)
   * @returns `value` when it is an HTTP token (the syntax of header names and methods)
   * @throws {@link PolicyConfigError} otherwise
   * @example
   * ```ts
   * fields.token(name, "exposeHeaders[0]", "header name");
   * ```
   */
  token(value: unknown, field: string, what: string): string {
    if (typeof value !== "string" || !TOKEN.test(value))
      this.fail(field, `must be a valid ${what} (got ${describeValue(value)})`);
    return value;
  }
}

/**
 * A short description of a configuration value for error messages: strings quoted and cut,
 * other values by type. Never used for secrets.
 *
 * @param value - any value
 * @returns e.g. `"hour"`, `0`, `a list`, `a mapping`, `nothing`
 * @example
 * ```ts
 * describeValue("hour"); // '"hour"'
 * ```
 */
export function describeValue(value: unknown): string {
  if (value === undefined || value === null) return "nothing";
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return "a list";
  return typeof value === "object" ? "a mapping" : `a ${typeof value}`;
}
