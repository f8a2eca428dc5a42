/**
 * A policy that defers authentication to a function given in the API.
 */
import { ErrorCode } from "../../protocol/errors.js";
import { PolicyConfigError } from "./policy-config-error.js";
import type { AuthHook, Policy, PolicyDecision, PolicyRequest } from "./types.js";

/** Options of {@link authHook}. */
export interface AuthHookOptions {
  /**
   * Told about a hook that threw or returned no decision (the caller only gets a generic 500), e.g.
   * to log it. Errors it throws are ignored.
   */
  onError?: (error: unknown, req: PolicyRequest) => void;
}

/** The message of the 500 answer to a failing hook: it says nothing about the failure. */
export const AUTH_HOOK_FAILED = "authentication failed: internal error";

/**
 * Wraps an authentication function as a policy. The hook's decision is used as is; a hook that
 * throws, rejects or returns something that is not a decision is answered 500 (`NM_ERR_HANDLER`) with
 * a message that reveals nothing, and reported to `onError`.
 *
 * @param hook - decides on each request: `continue` (optionally forwarding headers such as the
 *   caller's identity) or `respond` (e.g. 401, 403)
 * @param options - optional error reporting
 * @returns a policy named `auth`
 * @throws {@link PolicyConfigError} when `hook` is not a function
 * @example
 * ```ts
 * const policy = authHook(async (req) =>
 *   req.headers["x-api-key"] === process.env.API_KEY
 *     ? { action: "continue", forwardHeaders: [["x-auth-subject", "ops"]] }
 *     : { action: "respond", status: 401, message: "bad API key", code: "NM_ERR_UNAUTHORIZED" },
 * );
 * ```
 */
export function authHook(hook: AuthHook, options: AuthHookOptions = {}): Policy {
  if (typeof hook !== "function") throw new PolicyConfigError("authHook()", "hook", "must be a function");
  return new AuthHookPolicy(hook, options.onError);
}

class AuthHookPolicy implements Policy {
  readonly name = "auth";
  readonly #hook: AuthHook;
  readonly #onError: AuthHookOptions["onError"];

  constructor(hook: AuthHook, onError: AuthHookOptions["onError"]) {
    this.#hook = hook;
    this.#onError = onError;
  }

  async check(req: PolicyRequest): Promise<PolicyDecision> {
    try {
      const decision: unknown = await this.#hook(req);
      if (isDecision(decision)) return decision;
      throw new TypeError(`the auth hook returned no policy decision (got ${typeof decision})`);
    } catch (err) {
      try {
        this.#onError?.(err, req);
      } catch {
        // A failing reporter must not turn a 500 into a thrown check.
      }
      return { action: "respond", status: 500, message: AUTH_HOOK_FAILED, code: ErrorCode.Handler };
    }
  }
}

function isDecision(value: unknown): value is PolicyDecision {
  if (typeof value !== "object" || value === null) return false;
  const { action, status } = value as { action?: unknown; status?: unknown };
  if (action === "continue") return true;
  return (
    action === "respond" && Number.isInteger(status) && (status as number) >= 100 && (status as number) <= 599
  );
}
