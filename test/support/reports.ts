/**
 * An instance's insight report (PROTOCOL.md §12) for tests that publish reports by hand: every field
 * valid, an idle instance with no methods, overridden where a test needs more.
 */
import { type InstanceReport, REPORT_VERSION } from "../../src/insight/report.js";

/**
 * A report of instance `id` of `service`.
 *
 * @param overrides - the fields that differ (interval, limit, methods, `out`, `bye`...)
 * @returns a report `parseReport` accepts
 * @example
 * ```ts
 * nc.publish(reportSubject("svc", "a"), JSON.stringify(testReport("svc", "a", { interval: 40 })));
 * ```
 */
export function testReport(
  service: string,
  id: string,
  overrides: Partial<InstanceReport> = {},
): InstanceReport {
  return {
    v: REPORT_VERSION,
    service,
    id,
    version: "1.0.0",
    prefix: "mesh",
    started: new Date().toISOString(),
    seq: 0,
    interval: 1000,
    server: { name: "n1" },
    limit: 10,
    inFlight: 0,
    queued: 0,
    out: false,
    busy: 0,
    cancelled: 0,
    malformed: 0,
    bounds: [],
    methods: {},
    ...overrides,
  };
}
