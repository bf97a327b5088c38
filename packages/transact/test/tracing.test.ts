// OpenTelemetry: spans for workflows, step attempts and transaction attempts, with their
// attributes; children nested under their parent; the workflow-bound logger.
// Uses the real OpenTelemetry SDK with an in-memory exporter.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Strata, StrataClient, type Logger } from '@strata/transact';
import { engines, freshDatabaseUrl } from '@strata/testing';
import { uniqueId, WAIT_MS } from './helpers.js';

const exporter = new InMemorySpanExporter();

function spansOf(workflowId: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((span) => span.attributes['strata.workflow.id'] === workflowId);
}

const kind = engines()[0]!;

describe(`OpenTelemetry spans (${kind})`, () => {
  let strata: Strata;
  const lines: string[] = [];
  const logger: Logger = { info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) };
  let attemptsLeft = 1;

  before(async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    strata = new Strata({ database: await freshDatabaseUrl(kind), logger, executorId: uniqueId('tracing') });
    const child = strata.workflow('traced-child', async (ctx, n: number) => ctx.step('double', () => n * 2));
    strata.workflow('traced', async (ctx, n: number) => {
      ctx.logger.info('starting');
      const flaky = await ctx.step(
        'flaky',
        () => {
          if (attemptsLeft-- > 0) throw new Error('first attempt fails');
          return n;
        },
        { retry: { maxAttempts: 2, intervalMs: 1 } },
      );
      await ctx.transaction('write', (tx) => tx.query('select 1'));
      return flaky + (await child.run(n));
    });
    await strata.launch();
  });
  after(async () => {
    await strata?.shutdown({ timeoutMs: 0 });
    trace.disable();
    context.disable();
  });

  test('a workflow, each step attempt and each transaction get spans with their IDs, step numbers and attempts', async () => {
    const id = uniqueId('traced');
    assert.equal(await (await strata.startByName('traced', [5], { workflowId: id })).result({ timeoutMs: WAIT_MS }), 15);
    const spans = spansOf(id);
    const workflow = spans.find((s) => s.name === 'workflow traced');
    assert.ok(workflow, `no workflow span among ${spans.map((s) => s.name).join(', ')}`);
    assert.equal(workflow.attributes['strata.workflow.name'], 'traced');
    assert.equal(workflow.attributes['strata.executor.id'], strata.executorId);

    const attempts = spans.filter((s) => s.name === 'step flaky').sort((a, b) => Number(a.attributes['strata.step.attempt']) - Number(b.attributes['strata.step.attempt']));
    assert.deepEqual(attempts.map((s) => [s.attributes['strata.step.id'], s.attributes['strata.step.attempt'], s.status.code]), [[0, 1, 2], [0, 2, 0]]);
    assert.equal(attempts[0]!.events.some((e) => e.name === 'exception'), true, 'the failed attempt records its exception');
    const tx = spans.find((s) => s.name === 'transaction write');
    assert.ok(tx);
    assert.equal(tx.attributes['strata.step.id'], 1);
    assert.equal(tx.attributes['strata.step.kind'], 'transaction');
    for (const span of [...attempts, tx]) {
      assert.equal(span.spanContext().traceId, workflow.spanContext().traceId);
      assert.equal(span.parentSpanContext?.spanId, workflow.spanContext().spanId, `${span.name} nests under the workflow span`);
    }
  });

  test('a child workflow span nests under its parent workflow span', async () => {
    const id = uniqueId('traced');
    await (await strata.startByName('traced', [1], { workflowId: id })).result({ timeoutMs: WAIT_MS });
    const parent = spansOf(id).find((s) => s.name === 'workflow traced')!;
    const childSpan = exporter.getFinishedSpans().find((s) => s.name === 'workflow traced-child' && s.parentSpanContext?.spanId === parent.spanContext().spanId);
    assert.ok(childSpan, 'the child workflow span has the parent workflow span as parent');
    assert.equal(childSpan.spanContext().traceId, parent.spanContext().traceId);
    const childStep = exporter.getFinishedSpans().find((s) => s.name === 'step double' && s.parentSpanContext?.spanId === childSpan.spanContext().spanId);
    assert.ok(childStep);
  });

  test('ctx.logger names the workflow and records the line as a span event', async () => {
    const id = uniqueId('traced');
    await (await strata.startByName('traced', [2], { workflowId: id })).result({ timeoutMs: WAIT_MS });
    assert.ok(lines.includes(`info [workflow ${id}] starting`), `log lines: ${lines.join(' | ')}`);
    const workflow = spansOf(id).find((s) => s.name === 'workflow traced')!;
    assert.ok(workflow.events.some((e) => e.name === 'starting' && e.attributes?.['log.level'] === 'info'));
  });
});

describe(`trace context stored with the workflow (${kind})`, () => {
  // Shares the provider registered above; these run after that block, in the same process.
  test('a child enqueued on a queue, and a workflow enqueued by a client inside a span, join the enqueuing trace', async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    const url = await freshDatabaseUrl(kind);
    const strata = new Strata({ database: url, logger: { info() {}, warn() {}, error() {} }, executorId: uniqueId('tracing-q') });
    const child = strata.workflow('queued-child', async (ctx, n: number) => ctx.step('inc', () => n + 1));
    const queue = strata.queue('trace-q');
    strata.workflow('enqueuer', async (ctx) => (await queue.enqueue(child, 1)).result());
    await strata.launch();
    const client = await StrataClient.connect({ database: kind === 'pglite' ? strata.systemDatabase : url });
    try {
      const parentId = uniqueId('enqueuer');
      assert.equal(await (await strata.startByName('enqueuer', [], { workflowId: parentId })).result({ timeoutMs: WAIT_MS }), 2);
      const parent = spansOf(parentId).find((s) => s.name === 'workflow enqueuer')!;
      const queuedSpan = exporter.getFinishedSpans().find((s) => s.name === 'workflow queued-child' && s.spanContext().traceId === parent.spanContext().traceId);
      assert.ok(queuedSpan, 'the queued child ran in the parent trace');
      assert.equal(queuedSpan.parentSpanContext?.spanId, parent.spanContext().spanId);

      const request = trace.getTracer('test').startSpan('POST /signup');
      const handle = await context.with(trace.setSpan(context.active(), request), () =>
        client.enqueue<number>({ workflow: 'queued-child', queue: 'trace-q', workflowId: uniqueId('from-client') }, 10),
      );
      request.end();
      assert.equal(await handle.result({ timeoutMs: WAIT_MS }), 11);
      const fromClient = spansOf(handle.workflowId).find((s) => s.name === 'workflow queued-child')!;
      assert.equal(fromClient.spanContext().traceId, request.spanContext().traceId, 'the workflow joined the request trace');
      assert.equal(fromClient.parentSpanContext?.spanId, request.spanContext().spanId);
    } finally {
      await client.close();
      await strata.shutdown({ timeoutMs: 0 });
      trace.disable();
      context.disable();
    }
  });
});
