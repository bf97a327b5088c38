// A KV client process for the kill test: seeded transfers between accounts, each committing with
// a count of transfers in the same transaction, printing "committed <n>" after each commit.
// Arguments: <database url or directory> <seed>.

import { SeededRandom } from '@strata/testing';
import { openKv } from '../src/index.js';
import { ACCOUNTS, account, TRANSFERS, int64LE, readInt64LE } from './simulation-shared.js';

const [url, seedText] = process.argv.slice(2);
if (url === undefined || seedText === undefined) throw new Error('usage: simulation-child.ts <database> <seed>');
const random = new SeededRandom(Number(seedText));
const kv = await openKv({ database: url });
for (let committed = 1; ; committed++) {
  const from = random.int(0, ACCOUNTS - 1);
  const to = random.int(0, ACCOUNTS - 1);
  const amount = random.int(1, 20);
  await kv.transact(async (tr) => {
    const fromBalance = readInt64LE(await tr.get(account(from)));
    const toBalance = readInt64LE(await tr.get(account(to)));
    tr.add(TRANSFERS, int64LE(1));
    if (from === to || fromBalance < amount) return;
    tr.set(account(from), int64LE(fromBalance - amount));
    tr.set(account(to), int64LE(toBalance + amount));
  });
  process.stdout.write(`committed ${committed}\n`);
}
