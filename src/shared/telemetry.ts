/**
 * OpenTelemetry traces, off unless OTEL_EXPORTER_OTLP_ENDPOINT is set. This module loads no
 * OpenTelemetry code: startTracing imports the SDK (./otel-sdk.ts) only when tracing is
 * turned on, and while it is off `withSpan` is a plain call and `bullTelemetry` is undefined,
 * so BullMQ gets no telemetry option at all (docs/operations.md#traces).
 */
import type { Telemetry } from 'bullmq';
import type { SpanAttributes, TracingOptions, TracingRuntime } from './telemetry-types.js';

export type { SpanAttributes, TracingOptions, TracingRuntime };

let runtime: TracingRuntime | undefined;

/**
 * Turns tracing on for this process (once; later calls return the same runtime). Must run
 * before the queues and workers are made: they read `bullTelemetry()` when constructed.
 */
export async function startTracing(opts: TracingOptions): Promise<TracingRuntime> {
  if (runtime) return runtime;
  const { startOtel } = await import('./otel-sdk.js');
  runtime = startOtel(opts);
  return runtime;
}

/** Turns tracing off again, after exporting what is buffered (tests; process shutdown). */
export async function stopTracing(): Promise<void> {
  const r = runtime;
  runtime = undefined;
  await r?.shutdown();
}

/** BullMQ's `telemetry` option while tracing is on; undefined (no option) while it is off. */
export function bullTelemetry(): Telemetry | undefined {
  return runtime?.telemetry;
}

/** `fn` inside a span while tracing is on; while it is off, just `fn()`. */
export function withSpan<T>(
  name: string,
  attributes: SpanAttributes,
  fn: () => Promise<T>,
): Promise<T> {
  return runtime ? runtime.span(name, attributes, fn) : fn();
}
