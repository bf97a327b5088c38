import { SpanStatusCode, context as otelContext, trace, type Attributes, type Span } from '@opentelemetry/api';

/**
 * OpenTelemetry spans through `@opentelemetry/api`. Without a registered tracer provider the API
 * hands out non-recording spans, so tracing costs a few no-op calls; with one (any OTLP exporter
 * the app configures), every workflow, step attempt and transaction attempt becomes a span.
 */
const tracer = trace.getTracer('@strata/transact');

/** Starts a span under the active one (or under `parent` when given). */
export function startSpan(name: string, attributes: Attributes, parent?: Span): Span {
  const base = parent ? trace.setSpan(otelContext.active(), parent) : otelContext.active();
  return tracer.startSpan(name, { attributes }, base);
}

/** Runs `fn` with `span` active (so spans started inside nest under it). */
export function withSpan<T>(span: Span, fn: () => T): T {
  return otelContext.with(trace.setSpan(otelContext.active(), span), fn);
}

/** Ends `span` as failed with `error`. */
export function endFailed(span: Span, error: unknown): void {
  if (span.isRecording()) {
    span.recordException(error instanceof Error ? error : new Error(String(error)));
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message ?? String(error) });
  }
  span.end();
}

/** Runs `fn` in a new span that ends with its outcome. */
export async function inSpan<T>(name: string, attributes: Attributes, fn: () => Promise<T>): Promise<T> {
  const span = startSpan(name, attributes);
  try {
    const value = await withSpan(span, fn);
    span.end();
    return value;
  } catch (error) {
    endFailed(span, error);
    throw error;
  }
}

/** Adds a log line to the active span as an event. */
export function spanEvent(message: string, attributes: Attributes): void {
  const span = trace.getActiveSpan();
  if (span?.isRecording()) span.addEvent(message, attributes);
}
