// The record layer on each engine: typed records whose value and count indexes stay exact in the
// same transaction (checked against a recomputation after random operation sequences, also
// concurrent ones), index scans by range, and an online, resumable index build as a workflow.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { Strata } from '@strata/transact';
import { ERROR_KINDS, StrataError } from '@strata/store';
import { declaredKind, engines, exportedErrorClasses } from '@strata/testing';
import * as directoryLayer from '../src/directory/index.js';
import * as recordLayer from '../src/records/index.js';
import * as subspaceLayer from '../src/subspace/index.js';
import * as tupleLayer from '../src/tuple/index.js';
import {
  compareBytes,
  defineRecordType,
  IndexNotReadyError,
  indexBuildWorkflow,
  InvalidRecordError,
  InvalidRecordTypeError,
  pack,
  RecordExistsError,
  RecordNotFoundError,
  RecordStore,
  Subspace,
  UnknownIndexError,
  type Fields,
  type KvDatabase,
  type RecordOfType,
  type RecordType,
} from '../src/index.js';
import { openTestKv, type TestKv } from './layers-helpers.js';

const baseIndexes = [
  { name: 'by_email', kind: 'value', fields: ['email'] },
  { name: 'per_city', kind: 'count', groupBy: ['city'] },
  { name: 'total', kind: 'count', groupBy: [] },
] as const;
const fields = { id: 'string', email: 'string', city: { type: 'string', nullable: true }, age: 'int', score: 'double' } as const;

const user = defineRecordType({ name: 'user', fields, primaryKey: ['id'], indexes: baseIndexes });
/** The same type with one more index, as a later release of an app would declare it. */
const userWithAgeIndex = defineRecordType({
  name: 'user',
  fields,
  primaryKey: ['id'],
  indexes: [...baseIndexes, { name: 'by_city_age', kind: 'value', fields: ['city', 'age'] }],
});
type User = RecordOfType<typeof user>;

const ada: User = { id: 'ada', email: 'ada@example.com', city: 'London', age: 36, score: 9.5 };
const bob: User = { id: 'bob', email: 'bob@example.com', city: 'Paris', age: 17, score: 2 };
const cyd: User = { id: 'cyd', email: 'cyd@example.com', city: 'London', age: 52, score: -1.25 };

let subspaceCounter = 0;
/** A store in a subspace of its own, so tests sharing a database do not see each other. */
function freshStore<F extends Fields>(type: RecordType<F>, subspace = new Subspace(['records-test', subspaceCounter++])): RecordStore<F> {
  return new RecordStore(subspace, type);
}

/** Every index of `store` equals what the records say it should be. */
async function assertIndexesExact(kv: KvDatabase, store: RecordStore<typeof fields>): Promise<void> {
  await kv.transact(async (tr) => {
    const records = await store.scan(tr);
    for (const index of store.type.indexes) {
      if ((await store.indexStatus(tr, index.name)) !== 'readable') continue;
      if (index.kind === 'value') {
        const expected = records
          .map((record) => ({ values: index.fields.map((field) => record[field]), primaryKey: [record.id] }))
          // No value index here covers a double field, so the values pack as the index packs them.
          .sort((a, b) => compareBytes(pack([...a.values, ...a.primaryKey]), pack([...b.values, ...b.primaryKey])));
        assert.deepEqual(await store.scanIndex(tr, index.name), expected, `value index ${index.name}`);
      } else {
        const counts = new Map<string, { group: unknown[]; count: number }>();
        for (const record of records) {
          const group = index.groupBy.map((field) => record[field]);
          const key = Buffer.from(pack(group as never)).toString('hex');
          counts.set(key, { group, count: (counts.get(key)?.count ?? 0) + 1 });
        }
        const expected = [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, entry]) => entry);
        assert.deepEqual(await store.counts(tr, index.name), expected, `count index ${index.name}`);
      }
    }
  });
}

test('every error class of the layers (tuple, subspace, directory, records) extends StrataError and declares its kind', () => {
  const classes = [tupleLayer, subspaceLayer, directoryLayer, recordLayer].flatMap((layer) => exportedErrorClasses(layer as Record<string, unknown>));
  assert.ok(classes.length >= 13, `found ${classes.length} error classes`);
  for (const [name, errorClass] of classes) {
    assert.ok(errorClass.prototype instanceof StrataError, `${name} does not extend StrataError`);
    assert.ok((ERROR_KINDS as readonly unknown[]).includes(declaredKind(errorClass)), `${name} declares no kind`);
  }
});

describe('record types', () => {
  test('a definition that names undeclared fields, lacks a key or repeats an index name is refused', () => {
    const refused = [
      { name: 'x', fields: { id: 'string' }, primaryKey: [] },
      { name: 'x', fields: { id: 'string' }, primaryKey: ['nope'] },
      { name: 'x', fields: { id: { type: 'string', nullable: true } }, primaryKey: ['id'] },
      { name: 'x', fields: { id: 'text' }, primaryKey: ['id'] },
      { name: 'x', fields: { id: 'string' }, primaryKey: ['id'], indexes: [{ name: 'i', kind: 'value', fields: ['missing'] }] },
      { name: 'x', fields: { id: 'string' }, primaryKey: ['id'], indexes: [{ name: 'i', kind: 'count', groupBy: [] }, { name: 'i', kind: 'count', groupBy: [] }] },
      { name: 'x', fields: { id: 'string' }, primaryKey: ['id'], indexes: [{ name: 'i', kind: 'value', fields: [] }] },
    ];
    for (const definition of refused) {
      assert.throws(() => defineRecordType(definition as never), InvalidRecordTypeError, JSON.stringify(definition));
    }
  });

  test('a record with a missing, extra or mistyped field is an InvalidRecordError naming the field', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ ...ada, age: undefined }, /missing field "age"/],
      [{ ...ada, nickname: 'A' }, /field "nickname", which the type does not declare/],
      [{ ...ada, age: 3.5 }, /field "age", which must be an int/],
      [{ ...ada, email: null }, /null in field "email"/],
      [{ ...ada, score: '1' }, /field "score", which must be a double/],
      ['ada', /must be an object/],
    ];
    for (const [record, message] of cases) {
      assert.throws(() => user.validate(record), (error: unknown) => {
        assert.ok(error instanceof InvalidRecordError);
        assert.equal(error.code, 'STRATA_KV_INVALID_RECORD');
        assert.match(error.message, message);
        return true;
      });
    }
  });
});

for (const kind of engines()) {
  describe(`record store (${kind})`, () => {
    let opened: TestKv;
    let kv: KvDatabase;
    before(async () => {
      opened = await openTestKv(kind);
      kv = opened.kv;
    });
    after(async () => {
      await opened.close();
    });

    test('insert, load, update, save and delete keep every index exact', async () => {
      const users = freshStore(user);
      await kv.transact(async (tr) => {
        await users.insert(tr, ada);
        await users.insert(tr, bob);
      });
      assert.deepEqual(await kv.transact((tr) => users.load(tr, ['ada'])), ada);
      await assertIndexesExact(kv, users);
      assert.equal(await kv.transact((tr) => users.count(tr, 'per_city', ['London'])), 1);
      assert.equal(await kv.transact((tr) => users.count(tr, 'total')), 2);

      const before = await kv.transact((tr) => users.update(tr, { ...ada, city: 'Paris', email: 'lovelace@example.com' }));
      assert.deepEqual(before, ada);
      assert.equal(await kv.transact((tr) => users.count(tr, 'per_city', ['London'])), 0);
      assert.equal(await kv.transact((tr) => users.count(tr, 'per_city', ['Paris'])), 2);
      assert.deepEqual(await kv.transact((tr) => users.scanIndex(tr, 'by_email', { equals: ['ada@example.com'] })), []);
      await assertIndexesExact(kv, users);

      assert.equal(await kv.transact((tr) => users.save(tr, cyd)), undefined);
      await kv.transact((tr) => users.save(tr, { ...cyd, city: null }));
      assert.equal(await kv.transact((tr) => users.count(tr, 'per_city', [null])), 1);
      assert.deepEqual(await kv.transact((tr) => users.delete(tr, ['bob'])), bob);
      assert.equal(await kv.transact((tr) => users.delete(tr, ['bob'])), undefined);
      assert.equal(await kv.transact((tr) => users.count(tr, 'total')), 2);
      await assertIndexesExact(kv, users);
    });

    test('insert of a taken key and update of a missing one are typed errors and write nothing', async () => {
      const users = freshStore(user);
      await kv.transact((tr) => users.insert(tr, ada));
      await assert.rejects(kv.transact((tr) => users.insert(tr, { ...ada, email: 'other@example.com' })), (error: unknown) => {
        assert.ok(error instanceof RecordExistsError);
        assert.match(error.message, /\["ada"\]/);
        return true;
      });
      await assert.rejects(kv.transact((tr) => users.update(tr, bob)), RecordNotFoundError);
      assert.equal(await kv.transact((tr) => users.count(tr, 'total')), 1);
      await assertIndexesExact(kv, users);
    });

    test('index scans read a range of values, in order, with limit and reverse', async () => {
      const users = freshStore(userWithAgeIndex);
      await kv.transact(async (tr) => {
        for (const record of [ada, bob, cyd, { ...bob, id: 'dee', email: 'dee@example.com', age: 40 }]) await users.insert(tr, record);
      });
      const ids = (entries: Array<{ primaryKey: unknown[] }>) => entries.map((entry) => entry.primaryKey[0]);
      assert.deepEqual(ids(await kv.transact((tr) => users.scanIndex(tr, 'by_city_age', { equals: ['London'] }))), ['ada', 'cyd']);
      assert.deepEqual(ids(await kv.transact((tr) => users.scanIndex(tr, 'by_city_age', { from: ['London', 40], to: ['Paris', 40] }))), ['cyd', 'bob']);
      assert.deepEqual(ids(await kv.transact((tr) => users.scanIndex(tr, 'by_city_age', { reverse: true, limit: 2 }))), ['dee', 'bob']);
      const entry = (await kv.transact((tr) => users.scanIndex(tr, 'by_city_age', { limit: 1 })))[0];
      assert.deepEqual(entry, { values: ['London', 36], primaryKey: ['ada'] });
      assert.deepEqual(await kv.transact((tr) => users.scanIndexRecords(tr, 'by_email', { from: ['c'] })), [cyd, { ...bob, id: 'dee', email: 'dee@example.com', age: 40 }]);
      await assert.rejects(kv.transact((tr) => users.scanIndex(tr, 'per_city')), UnknownIndexError);
      await assert.rejects(kv.transact((tr) => users.count(tr, 'nope')), UnknownIndexError);
      await assert.rejects(kv.transact((tr) => users.scanIndex(tr, 'by_city_age', { from: [7] })), InvalidRecordError);
    });

    test('an index added to a store with records is refused for reads until built, then exact', async () => {
      const subspace = new Subspace(['records-test', subspaceCounter++]);
      const v1 = freshStore(user, subspace);
      await kv.transact(async (tr) => {
        for (let i = 0; i < 25; i++) await v1.insert(tr, { ...ada, id: `u${String(i).padStart(2, '0')}`, email: `u${i}@example.com`, age: i % 7, city: i % 3 === 0 ? null : 'Rome' });
      });
      const v2 = freshStore(userWithAgeIndex, subspace);
      assert.equal(await kv.transact((tr) => v2.indexStatus(tr, 'by_city_age')), 'building');
      assert.equal(await kv.transact((tr) => v2.indexStatus(tr, 'by_email')), 'readable');
      await assert.rejects(kv.transact((tr) => v2.scanIndex(tr, 'by_city_age')), IndexNotReadyError);

      // Writes go on between batches: before, inside and after the part already built.
      const first = await kv.transact((tr) => v2.buildIndexBatch(tr, 'by_city_age', { batchSize: 10 }));
      assert.deepEqual(first, { done: false, recordsIndexed: 10 });
      await kv.transact(async (tr) => {
        await v2.update(tr, { ...ada, id: 'u03', email: 'u3@example.com', age: 99, city: 'Oslo' }); // built part
        await v2.update(tr, { ...ada, id: 'u09', email: 'u9@example.com', age: 98, city: 'Oslo' }); // the last record built
        await v2.delete(tr, ['u20']); // not built yet
        await v2.insert(tr, { ...ada, id: 'u00a', email: 'new@example.com', age: 1, city: 'Rome' }); // inside the built part
        await v2.insert(tr, { ...ada, id: 'zz', email: 'zz@example.com', age: 2, city: 'Rome' }); // past the end
      });
      const report = await v2.buildIndex(kv, 'by_city_age', { batchSize: 10 });
      assert.ok(report.batches >= 2, `built in ${report.batches} more batches`);
      assert.equal(await kv.transact((tr) => v2.indexStatus(tr, 'by_city_age')), 'readable');
      await assertIndexesExact(kv, v2);
      assert.deepEqual(await kv.transact((tr) => v2.buildIndexBatch(tr, 'by_city_age')), { done: true, recordsIndexed: 0 });
    });

    test('a new index of an empty store is readable at once', async () => {
      const users = freshStore(userWithAgeIndex);
      assert.equal(await kv.transact((tr) => users.indexStatus(tr, 'by_city_age')), 'readable');
      await kv.transact((tr) => users.insert(tr, ada));
      assert.equal(await kv.transact((tr) => users.indexStatus(tr, 'by_city_age')), 'readable');
      await assertIndexesExact(kv, users);
    });

    test('the index build runs as a Strata workflow, one step per batch, and the index ends readable', async () => {
      const subspace = new Subspace(['records-test', subspaceCounter++]);
      const v1 = freshStore(user, subspace);
      await kv.transact(async (tr) => {
        for (let i = 0; i < 23; i++) await v1.insert(tr, { ...bob, id: `w${String(i).padStart(2, '0')}`, email: `w${i}@example.com`, age: i });
      });
      const v2 = freshStore(userWithAgeIndex, subspace);
      const strata = new Strata({ database: opened.database });
      const build = indexBuildWorkflow(strata, { database: kv, stores: { users: v2 }, batchSize: 5 });
      await strata.launch();
      try {
        const report = await build.with({ workflowId: `build-${kind}-${subspaceCounter}` }).run('users', 'by_city_age');
        assert.deepEqual(report, { batches: 5, recordsIndexed: 23 });
        const steps = await strata.workflows.steps(`build-${kind}-${subspaceCounter}`);
        assert.deepEqual(steps.map((step) => step.name), Array(5).fill('index batch'));
        // Running it again is a no-op: the workflow ID already finished, and the index is readable.
        assert.deepEqual(await build.with({ workflowId: `build-${kind}-${subspaceCounter}` }).run('users', 'by_city_age'), report);
      } finally {
        await strata.shutdown();
      }
      await assertIndexesExact(kv, v2);
    });

    test('property: after random operation sequences (some concurrent), every index equals a recomputation from the records', () =>
      indexesMatchRecordsAfterRandomOperations(kv, kind === 'pglite' ? 25 : 15));
  });
}

/**
 * Random rounds of concurrent transactions of inserts, saves, updates and deletes; half way a
 * "new release" adds by_city_age and builds it one record per round; at the end every index must
 * equal a recomputation from the records.
 */
async function indexesMatchRecordsAfterRandomOperations(kv: KvDatabase, numRuns: number): Promise<void> {
  const id = fc.constantFrom('a', 'b', 'c', 'd', 'e');
  const record = fc.record({
    id,
    email: fc.constantFrom('x@e', 'y@e', 'z@e'),
    city: fc.constantFrom(null, 'London', 'Paris'),
    age: fc.integer({ min: 0, max: 3 }),
    score: fc.constantFrom(0, 0.5, -2, 1e9),
  });
  const op = fc.oneof(
    record.map((r) => ({ op: 'insert' as const, record: r })),
    record.map((r) => ({ op: 'save' as const, record: r })),
    record.map((r) => ({ op: 'update' as const, record: r })),
    id.map((key) => ({ op: 'delete' as const, key })),
  );
  // Rounds of transactions that run at the same time; each transaction is a few operations.
  const rounds = fc.array(fc.array(fc.array(op, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }), { minLength: 2, maxLength: 8 });
  await fc.assert(
    fc.asyncProperty(rounds, fc.boolean(), async (plan, buildLater) => {
      const subspace = new Subspace(['records-test', subspaceCounter++]);
      const early = freshStore(buildLater ? user : userWithAgeIndex, subspace);
      const late = freshStore(userWithAgeIndex, subspace);
      for (const [roundNumber, round] of plan.entries()) {
        // Half way, a "new release" adds by_city_age and builds it a small batch at a time.
        const store = roundNumber * 2 < plan.length ? early : late;
        await Promise.all(
          round.map((ops) =>
            kv
              .transact(async (tr) => {
                for (const step of ops) {
                  if (step.op === 'insert') await store.insert(tr, step.record);
                  else if (step.op === 'save') await store.save(tr, step.record);
                  else if (step.op === 'update') await store.update(tr, step.record);
                  else await store.delete(tr, [step.key]);
                }
              })
              .catch((error: unknown) => {
                if (!(error instanceof RecordExistsError || error instanceof RecordNotFoundError)) throw error;
              }),
          ),
        );
        if (store === late) await kv.transact((tr) => late.buildIndexBatch(tr, 'by_city_age', { batchSize: 1 }));
      }
      await late.buildIndex(kv, 'by_city_age', { batchSize: 2 });
      await assertIndexesExact(kv, late);
    }),
    { numRuns },
  );
}

for (const kind of engines()) {
  describe(`record store with serializable SQL snapshots (${kind})`, () => {
    let opened: TestKv;
    before(async () => {
      opened = await openTestKv(kind, { isolation: 'serializable' });
    });
    after(async () => {
      await opened.close();
    });

    test('property: indexes equal a recomputation from the records after random operations', () => indexesMatchRecordsAfterRandomOperations(opened.kv, 10));
  });
}
