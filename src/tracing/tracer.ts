/**
 * natsmesh's tracer, or none: the one check every request path makes before it does any tracing work.
 *
 * @module
 */

import { ProxyTracerProvider, type Tracer, type TracerProvider, trace } from "@opentelemetry/api";
import { packageVersion } from "../version.js";

/** Instrumentation scope name of natsmesh's spans. */
export const TRACER_NAME = "natsmesh";

/** What `ProxyTracerProvider.getDelegate()` returns while no provider is registered. */
const NOOP_PROVIDER: TracerProvider = new ProxyTracerProvider().getDelegate();

let lastDelegate: TracerProvider | undefined;
let lastTracer: Tracer | undefined;
let version: string | undefined;

function isNoop(provider: TracerProvider): boolean {
  // The name check covers a second copy of @opentelemetry/api, whose no-op provider is another object.
  return provider === NOOP_PROVIDER || provider.constructor?.name === "NoopTracerProvider";
}

/**
 * The tracer of the globally registered OpenTelemetry provider, or `undefined` when none is
 * registered. The API has no "is a provider registered" call; this looks at the delegate of the
 * global proxy provider, so a provider registered (or disabled) at any time is seen at the next
 * request. Without one the cost is a global lookup and a method call: no span object, no context.
 *
 * @returns the `natsmesh` tracer, or `undefined`
 * @example
 * ```ts
 * const tracer = meshTracer();
 * if (tracer !== undefined) tracer.startSpan("GET weather").end();
 * ```
 */
export function meshTracer(): Tracer | undefined {
  const provider = trace.getTracerProvider();
  const delegate =
    typeof (provider as ProxyTracerProvider).getDelegate === "function"
      ? (provider as ProxyTracerProvider).getDelegate()
      : provider;
  if (delegate === NOOP_PROVIDER) return undefined;
  if (delegate !== lastDelegate) {
    version ??= packageVersion();
    lastTracer = isNoop(delegate) ? undefined : delegate.getTracer(TRACER_NAME, version);
    lastDelegate = delegate;
  }
  return lastTracer;
}
