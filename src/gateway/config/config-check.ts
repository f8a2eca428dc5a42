/**
 * Reads typed values out of an untyped gateway configuration, failing with the place and the field.
 *
 * @module
 */
import { GatewayConfigError } from "../errors.js";

/**
 * Describes a value for an error message.
 *
 * @param value - any value from the configuration
 * @returns `-1`, `'abc'`, `a list`, `a mapping`, `null`...
 * @example
 * ```ts
 * describe([1]); // "a list"
 * ```
 */
export function describe(value: unknown): string {
  if (typeof value === "string") return `'${value}'`;
  if (Array.isArray(value)) return "a list";
  if (value === null) return "null";
  if (typeof value === "object") return "a mapping";
  return String(value);
}

/**
 * Field checks for one place of the configuration (the top level, `limits`, `routes[2] (name 'x')`).
 *
 * @example
 * ```ts
 * const check = new ConfigCheck("gateway.yaml: routes[0]");
 * const timeout = check.integer(route.timeout, "timeout", 0);
 * ```
 */
export class ConfigCheck {
  /** The place reported in errors, e.g. `gateway.yaml: routes[2] (name 'billing')`. */
  readonly where: string;

  /**
   * @param where - the place reported in errors
   * @example
   * ```ts
   * new ConfigCheck("gateway.yaml");
   * ```
   */
  constructor(where: string) {
    this.where = where;
  }

  /**
   * Throws the error for this place.
   *
   * @param problem - what is wrong, e.g. `timeout must be ...`
   * @returns never
   * @throws {@link GatewayConfigError} always
   * @example
   * ```ts
   * check.fail("needs a 'prefix' or a 'host'");
   * ```
   */
  fail(problem: string): never {
    throw new GatewayConfigError(this.where, problem);
  }

  /**
   * @param value - the untyped value
   * @param field - its name in errors; empty for the whole place
   * @param known - the keys the mapping may have
   * @returns `value` as a mapping
   * @throws {@link GatewayConfigError} when `value` is not a mapping or has an unknown key
   * @example
   * ```ts
   * const limits = check.mapping(raw.limits, "limits", ["headersTimeout"]);
   * ```
   */
  mapping(value: unknown, field: string, known: readonly string[]): Record<string, unknown> {
    const label = field ? `${field} ` : "";
    if (typeof value !== "object" || value === null || Array.isArray(value))
      this.fail(`${label || "it "}must be a mapping (got ${describe(value)})`);
    const record = value as Record<string, unknown>;
    const unknown = Object.keys(record).find((key) => !known.includes(key));
    if (unknown !== undefined)
      this.fail(`${label}has unknown field '${unknown}' (known: ${known.join(", ")})`.trimStart());
    return record;
  }

  /**
   * @param value - the untyped value, or `undefined`
   * @param field - its name in errors
   * @param min - the smallest allowed value
   * @returns the integer, or `undefined` when absent
   * @throws {@link GatewayConfigError} when present and not a whole number ≥ `min`
   * @example
   * ```ts
   * check.integer(raw.maxConnections, "limits.maxConnections", 1);
   * ```
   */
  integer(value: unknown, field: string, min: number): number | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min)
      this.fail(`${field} must be a whole number ≥ ${min} (got ${describe(value)})`);
    return value;
  }

  /**
   * @param value - the untyped value, or `undefined`
   * @param field - its name in errors
   * @returns the string, or `undefined` when absent
   * @throws {@link GatewayConfigError} when present and not a non-empty string
   * @example
   * ```ts
   * check.string(raw.listen, "listen");
   * ```
   */
  string(value: unknown, field: string): string | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "string" || value.length === 0)
      this.fail(`${field} must be a non-empty string (got ${describe(value)})`);
    return value;
  }

  /**
   * @param value - the untyped value, or `undefined`
   * @param field - its name in errors
   * @returns the boolean, or `undefined` when absent
   * @throws {@link GatewayConfigError} when present and not `true` or `false`
   * @example
   * ```ts
   * check.boolean(raw.strip, "strip");
   * ```
   */
  boolean(value: unknown, field: string): boolean | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "boolean") this.fail(`${field} must be true or false (got ${describe(value)})`);
    return value;
  }

  /**
   * @param value - the untyped value, or `undefined`
   * @param field - its name in errors
   * @returns the list, or `undefined` when absent
   * @throws {@link GatewayConfigError} when present and not a list
   * @example
   * ```ts
   * check.list(raw.routes, "routes");
   * ```
   */
  list(value: unknown, field: string): unknown[] | undefined {
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) this.fail(`${field} must be a list (got ${describe(value)})`);
    return value;
  }
}
