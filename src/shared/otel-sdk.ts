/**
 * The OpenTelemetry SDK, loaded by ./telemetry.ts only when tracing is on: a NodeTracerProvider
 * (AsyncLocalStorage context, so a span is the parent of whatever its callback awaits), batch
 * export to OTLP/HTTP (or the exporter given), and bullmq-otel for BullMQ's job spans.
 */
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { BullMQOtel } from 'bullmq-otel';
import { VERSION } from './version.js';
import type { TracingOptions, TracingRuntime } from './telemetry-types.js';

/** The tracer's (and bullmq-otel's) instrumentation scope. */
const SCOPE = 'fleetcmd';

export function startOtel(opts: TracingOptions): TracingRuntime {
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      'service.name': opts.serviceName,
      'service.version': VERSION,
    }),
    // Batch size and delay from OTEL_BSP_* (defaults: 512 spans or 5 s).
    spanProcessors: [new BatchSpanProcessor(opts.exporter ?? new OTLPTraceExporter())],
  });
  provider.register();
  const tracer = trace.getTracer(SCOPE, VERSION);
  return {
    telemetry: new BullMQOtel({ tracerName: SCOPE, version: VERSION }),
    span: (name, attributes, fn) =>
      tracer.startActiveSpan(name, { attributes }, async (span) => {
        try {
          return await fn();
        } catch (err) {
          span.recordException(err instanceof Error ? err : String(err));
          span.setStatus({ code: SpanStatusCode.ERROR });
          throw err;
        } finally {
          span.end();
        }
      }),
    shutdown: async () => {
      await provider.shutdown();
      trace.disable();
    },
  };
}
