/**
 * The client's hedging counters in Prometheus: copies sent, copies that won, copies the budget
 * refused. (The gateway counts the same per route and service in its own metrics.)
 *
 * @module
 */
import { Counter, register as globalRegistry, type Registry } from "prom-client";
import type { HedgeObserver } from "./hedged-call.js";

/** `natsmesh_client_hedges_sent_total{service}`: copies of a late request sent. */
export const CLIENT_HEDGES_SENT = "natsmesh_client_hedges_sent_total";
/** `natsmesh_client_hedges_won_total{service}`: copies whose answer came first. */
export const CLIENT_HEDGES_WON = "natsmesh_client_hedges_won_total";
/** `natsmesh_client_hedge_budget_exhausted_total{service}`: copies due but refused by the budget. */
export const CLIENT_HEDGE_BUDGET_EXHAUSTED = "natsmesh_client_hedge_budget_exhausted_total";

const HELP: Record<string, string> = {
  [CLIENT_HEDGES_SENT]: "Copies of late idempotent requests sent (hedged requests)",
  [CLIENT_HEDGES_WON]: "Hedged copies whose answer came first",
  [CLIENT_HEDGE_BUDGET_EXHAUSTED]: "Hedged copies due but not sent: the service's hedge budget was spent",
};

function counter(registry: Registry, name: string): Counter<"service"> {
  return (
    (registry.getSingleMetric(name) as Counter<"service"> | undefined) ??
    new Counter({ name, help: HELP[name] ?? name, labelNames: ["service"], registers: [registry] })
  );
}

/**
 * The hedging counters of `service` in `registry` (created on first use; clients sharing a registry
 * share them).
 *
 * @param service - the label
 * @param registry - where the counters live (default prom-client's global registry)
 * @returns an observer that counts
 * @example
 * ```ts
 * const observer = clientHedgeCounters("weather");
 * observer.sent();
 * ```
 */
export function clientHedgeCounters(service: string, registry: Registry = globalRegistry): HedgeObserver {
  const sent = counter(registry, CLIENT_HEDGES_SENT).labels({ service });
  const won = counter(registry, CLIENT_HEDGES_WON).labels({ service });
  const exhausted = counter(registry, CLIENT_HEDGE_BUDGET_EXHAUSTED).labels({ service });
  return {
    sent: () => sent.inc(),
    won: () => won.inc(),
    exhausted: () => exhausted.inc(),
  };
}
