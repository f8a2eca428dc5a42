/**
 * The error raised for an invalid policy configuration (CORS, rate limit, auth).
 */
import { brandError, MeshError } from "../../protocol/errors.js";
import { GatewayErrorCode } from "../errors.js";

/**
 * A policy block of the gateway configuration (or the options of a policy factory) is invalid.
 * `status` is 500: a misconfigured gateway cannot serve the route.
 *
 * The message names where the block comes from, the field and what is wrong, e.g.
 * `gateway.yaml: routes[1] (name 'api'): rateLimit.requests must be a positive integer (got 0)`.
 * A factory called directly reports itself as the place and `options` for the whole object, e.g.
 * `rateLimit(): options has unknown field 'request'`.
 *
 * @example
 * ```ts
 * try { buildPolicies(route, "gateway.yaml: routes[0]"); }
 * catch (err) { if (err instanceof PolicyConfigError) console.error(err.field, err.problem); }
 * ```
 */
export class PolicyConfigError extends MeshError {
  static {
    brandError(PolicyConfigError, "PolicyConfigError");
  }

  /** Where the configuration comes from, e.g. `gateway.yaml: routes[1] (name 'api')` or `cors()`. */
  readonly where: string;
  /** Dotted path of the faulty field from the place, e.g. `rateLimit.per`; empty for the whole object. */
  readonly field: string;
  /** What is wrong, without the place and field, e.g. `must be a positive integer (got 0)`. */
  readonly problem: string;

  /**
   * @param where - where the configuration comes from
   * @param field - dotted path of the faulty field; empty for the whole object
   * @param problem - what is wrong, phrased to follow the field name
   * @param options - optional underlying cause (e.g. the file system error of an unreadable JWKS file)
   * @example
   * ```ts
   * new PolicyConfigError("gateway.yaml: routes[0]", "cors.maxAge", "must be a non-negative integer");
   * ```
   */
  constructor(where: string, field: string, problem: string, options: { cause?: unknown } = {}) {
    super(GatewayErrorCode.GatewayConfig, 500, `${where}: ${field || "options"} ${problem}`, options);
    this.where = where;
    this.field = field;
    this.problem = problem;
  }

  /**
   * The same error, reported at another place and under a block name.
   *
   * @param where - the new place, e.g. `gateway.yaml: routes[1] (name 'api')`
   * @param block - the block the field belongs to, e.g. `rateLimit`
   * @returns a new error whose field is prefixed with `block` and whose cause is this error's cause
   * @example
   * ```ts
   * try { rateLimit(input); } catch (err) { if (err instanceof PolicyConfigError) throw err.relocate(where, "rateLimit"); throw err; }
   * ```
   */
  relocate(where: string, block: string): PolicyConfigError {
    const field = this.field ? `${block}.${this.field}` : block;
    return new PolicyConfigError(where, field, this.problem, { cause: this.cause });
  }
}
