/** The types ./telemetry.ts and the lazily loaded ./otel-sdk.ts share. */
import type { Telemetry } from 'bullmq';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';

/** Attributes of a span: plain values only. */
export type SpanAttributes = Record<string, string | number | boolean>;

/** What the SDK module gives once tracing is on. */
export interface TracingRuntime {
  /** BullMQ's telemetry option (bullmq-otel): its job spans, with context carried in the job. */
  telemetry: Telemetry;
  /** Runs `fn` in a new span, the active one while `fn` runs; ends it when `fn` settles. */
  span<T>(name: string, attributes: SpanAttributes, fn: () => Promise<T>): Promise<T>;
  /** Exports what is still buffered and stops. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** `service.name` of this process's spans. */
  serviceName: string;
  /** Where spans go. @default the OTLP/HTTP exporter, configured by the OTEL_EXPORTER_OTLP_* variables */
  exporter?: SpanExporter;
}
