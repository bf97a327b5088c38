// ClientEnqueueOptions.appVersion: a workflow enqueued for an application version is dequeued
// only by executors of that version (how the database service pins a node agent's jobs to its
// node), and runs under that version; bad values are refused before anything is enqueued.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { InvalidArgumentError, Strata, StrataClient } from '@strata/transact';
import { engines, freshDatabaseUrl } from '@strata/testing';
import { countRows, launchWithin, quiet, uniqueId, WAIT_MS } from './helpers.js';

for (const kind of engines()) {
  describe(`enqueue for an application version (${kind})`, () => {
    const executors: Strata[] = [];
    let client: StrataClient;

    before(async () => {
      const url = await freshDatabaseUrl(kind);
      // PGlite is one process: the executors and the client share one Database.
      let shared: Strata | undefined;
      for (const version of ['node-a', 'node-b']) {
        const strata = new Strata({ database: shared?.systemDatabase ?? url, logger: quiet, executorId: `exec-${version}`, appVersion: version });
        strata.workflow('job', async (ctx, n: number) => ctx.step('work', () => n * 2));
        strata.queue('jobs');
        await launchWithin(strata);
        executors.push(strata);
        if (kind === 'pglite') shared ??= strata;
      }
      client = await StrataClient.connect({ database: executors[0]!.systemDatabase });
    });
    after(async () => {
      await client?.close();
      for (const strata of executors.reverse()) await strata.shutdown({ timeoutMs: 0 });
    });

    test('only executors of the given version dequeue the workflow, and it runs under that version', async () => {
      const handles = await Promise.all(Array.from({ length: 12 }, (_, i) => client.enqueue<number>({ workflow: 'job', queue: 'jobs', workflowId: uniqueId('pinned'), appVersion: 'node-b' }, i)));
      assert.deepEqual(await Promise.all(handles.map((h) => h.result({ timeoutMs: WAIT_MS }))), Array.from({ length: 12 }, (_, i) => i * 2));
      for (const handle of handles) {
        const status = await handle.status();
        assert.equal(status.executorId, 'exec-node-b', `${handle.workflowId} ran on ${status.executorId}`);
        assert.equal(status.appVersion, 'node-b');
      }
    });

    test('a workflow for a version no executor runs stays queued while later ones of a served version run', async () => {
      const orphan = await client.enqueue({ workflow: 'job', queue: 'jobs', workflowId: uniqueId('orphan'), appVersion: 'node-gone' }, 1);
      // Enqueued after the orphan (queue order), on a version that is served: once it finished,
      // every queue pass that could have taken the orphan has run.
      const later = await client.enqueue<number>({ workflow: 'job', queue: 'jobs', workflowId: uniqueId('later'), appVersion: 'node-a' }, 2);
      assert.equal(await later.result({ timeoutMs: WAIT_MS }), 4);
      const status = await orphan.status();
      assert.equal(status.status, 'ENQUEUED');
      assert.equal(status.executorId, null);
    });

    test('an empty or oversized appVersion is an InvalidArgumentError and enqueues nothing', async () => {
      for (const appVersion of ['', 'v'.repeat(10_000)]) {
        const workflowId = uniqueId('bad-version');
        await assert.rejects(client.enqueue({ workflow: 'job', queue: 'jobs', workflowId, appVersion }, 1), InvalidArgumentError);
        assert.equal(await countRows(executors[0]!.systemDatabase, 'select 1 from strata.workflows where workflow_id = $1', [workflowId]), 0);
      }
    });
  });
}
