// Timeouts longer than Node's longest timer (2^31 − 1 ms, about 24.8 days), which Node would fire
// at once: a workflow deadline, a step timeout and a result wait of 30 days do not expire early.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Strata } from '@strata/transact';
import { engines, freshDatabaseUrl } from '@strata/testing';
import { launchWithin, quiet, uniqueId } from './helpers.js';

const THIRTY_DAYS_MS = 30 * 24 * 3_600_000;

for (const kind of engines()) {
  describe(`timeouts beyond 24.8 days (${kind})`, () => {
    let strata: Strata;
    after(async () => strata?.shutdown());

    test('a 30-day workflow deadline, step timeout and result wait all let the workflow finish', async () => {
      strata = new Strata({ database: await freshDatabaseUrl(kind), logger: quiet });
      const slow = strata.workflow('slow', async (ctx) => {
        await ctx.sleep(200);
        return ctx.step('timed', async () => 'done', { timeoutMs: THIRTY_DAYS_MS });
      });
      await launchWithin(strata);
      const handle = await slow.with({ workflowId: uniqueId('long'), timeoutMs: THIRTY_DAYS_MS }).start();
      assert.equal(await handle.result({ timeoutMs: THIRTY_DAYS_MS }), 'done');
      assert.equal((await handle.status()).status, 'SUCCESS');
    });
  });
}
