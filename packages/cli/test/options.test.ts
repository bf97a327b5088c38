// Flag parsing: every malformed value is a UsageError (exit 2) whose message names the valid values.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ExitCode, UsageError, exitCodeOf } from '../src/errors.js';
import {
  parseAttributes,
  parseListOptions,
  parsePort,
  parseQueueConfig,
  parseRateLimit,
  parseStatuses,
  parseTime,
  parseWholeNumber,
  parseWorkflowFilter,
  resolveDatabase,
} from '../src/options.js';

/** Asserts `fn` throws a UsageError whose message contains every one of `parts`. */
function assertUsage(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof UsageError, `expected a UsageError, got ${String(error)}`);
    assert.equal(exitCodeOf(error), ExitCode.usage);
    for (const part of parts) assert.ok(error.message.includes(part), `"${error.message}" should mention "${part}"`);
    return true;
  });
}

describe('flag parsing', () => {
  test('statuses are comma-separated, case-insensitive and deduplicated', () => {
    assert.deepEqual(parseStatuses('error, Pending,ERROR'), ['ERROR', 'PENDING']);
    assertUsage(() => parseStatuses('SUCCESS,NOPE'), '"NOPE"', 'ENQUEUED, PENDING, SUCCESS, ERROR, CANCELLED');
    assertUsage(() => parseStatuses(''), 'ENQUEUED');
  });

  test('times are ISO 8601 dates or date-times (UTC without a zone) or ages back from now', () => {
    const nowMs = Date.parse('2026-03-10T12:00:00Z');
    assert.equal(parseTime('2026-01-31', '--since', nowMs).toISOString(), '2026-01-31T00:00:00.000Z');
    assert.equal(parseTime('2026-01-31T12:30:05Z', '--since', nowMs).toISOString(), '2026-01-31T12:30:05.000Z');
    assert.equal(parseTime('2026-01-31 12:30', '--since', nowMs).toISOString(), '2026-01-31T12:30:00.000Z');
    assert.equal(parseTime('2026-01-31T12:30:00.25+02:00', '--since', nowMs).toISOString(), '2026-01-31T10:30:00.250Z');
    assert.equal(parseTime('2h', '--since', nowMs).toISOString(), '2026-03-10T10:00:00.000Z');
    assert.equal(parseTime('7d', '--until', nowMs).toISOString(), '2026-03-03T12:00:00.000Z');
    assertUsage(() => parseTime('yesterday', '--since', nowMs), '--since "yesterday"', 'ISO 8601', '2026-01-31', '2h');
    assertUsage(() => parseTime('2026-02-31', '--until', nowMs), '--until');
    assertUsage(() => parseTime('2026-01-31T25:00:00Z', '--since', nowMs), '--since');
    assertUsage(() => parseTime('12/01/2026', '--since', nowMs), '--since');
  });

  test('a filter maps every flag, says whether it narrows, and wants --since before --until', () => {
    const nowMs = Date.parse('2026-03-10T12:00:00Z');
    const { filter, narrowed } = parseWorkflowFilter(
      { status: 'error', name: 'checkout', queue: 'q', executor: 'e1', appVersion: 'v2', since: '2026-03-01', until: '1h', prefix: 'order-', attr: ['customer=c-1', 'note=a=b'], parent: 'p' },
      nowMs,
    );
    assert.equal(narrowed, true);
    assert.deepEqual(filter, {
      status: ['ERROR'],
      name: 'checkout',
      queue: 'q',
      executorId: 'e1',
      appVersion: 'v2',
      createdAfter: new Date('2026-03-01T00:00:00Z'),
      createdBefore: new Date('2026-03-10T11:00:00Z'),
      workflowIdPrefix: 'order-',
      attributes: { customer: 'c-1', note: 'a=b' },
      parentWorkflowId: 'p',
    });
    assert.deepEqual(parseWorkflowFilter({ attr: [] }), { filter: {}, narrowed: false });
    assertUsage(() => parseWorkflowFilter({ since: '1h', until: '2h' }, nowMs), '--since', 'before --until');
    assertUsage(() => parseWorkflowFilter({ name: ' ' }), '--name is empty');
  });

  test('attributes are key=value, each key once', () => {
    assert.deepEqual(parseAttributes(['a=1', 'b=']), { a: '1', b: '' });
    assertUsage(() => parseAttributes(['novalue']), 'key=value', '--attr customer=c-42');
    assertUsage(() => parseAttributes(['=x']), 'key=value');
    assertUsage(() => parseAttributes(['a=1', 'a=2']), '--attr a is given twice');
  });

  test('list options: limit 1–1000, cursor, order', () => {
    assert.deepEqual(parseListOptions({ limit: '5', cursor: 'abc', oldest: true }), { limit: 5, cursor: 'abc', order: 'oldest' });
    assert.deepEqual(parseListOptions({}), { order: 'newest' });
    assertUsage(() => parseListOptions({ limit: '0' }), '--limit "0"', 'from 1 to 1000');
    assertUsage(() => parseListOptions({ limit: '1001' }), 'from 1 to 1000');
    assertUsage(() => parseListOptions({ limit: '2.5' }), '--limit');
  });

  test('whole numbers reject signs, fractions and words', () => {
    assert.equal(parseWholeNumber('0', '--from-step', 0), 0);
    assert.equal(parseWholeNumber(' 12 ', '--from-step', 0), 12);
    for (const bad of ['-1', '1.5', 'two', '', '1e3']) assertUsage(() => parseWholeNumber(bad, '--from-step', 0), '--from-step', 'whole number ≥ 0');
    assert.equal(parsePort('0'), 0);
    assertUsage(() => parsePort('65536'), '--port', 'from 0 to 65535');
  });

  test('queue limits are whole numbers ≥ 1 or none; rate limits are COUNT/PERIOD', () => {
    assert.deepEqual(parseQueueConfig({ concurrency: '4', workerConcurrency: 'none', partitionConcurrency: '1', rateLimit: '100/1s' }), {
      concurrency: 4,
      workerConcurrency: null,
      partitionConcurrency: 1,
      rateLimit: { limit: 100, periodMs: 1_000 },
    });
    assert.deepEqual(parseQueueConfig({}), {});
    assert.deepEqual(parseRateLimit('5/250'), { limit: 5, periodMs: 250 });
    assert.deepEqual(parseRateLimit('5/2m'), { limit: 5, periodMs: 120_000 });
    assert.equal(parseRateLimit('NONE'), null);
    assertUsage(() => parseQueueConfig({ concurrency: '0' }), '--concurrency "0"', 'whole number ≥ 1, or none');
    assertUsage(() => parseRateLimit('100'), '--rate-limit "100"', 'COUNT/PERIOD', '100/1s');
    assertUsage(() => parseRateLimit('0/1s'), '--rate-limit');
    assertUsage(() => parseRateLimit('10/0'), '--rate-limit');
  });

  test('the database comes from --database, then STRATA_DATABASE_URL, then ./.strata', () => {
    assert.equal(resolveDatabase('postgres://a@h/db', { STRATA_DATABASE_URL: 'x' }), 'postgres://a@h/db');
    assert.equal(resolveDatabase(undefined, { STRATA_DATABASE_URL: '/data/strata' }), '/data/strata');
    assert.equal(resolveDatabase(undefined, {}), './.strata');
    assertUsage(() => resolveDatabase('', {}), '--database is empty');
  });
});
