/**
 * The W3C propagator's view of a {@link HeaderList} (`[name, value, ...]`): read and write trace
 * headers in place, names compared without case.
 *
 * @module
 */
import type { TextMapGetter, TextMapSetter } from "@opentelemetry/api";
import { type HeaderList, headerValue } from "../protocol/index.js";

/**
 * Reads trace headers (`traceparent`, `tracestate`, `baggage`) from a header list.
 *
 * @example
 * ```ts
 * const parent = propagation.extract(ROOT_CONTEXT, request.headers, headerListGetter);
 * ```
 */
export const headerListGetter: TextMapGetter<HeaderList> = {
  keys(carrier) {
    const names: string[] = [];
    for (let i = 0; i < carrier.length; i += 2) names.push(carrier[i]!);
    return names;
  },
  get: headerValue,
};

/**
 * Writes a trace header into a header list: replaces the first value of that name (any case, the
 * name keeps its case), drops further values of it, or appends it.
 *
 * @example
 * ```ts
 * propagation.inject(trace.setSpan(ctx, span), headers, headerListSetter);
 * ```
 */
export const headerListSetter: TextMapSetter<HeaderList> = {
  set(carrier, key, value) {
    const lower = key.toLowerCase();
    let found = false;
    for (let i = 0; i < carrier.length; ) {
      if (carrier[i]!.toLowerCase() !== lower) {
        i += 2;
      } else if (!found) {
        carrier[i + 1] = value;
        found = true;
        i += 2;
      } else {
        carrier.splice(i, 2);
      }
    }
    if (!found) carrier.push(key, value);
  },
};
