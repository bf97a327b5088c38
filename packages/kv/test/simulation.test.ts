// Deterministic simulation of the KV core: seeded clients run transfers, atomic counters and
// snapshot scans one step at a time against a database that injects faults (serialization
// failures, connections lost before COMMIT, commits whose acknowledgement is lost), while a
// seeded scheduler commits a rival transaction between a body and its commit (a conflict on
// demand). After every step the database must equal the model. Everything runs in one order
// fixed by the seed, so a seed replays exactly: the test runs its first seed twice and compares
// the traces. Seeds: STRATA_TEST_SEED=<n> replays one; STRATA_KV_SIM_SEEDS=<count> runs more.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openDatabase } from '@strata/store';
import { SeededRandom, engines, faultyDatabase, freshDatabaseUrl, testSeed, type EngineKind } from '@strata/testing';
import { CommitUnknownError, migrateKv, openKv, type KvDatabase, type Transaction } from '../src/index.js';
import { b, int64, readInt64, text } from './core-helpers.js';

/** Seeds per engine when STRATA_KV_SIM_SEEDS is unset: enough to exercise every fault in CI, quick enough to run always. */
const DEFAULT_SEEDS = 2;
/** Steps per seed: each one a client's transaction, sometimes with a rival committing mid-way. */
const STEPS = 30;
const CLIENTS = 4;
const ACCOUNTS = 4;
const OPENING_BALANCE = 50;

const account = (i: number) => b(`sim/account/${i}`);
const COUNTER = b('sim/counter');
const done = (step: number) => b(`sim/done/${String(step).padStart(4, '0')}`);

interface Model {
  balances: number[];
  counter: number;
  doneSteps: Set<number>;
}

/** A transfer body: moves `amount` if the source has it; returns whether it did. */
function transfer(from: number, to: number, amount: number) {
  return async (tr: Transaction): Promise<boolean> => {
    const fromBalance = readInt64(await tr.get(account(from)));
    const toBalance = readInt64(await tr.get(account(to)));
    if (from === to || fromBalance < amount) return false;
    tr.set(account(from), int64(fromBalance - amount));
    tr.set(account(to), int64(toBalance + amount));
    return true;
  };
}

/** Runs one seed and returns its trace (what happened, step by step, and the faults injected). */
async function simulate(kind: EngineKind, seed: number): Promise<string[]> {
  const url = await freshDatabaseUrl(kind);
  const inner = await openDatabase(url);
  await migrateKv(inner);
  const faulty = faultyDatabase(inner, {
    seed,
    faults: {
      serializationBurst: { probability: 0.04, attempts: 1, attemptsMax: 2 },
      lostBeforeCommit: { probability: 0.05 },
      ambiguousCommit: { probability: 0.25, match: /kv_apply/ },
    },
  });
  const schedule = new SeededRandom(seed).fork('schedule');
  const model: Model = { balances: Array.from({ length: ACCOUNTS }, () => OPENING_BALANCE), counter: 0, doneSteps: new Set() };
  const trace: string[] = [];
  let rival: (() => Promise<void>) | undefined;
  faulty.setEnabled(false); // opening (its migration check) is not under test
  const kv = await openKv({
    database: faulty,
    beforeCommit: async () => {
      const run = rival;
      rival = undefined; // at most one rival per step
      await run?.();
    },
  });
  const rivalKv = await openKv({ database: faulty });
  const checker: KvDatabase = await openKv({ database: inner });
  faulty.setEnabled(true);
  try {
    await checker.transact(async (tr) => {
      for (let i = 0; i < ACCOUNTS; i++) tr.set(account(i), int64(OPENING_BALANCE));
    });
    for (let step = 0; step < STEPS; step++) {
      const client = schedule.int(0, CLIENTS - 1);
      const action = (['transfer', 'transfer', 'add', 'scan'] as const)[schedule.int(0, 3)] ?? 'scan';
      if (schedule.chance(0.35)) {
        const [from, to, amount] = [schedule.int(0, ACCOUNTS - 1), schedule.int(0, ACCOUNTS - 1), schedule.int(1, 30)];
        rival = async () => {
          const moved = await rivalKv.transact(transfer(from, to, amount));
          if (moved) applyTransfer(model, from, to, amount);
          trace.push(`  rival transfer ${from}->${to} ${amount}: ${moved ? 'moved' : 'refused'}`);
        };
      }
      let runs = 0;
      let outcome: string;
      try {
        if (action === 'transfer') {
          const [from, to, amount] = [schedule.int(0, ACCOUNTS - 1), schedule.int(0, ACCOUNTS - 1), schedule.int(1, 30)];
          const body = transfer(from, to, amount);
          const moved = await kv.transact((tr) => {
            runs++;
            return body(tr);
          });
          if (moved) applyTransfer(model, from, to, amount);
          outcome = `transfer ${from}->${to} ${amount}: ${moved ? 'moved' : 'refused'}`;
        } else if (action === 'add') {
          await kv.transact(async (tr) => {
            runs++;
            tr.add(COUNTER, int64(1));
            tr.add(done(step), int64(1));
          });
          model.counter++;
          model.doneSteps.add(step);
          outcome = 'add';
        } else {
          const total = await kv.transact(async (tr) => {
            runs++;
            const rows = await tr.snapshot.getRange(b('sim/account/'), b('sim/account0'));
            return rows.reduce((sum, row) => sum + readInt64(row.value), 0);
          });
          assert.equal(total, ACCOUNTS * OPENING_BALANCE, `seed ${seed} step ${step}: a snapshot saw a total of ${total}`);
          outcome = `scan ${total}`;
        }
      } catch (error) {
        if (!(error instanceof CommitUnknownError)) throw error;
        outcome = 'commit unknown';
      }
      rival = undefined;
      trace.push(`step ${step} client ${client} ${outcome} (runs ${runs})`);
      await checkInvariants(checker, model, seed, step);
    }
    trace.push(faulty.formatLog());
    return trace;
  } finally {
    await checker.close();
    await rivalKv.close();
    await kv.close();
    await inner.close();
  }
}

function applyTransfer(model: Model, from: number, to: number, amount: number): void {
  model.balances[from] = (model.balances[from] ?? 0) - amount;
  model.balances[to] = (model.balances[to] ?? 0) + amount;
}

/** The database equals the model: balances, the counter, and each add step applied exactly once. */
async function checkInvariants(checker: KvDatabase, model: Model, seed: number, step: number): Promise<void> {
  const state = await checker.transact(async (tr) => ({
    balances: (await tr.getRange(b('sim/account/'), b('sim/account0'))).map((row) => readInt64(row.value)),
    counter: readInt64(await tr.get(COUNTER)),
    done: (await tr.getRange(b('sim/done/'), b('sim/done0'))).map((row) => `${text(row.key)}=${readInt64(row.value)}`),
  }));
  const where = `seed ${seed} after step ${step} (replay with STRATA_TEST_SEED=${seed})`;
  assert.equal(state.balances.reduce((sum, x) => sum + x, 0), ACCOUNTS * OPENING_BALANCE, `${where}: money was created or lost`);
  assert.deepEqual(state.balances, model.balances, `${where}: balances differ from the model`);
  assert.equal(state.counter, model.counter, `${where}: the atomic counter differs from the number of committed adds`);
  assert.deepEqual(state.done, [...model.doneSteps].sort((x, y) => x - y).map((s) => `${text(done(s))}=1`), `${where}: an add was applied twice or lost`);
}

/** The seeds of this run: the printed (or replayed) seed first, then more derived from it. */
function seedsFor(name: string): number[] {
  const first = testSeed(name);
  const count = Number(process.env.STRATA_KV_SIM_SEEDS ?? DEFAULT_SEEDS);
  if (process.env.STRATA_TEST_SEED !== undefined && process.env.STRATA_TEST_SEED !== '') return [first];
  const more = new SeededRandom(first).fork('seeds');
  return [first, ...Array.from({ length: Math.max(0, count - 1) }, () => more.int(0, 0xffff_ffff))];
}

for (const kind of engines()) {
  describe(`deterministic simulation on ${kind}`, () => {
    test('seeded clients under injected faults keep the model after every step, and a seed replays exactly', { timeout: 600_000 }, async () => {
      const seeds = seedsFor(`kv simulation on ${kind}`);
      const traces: string[] = [];
      for (const [index, seed] of seeds.entries()) {
        const trace = await simulate(kind, seed);
        traces.push(...trace);
        if (index === 0) {
          const replay = await simulate(kind, seed);
          assert.deepEqual(replay, trace, `seed ${seed} did not replay the same way`);
        }
      }
      if (seeds.length > 1) assert.match(traces.join('\n'), /ambiguousCommit/, 'no commit lost its acknowledgement: the seeds did not exercise idempotent commits');
    });
  });
}
