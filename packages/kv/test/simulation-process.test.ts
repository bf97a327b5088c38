// A KV client process killed with SIGKILL at a seeded point (after its k-th commit, so usually
// inside its next transaction or commit) while this process runs conflicting transfers: no money
// is created or lost, each transfer's count is applied with it or not at all, and the commit lock
// of the dead client is released, so the others go on committing.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import { SeededRandom, engines, freshDatabaseUrl, testSeed } from '@strata/testing';
import { openKv, type KvDatabase } from '../src/index.js';
import { ACCOUNTS, ACCOUNTS_BEGIN, ACCOUNTS_END, OPENING_BALANCE, TRANSFERS, account, int64LE, readInt64LE } from './simulation-shared.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = join(HERE, '..', '..', '..');
/** Child processes started and killed per test. */
const ROUNDS = 3;
/** Longest pause between this process's transfers. */
const PARENT_PAUSE_MS_MAX = 20;

/** Starts the client process on `database`. */
function startChild(database: string, seed: number): ChildProcess {
  return spawn(process.execPath, ['--conditions=development', '--import', 'tsx', join(HERE, 'simulation-child.ts'), database, String(seed)], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Follows the child's "committed <n>" lines: `reached(n)` resolves once it printed n; `last` is the highest so far. */
function followCommits(child: ChildProcess): { reached(count: number): Promise<void>; readonly last: number } {
  let last = 0;
  let stderr = '';
  const waiters: Array<{ count: number; resolve: () => void; reject: (error: Error) => void }> = [];
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const lines = createInterface({ input: child.stdout ?? process.stdin });
  lines.on('line', (line) => {
    const match = /^committed (\d+)$/.exec(line);
    if (match) last = Number(match[1]);
    for (const waiter of waiters.filter((w) => w.count <= last)) waiter.resolve();
  });
  child.on('close', () => {
    for (const waiter of waiters.filter((w) => w.count > last)) waiter.reject(new Error(`the child exited before its commit ${waiter.count}: ${stderr}`));
  });
  return {
    reached: (count) => new Promise((resolve, reject) => (count <= last ? resolve() : waiters.push({ count, resolve, reject }))),
    get last() {
      return last;
    },
  };
}

async function transferOnce(kv: KvDatabase, random: SeededRandom): Promise<void> {
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
}

for (const kind of engines()) {
  describe(`a KV client killed mid-transaction on ${kind}`, () => {
    test('SIGKILL at seeded points keeps every transfer whole and leaves the database usable', { timeout: 300_000 }, async () => {
      const seed = testSeed(`kv kill test on ${kind}`);
      const random = new SeededRandom(seed);
      const database = await freshDatabaseUrl(kind);
      // On PGlite this process holds the directory and the child reaches it through its socket.
      const kv = await openKv({ database });
      try {
        await kv.transact(async (tr) => {
          for (let i = 0; i < ACCOUNTS; i++) tr.set(account(i), int64LE(OPENING_BALANCE));
        });
        let acknowledged = 0; // transfers whose commit was reported (by the child, or here)
        for (let round = 1; round <= ROUNDS; round++) {
          const killAfter = random.int(2, 12);
          const child = startChild(database, random.int(0, 0xffff_ffff));
          const closed = once(child, 'close');
          const commits = followCommits(child);
          let stop = false;
          const mine = (async () => {
            let count = 0;
            const local = random.fork(`parent ${round}`);
            while (!stop) {
              await transferOnce(kv, local);
              count++;
              // Paced, so the child's slower transactions (another process, a socket away) conflict
              // with these now and then instead of losing every race.
              await new Promise((resolve) => setTimeout(resolve, local.int(1, PARENT_PAUSE_MS_MAX)));
            }
            return count;
          })();
          await commits.reached(killAfter);
          child.kill('SIGKILL');
          await closed; // every line it printed has been read
          stop = true;
          acknowledged += commits.last + (await mine);
          const state = await kv.transact(async (tr) => ({
            balances: (await tr.getRange(ACCOUNTS_BEGIN, ACCOUNTS_END)).map((row) => readInt64LE(row.value)),
            transfers: readInt64LE(await tr.get(TRANSFERS)),
          }));
          const where = `seed ${seed}, round ${round} (child killed after commit ${commits.last})`;
          assert.equal(state.balances.reduce((sum, x) => sum + x, 0), ACCOUNTS * OPENING_BALANCE, `${where}: money was created or lost`);
          assert.ok(state.balances.every((x) => x >= 0), `${where}: an account was overdrawn`);
          // The transfer the child was inside when killed either committed whole or not at all.
          assert.ok(state.transfers >= acknowledged && state.transfers <= acknowledged + 1, `${where}: ${state.transfers} transfers counted, ${acknowledged} acknowledged`);
          acknowledged = state.transfers;
        }
        await transferOnce(kv, random); // the dead clients' commit lock is gone
      } finally {
        await kv.close();
      }
    });
  });
}
