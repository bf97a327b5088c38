// OpenTelemetry spans of workflows, steps and transactions, and traceparent propagation through stored workflows.
import {
  ROOT_CONTEXT,
  SpanStatusCode,
  TraceFlags,
  context as otelContext,
  isSpanContextValid,
  trace,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';

/**
 * OpenTelemetry spans through `@opentelemetry/api`. Without a registered tracer provider the API
 * hands out non-recording spans, so tracing costs a few no-op calls; with one (any OTLP exporter
 * the app configures), every workflow, step attempt and transaction attempt becomes a span.
 */
const tracer = trace.getTracer('@strata/transact');

/** Starts a span under the active one, or under `parent` (a span, or a stored traceparent) when given. */
export function startSpan(name: string, attributes: Attributes, parent?: Span | string | null): Span {
  return tracer.startSpan(name, { attributes }, parentContext(parent));
}

function parentContext(parent: Span | string | null | undefined): Context {
  if (parent === undefined || parent === null) return otelContext.active();
  if (typeof parent !== 'string') return trace.setSpan(otelContext.active(), parent);
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(parent);
  if (!match) return otelContext.active();
  const spanContext = { traceId: match[1]!, spanId: match[2]!, traceFlags: parseInt(match[3]!, 16) as TraceFlags, isRemote: true };
  return isSpanContextValid(spanContext) ? trace.setSpanContext(ROOT_CONTEXT, spanContext) : otelContext.active();
}

/**
 * The W3C traceparent of the active span (stored with a workflow started or enqueued under it,
 * so the workflow's spans join that trace wherever it runs), or null when no trace is active.
 */
export function activeTraceParent(): string | null {
  const spanContext = trace.getActiveSpan()?.spanContext();
  if (!spanContext || !isSpanContextValid(spanContext)) return null;
  return `00-${spanContext.traceId}-${spanContext.spanId}-${(spanContext.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
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
