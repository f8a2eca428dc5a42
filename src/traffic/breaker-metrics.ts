/**
 * The circuit state of each service as a Prometheus gauge.
 *
 * @module
 */
import { Gauge, register as globalRegistry, type Registry } from "prom-client";
import type { CircuitState } from "./breaker.js";

/** Name of the client's gauge: `natsmesh_client_circuit_state{service}` (0 closed, 1 half-open, 2 open). */
export const CLIENT_CIRCUIT_GAUGE = "natsmesh_client_circuit_state";
/** Name of the gateway's gauge: `natsmesh_gateway_circuit_state{service}`. */
export const GATEWAY_CIRCUIT_GAUGE = "natsmesh_gateway_circuit_state";

const gauges = new WeakMap<Registry, Map<string, Gauge<"service">>>();

/**
 * The circuit-state gauge called `name` in `registry`, created on first use (several clients
 * sharing a registry share the gauge; the last state reported for a service wins).
 *
 * @param registry - where the gauge lives (default prom-client's global registry)
 * @param name - {@link CLIENT_CIRCUIT_GAUGE} or {@link GATEWAY_CIRCUIT_GAUGE}
 * @returns a function that sets a service's state
 * @example
 * ```ts
 * const report = circuitGauge(registry, CLIENT_CIRCUIT_GAUGE);
 * report("weather", CircuitState.Open);
 * ```
 */
export function circuitGauge(
  registry: Registry = globalRegistry,
  name: string = CLIENT_CIRCUIT_GAUGE,
): (service: string, state: CircuitState) => void {
  let byName = gauges.get(registry);
  if (!byName) {
    byName = new Map();
    gauges.set(registry, byName);
  }
  let gauge = byName.get(name);
  if (!gauge) {
    gauge =
      (registry.getSingleMetric(name) as Gauge<"service"> | undefined) ??
      new Gauge({
        name,
        help: "Circuit breaker state per service: 0 closed, 1 half-open (probing), 2 open (failing fast)",
        labelNames: ["service"],
        registers: [registry],
      });
    byName.set(name, gauge);
  }
  const g = gauge;
  return (service, state) => g.set({ service }, state);
}
