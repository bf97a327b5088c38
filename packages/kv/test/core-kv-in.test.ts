// kvIn: KV operations inside an existing SQL transaction commit and roll back with it, conflict
// with KV transactions like any other (the SQL transaction runs again), and inside a workflow's
// ctx.transaction happen exactly once.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Strata } from '@strata/transact';
import { engines } from '@strata/testing';
import { kvIn } from '../src/index.js';
import { b, int64, openCoreKv, readInt64, text, type CoreKv } from './core-helpers.js';

for (const kind of engines()) {
  describe(`kvIn on ${kind}`, () => {
    let t: CoreKv;
    before(async () => {
      t = await openCoreKv(kind);
      await t.db.exec('create table if not exists kvin_orders (id text primary key)');
    });
    after(async () => {
      await t.close();
    });

    test('KV writes commit with the SQL transaction\'s own rows, and roll back with it', async () => {
      await t.db.transaction(async (tx) => {
        await tx.query('insert into kvin_orders (id) values ($1)', ['o1']);
        await kvIn(tx, async (tr) => tr.set(b('kvin/o1'), b('placed')));
      });
      await assert.rejects(
        t.db.transaction(async (tx) => {
          await kvIn(tx, async (tr) => tr.set(b('kvin/o2'), b('placed')));
          throw new Error('order refused');
        }),
        /order refused/,
      );
      const [o1, o2] = await t.kv.transact(async (tr) => [text(await tr.get(b('kvin/o1'))), await tr.get(b('kvin/o2'))]);
      assert.equal(o1, 'placed');
      assert.equal(o2, undefined);
      assert.deepEqual((await t.db.query('select id from kvin_orders')).rows, [{ id: 'o1' }]);
    });

    test('reads see committed KV data, and KV transactions see kvIn\'s committed writes in order', async () => {
      await t.kv.transact(async (tr) => tr.set(b('kvin/stock'), int64(3)));
      const left = await t.db.transaction((tx) =>
        kvIn(tx, async (tr) => {
          const stock = readInt64(await tr.get(b('kvin/stock')));
          tr.set(b('kvin/stock'), int64(stock - 1));
          return stock - 1;
        }),
      );
      assert.equal(left, 2);
      assert.equal(readInt64(await t.kv.transact((tr) => tr.get(b('kvin/stock')))), 2);
    });

    test('a serializable SQL transaction using kvIn commits too', async () => {
      await t.db.transaction((tx) => kvIn(tx, async (tr) => tr.add(b('kvin/serializable'), int64(1))), { isolation: 'serializable' });
      assert.equal(readInt64(await t.kv.transact((tr) => tr.get(b('kvin/serializable')))), 1);
    });

    if (kind === 'postgres') {
      test('a KV commit between kvIn\'s read and its commit makes the SQL transaction run again', async () => {
        await t.kv.transact(async (tr) => tr.set(b('kvin/race'), int64(0)));
        let runs = 0;
        await t.db.transaction(async (tx) => {
          runs++;
          await kvIn(tx, async (tr) => {
            const seen = readInt64(await tr.get(b('kvin/race')));
            if (runs === 1) await t.kv.transact(async (other) => other.add(b('kvin/race'), int64(10)));
            tr.set(b('kvin/race'), int64(seen + 1));
          });
        });
        assert.equal(runs, 2);
        assert.equal(readInt64(await t.kv.transact((tr) => tr.get(b('kvin/race')))), 11);
      });
    }

    test('in a workflow, a ctx.transaction KV write happens once even when the workflow runs again', async () => {
      const strata = new Strata({ database: t.db });
      let bodyRuns = 0;
      const reserve = strata.workflow('kvin-reserve', async (ctx, sku: string) => {
        return ctx.transaction('reserve', (tx) =>
          kvIn(tx, async (tr) => {
            bodyRuns++;
            tr.add(b(`kvin/reserved/${sku}`), int64(1));
            return 'reserved';
          }),
        );
      });
      await strata.launch();
      try {
        assert.equal(await reserve.with({ workflowId: `reserve-${kind}` }).run('sku-1'), 'reserved');
        assert.equal(await reserve.with({ workflowId: `reserve-${kind}` }).run('sku-1'), 'reserved');
      } finally {
        await strata.shutdown();
      }
      assert.equal(bodyRuns, 1);
      assert.equal(readInt64(await t.kv.transact((tr) => tr.get(b('kvin/reserved/sku-1')))), 1);
    });
  });
}
