/**
 * Runs a route's policies, in order, before a request is sent over NATS.
 *
 * @module
 */
import type { HeaderPairs, Policy, PolicyRequest, Respond } from "../policies/types.js";

/** What the policies decided. */
export interface PolicyOutcome {
  /** The first `respond` decision, when a policy answered the request itself. */
  respond: Respond | undefined;
  /** Response headers of the policies that let the request continue, in order. */
  responseHeaders: HeaderPairs;
  /** Request headers to add to the forwarded request, in order. */
  forwardHeaders: HeaderPairs;
}

/**
 * Runs the policies in order and stops at the first `respond`. The `responseHeaders` of the policies
 * that continued before it are kept, so they reach the answer whatever it is.
 *
 * @param policies - the route's policies
 * @param req - what the policies see of the request
 * @returns the decision and the collected headers
 * @throws whatever a policy throws (the contract says policies answer bad input instead)
 * @example
 * ```ts
 * const outcome = await runPolicies(route.policies, { method: "GET", path: "/", headers, clientIp, route: "api" });
 * if (outcome.respond) sendDecision(res, outcome.respond, ctx);
 * ```
 */
export async function runPolicies(policies: readonly Policy[], req: PolicyRequest): Promise<PolicyOutcome> {
  const outcome: PolicyOutcome = { respond: undefined, responseHeaders: [], forwardHeaders: [] };
  for (const policy of policies) {
    const decision = await policy.check(req);
    if (decision.action === "respond") {
      outcome.respond = decision;
      break;
    }
    if (decision.responseHeaders) outcome.responseHeaders.push(...decision.responseHeaders);
    if (decision.forwardHeaders) outcome.forwardHeaders.push(...decision.forwardHeaders);
  }
  return outcome;
}
