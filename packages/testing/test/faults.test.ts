// Specification of the fault-injection tools: the seeded PRNG, the manual clock, testSeed, and faultyDatabase on real PGlite and PostgreSQL.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  DatabaseUnavailableError,
  TransactionConflictError,
  isConnectionError,
  isRetryableConflict,
  openDatabase,
  type Database,
} from '@strata/store';
import {
  InvalidFaultPlanError,
  InvalidTestSeedError,
  ManualClock,
  SeededRandom,
  engines,
  faultyDatabase,
  freshPostgresUrl,
  isInjectedFault,
  pgConnectionLostError,
  pgSerializationError,
  testSeed,
  type FaultPlan,
  type FaultyDatabase,
} from '@strata/testing';

/** How long a listener may take to hear a committed notification before the test calls it lost. */
const DELIVERY_TIMEOUT_MS = 5_000;

/** Resolves once `predicate()` holds; rejects after `timeoutMs` with what it waited for. */
async function waitFor(predicate: () => boolean, what: string, timeoutMs = DELIVERY_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('SeededRandom', () => {
  test('the same seed yields the same sequence, another seed a different one', () => {
    const draw = (seed: number) => Array.from({ length: 8 }, ((random) => () => random.next())(new SeededRandom(seed)));
    assert.deepEqual(draw(42), draw(42));
    assert.notDeepEqual(draw(42), draw(43));
    for (const value of draw(7)) assert.ok(value >= 0 && value < 1, `${value} is in [0, 1)`);
  });

  test('a fork depends on the seed and its label, not on how much the parent has drawn', () => {
    const parent = new SeededRandom(5);
    const early = parent.fork('slow').next();
    parent.next();
    parent.next();
    assert.equal(parent.fork('slow').next(), early);
    assert.notEqual(parent.fork('lost').next(), early);
  });

  test('int stays within its inclusive bounds and reaches both ends', () => {
    const random = new SeededRandom(11);
    const seen = new Set(Array.from({ length: 200 }, () => random.int(1, 3)));
    assert.deepEqual([...seen].sort(), [1, 2, 3]);
  });

  test('seeds outside 0 … 2^32 - 1 are refused', () => {
    assert.throws(() => new SeededRandom(-1), RangeError);
    assert.throws(() => new SeededRandom(2 ** 32), RangeError);
    assert.throws(() => new SeededRandom(1.5), RangeError);
  });
});

describe('ManualClock', () => {
  test('advance fires due timers in due order, ties in creation order, and moves now() to each', () => {
    const clock = new ManualClock(1_000);
    const fired: Array<[string, number]> = [];
    clock.setTimeout(() => fired.push(['c', clock.now()]), 30);
    clock.setTimeout(() => fired.push(['a', clock.now()]), 10);
    clock.setTimeout(() => fired.push(['b1', clock.now()]), 20);
    clock.setTimeout(() => fired.push(['b2', clock.now()]), 20);
    assert.equal(clock.advance(25), 3);
    assert.deepEqual(fired, [['a', 1_010], ['b1', 1_020], ['b2', 1_020]]);
    assert.equal(clock.now(), 1_025);
    assert.equal(clock.pendingTimers, 1);
    clock.advance(5);
    assert.deepEqual(fired.at(-1), ['c', 1_030]);
  });

  test('a timer scheduled by a callback fires in the same advance when it falls inside the window', () => {
    const clock = new ManualClock();
    const fired: string[] = [];
    clock.setTimeout(() => {
      fired.push('first');
      clock.setTimeout(() => fired.push('chained'), 5);
    }, 10);
    clock.setTimeout(() => fired.push('last'), 20);
    clock.advance(20);
    assert.deepEqual(fired, ['first', 'chained', 'last']);
  });

  test('a cleared timer never fires, and sleep resolves only once the clock reaches it', async () => {
    const clock = new ManualClock();
    const events: string[] = [];
    clock.clearTimeout(clock.setTimeout(() => events.push('cleared'), 5));
    const slept = clock.sleep(50).then(() => events.push('slept'));
    clock.advance(49);
    await Promise.resolve();
    events.push('at 49');
    assert.equal(clock.advanceToNext(), 1);
    await slept;
    assert.deepEqual(events, ['at 49', 'slept']);
    assert.equal(clock.now(), 50);
  });

  test('waitForTimers resolves once code under test has armed its timers', async () => {
    const clock = new ManualClock();
    const armed = clock.waitForTimers(2);
    let resolved = false;
    void armed.then(() => (resolved = true));
    clock.setTimeout(() => {}, 1);
    await Promise.resolve();
    assert.equal(resolved, false);
    clock.setTimeout(() => {}, 2);
    await armed;
    assert.equal(clock.pendingTimers, 2);
  });
});

describe('testSeed', () => {
  test('replays STRATA_TEST_SEED and prints how to replay it', () => {
    const lines: string[] = [];
    const seed = testSeed('lost commits', { env: { STRATA_TEST_SEED: '123456' }, write: (line) => lines.push(line) });
    assert.equal(seed, 123_456);
    assert.deepEqual(lines, ['seed for lost commits: 123456 (replay with STRATA_TEST_SEED=123456)\n']);
  });

  test('picks a fresh seed when STRATA_TEST_SEED is unset, and prints it', () => {
    const lines: string[] = [];
    const seed = testSeed('scale-out', { env: {}, write: (line) => lines.push(line) });
    assert.ok(Number.isInteger(seed) && seed >= 0 && seed <= 0xffff_ffff);
    assert.deepEqual(lines, [`seed for scale-out: ${seed} (replay with STRATA_TEST_SEED=${seed})\n`]);
  });

  test('refuses a STRATA_TEST_SEED that is not a seed', () => {
    for (const bad of ['abc', '-1', '1.5', '4294967296']) {
      assert.throws(() => testSeed('x', { env: { STRATA_TEST_SEED: bad }, write: () => {} }), InvalidTestSeedError, bad);
    }
  });
});

describe('fault plans and error shapes', () => {
  test('a plan with an unknown kind or an out-of-range setting is refused', () => {
    const inner = {} as Database; // never reached: the plan is checked first
    const bad: unknown[] = [
      { lostBeforeComit: { probability: 1 } },
      { lostBeforeCommit: { probability: 1.5 } },
      { ambiguousCommit: { probability: 0.5, maxCount: -1 } },
      { serializationBurst: { probability: 1, attempts: 0 } },
      { serializationBurst: { probability: 1, attempts: 3, attemptsMax: 2 } },
      { slowStatement: { probability: 1, minDelayMs: 10, maxDelayMs: 5 } },
    ];
    for (const faults of bad) {
      assert.throws(() => faultyDatabase(inner, { seed: 1, faults: faults as FaultPlan }), InvalidFaultPlanError, JSON.stringify(faults));
    }
  });

  test('an injected serialization failure is one the store retries, an injected connection loss one it calls a connection error', () => {
    const conflict = pgSerializationError();
    assert.equal(conflict.code, '40001');
    assert.equal(conflict.severity, 'ERROR');
    assert.ok(isRetryableConflict(conflict));
    assert.equal(pgConnectionLostError().message, 'Connection terminated unexpectedly');
    assert.ok(isConnectionError(pgConnectionLostError()));
  });
});

for (const kind of engines()) {
  describe(`faultyDatabase on ${kind}`, () => {
    let inner: Database;
    let tables = 0;

    before(async () => {
      inner = await openDatabase(kind === 'postgres' ? await freshPostgresUrl() : 'memory://');
    });
    after(async () => {
      await inner.close();
    });

    /** A new empty table `(id int primary key)`, created without faults. */
    async function freshTable(): Promise<string> {
      const name = `faults_${++tables}`;
      await inner.exec(`create table ${name} (id int primary key)`);
      return name;
    }

    async function ids(table: string): Promise<number[]> {
      const { rows } = await inner.query<{ id: number }>(`select id from ${table} order by id`);
      return rows.map((row) => row.id);
    }

    /** A lost connection as the wrapper injects it by default: the store's typed error, marked as injected. */
    function isInjectedUnavailable(commitUnknown: boolean) {
      return (error: unknown) => {
        assert.ok(error instanceof DatabaseUnavailableError, `expected DatabaseUnavailableError, got ${String(error)}`);
        assert.equal(error.code, 'STRATA_DATABASE_UNAVAILABLE');
        assert.equal(error.commitUnknown, commitUnknown);
        assert.equal((error.cause as Error).message, 'Connection terminated unexpectedly');
        assert.ok(isInjectedFault(error));
        return true;
      };
    }

    test('the same seed injects the same faults into the same operations, and leaves the same rows; another seed differs', async () => {
      const table = await freshTable();
      const plan: FaultPlan = {
        lostBeforeCommit: { probability: 0.2 },
        ambiguousCommit: { probability: 0.2 },
        lostNotify: { probability: 0.3 },
        serializationBurst: { probability: 0.3, attempts: 1, attemptsMax: 2 },
        slowStatement: { probability: 0.2, maxDelayMs: 2 },
        queryConnectionLost: { probability: 0.2, phase: 'either' },
      };
      const run = async (seed: number) => {
        await inner.exec(`truncate ${table}`);
        const db = faultyDatabase(inner, { seed, faults: plan });
        const outcomes: string[] = [];
        for (let i = 0; i < 30; i++) {
          try {
            if (i % 3 === 0) await db.query(`insert into ${table} (id) values ($1)`, [i]);
            else if (i % 3 === 1) {
              await db.transaction(async (tx) => {
                await tx.query(`insert into ${table} (id) values ($1)`, [i]);
                await tx.notify('workload', String(i));
              });
            } else await db.notify('workload', String(i));
            outcomes.push('ok');
          } catch (error) {
            assert.ok(isInjectedFault(error) || error instanceof TransactionConflictError, String(error));
            outcomes.push((error as Error).name);
          }
        }
        return { log: db.log, outcomes, rows: await ids(table) };
      };
      const first = await run(1234);
      const replay = await run(1234);
      const other = await run(99);
      assert.ok(first.log.length >= 5, `expected several faults in 30 operations at these odds, got:\n${first.log.map((fault) => JSON.stringify(fault)).join('\n')}`);
      assert.ok(new Set(first.log.map((fault) => fault.kind)).size >= 3, 'several kinds of fault fired');
      assert.deepEqual(replay, first);
      assert.notDeepEqual(other.log, first.log);
    });

    test('a transaction that loses its connection before COMMIT ran its body but wrote nothing', async () => {
      const table = await freshTable();
      const db = faultyDatabase(inner, { seed: 1, faults: { lostBeforeCommit: { probability: 1 } } });
      let bodyRuns = 0;
      await assert.rejects(
        db.transaction(async (tx) => {
          bodyRuns++;
          await tx.query(`insert into ${table} (id) values (1)`);
        }),
        isInjectedUnavailable(false),
      );
      assert.equal(bodyRuns, 1);
      assert.deepEqual(await ids(table), []);
      assert.deepEqual(db.log, [{ kind: 'lostBeforeCommit', operation: 1, sql: `insert into ${table} (id) values (1)` }]);
    });

    test('an ambiguous commit keeps its row and still throws a connection error that says the commit is unknown', async () => {
      const table = await freshTable();
      const db = faultyDatabase(inner, { seed: 1, faults: { ambiguousCommit: { probability: 1 } } });
      await assert.rejects(
        db.transaction((tx) => tx.query(`insert into ${table} (id) values (7)`)),
        isInjectedUnavailable(true),
      );
      assert.deepEqual(await ids(table), [7]);
      assert.deepEqual(db.log.map((fault) => fault.kind), ['ambiguousCommit']);
    });

    test('a serialization-failure burst shorter than the retry bound is retried to success by the store', async () => {
      const table = await freshTable();
      const db = faultyDatabase(inner, { seed: 1, faults: { serializationBurst: { probability: 1, attempts: 2, maxCount: 1 } } });
      const attempts: number[] = [];
      await db.transaction(async (tx) => {
        attempts.push(tx.attempt);
        await tx.query(`insert into ${table} (id) values (1)`);
      });
      assert.deepEqual(attempts, [1, 2, 3]);
      assert.deepEqual(await ids(table), [1]);
      assert.deepEqual(
        db.log.map((fault) => [fault.kind, fault.attempt, fault.burstLength]),
        [['serializationBurst', 1, 2], ['serializationBurst', 2, 2]],
      );
    });

    test('a serialization-failure burst as long as the retry bound ends in TransactionConflictError and writes nothing', async () => {
      const table = await freshTable();
      const db = faultyDatabase(inner, { seed: 1, faults: { serializationBurst: { probability: 1, attempts: 3 } } });
      await assert.rejects(
        db.transaction((tx) => tx.query(`insert into ${table} (id) values (1)`), { maxAttempts: 3 }),
        (error: unknown) => {
          assert.ok(error instanceof TransactionConflictError);
          assert.equal(error.attempts, 3);
          assert.equal((error.cause as { code?: string }).code, '40001');
          return true;
        },
      );
      assert.deepEqual(await ids(table), []);
    });

    test('an attempt whose body swallowed the injected 40001 does not commit: later statements fail as on an aborted transaction and the store retries', async () => {
      const table = await freshTable();
      const db = faultyDatabase(inner, { seed: 1, faults: { serializationBurst: { probability: 1, attempts: 1 } } });
      const seen: string[] = [];
      await db.transaction(async (tx) => {
        try {
          await tx.query(`insert into ${table} (id) values (1)`);
        } catch (error) {
          seen.push(`attempt ${tx.attempt}: ${(error as { code?: string }).code}`);
          await tx.query('select 1').catch((next: { code?: string }) => seen.push(`then ${next.code}`));
        }
      });
      assert.deepEqual(seen, ['attempt 1: 40001', 'then 25P02']);
      assert.deepEqual(await ids(table), [1]);
    });

    test('match limits a fault to the transactions that ran a matching statement', async () => {
      const target = await freshTable();
      const bystander = await freshTable();
      const db = faultyDatabase(inner, { seed: 1, faults: { lostBeforeCommit: { probability: 1, match: new RegExp(`insert into ${target}\\b`) } } });
      await db.transaction((tx) => tx.query(`insert into ${bystander} (id) values (1)`));
      await assert.rejects(db.transaction((tx) => tx.query(`insert into ${target} (id) values (1)`)), isInjectedUnavailable(false));
      assert.deepEqual([await ids(bystander), await ids(target)], [[1], []]);
    });

    test('afterOperations and maxCount bound when and how often a fault fires', async () => {
      const db = faultyDatabase(inner, { seed: 1, faults: { queryConnectionLost: { probability: 1, afterOperations: 2, maxCount: 2 } } });
      const outcomes: string[] = [];
      for (let i = 0; i < 5; i++) {
        outcomes.push(await db.query('select 1').then(() => 'ok', () => 'lost'));
      }
      assert.deepEqual(outcomes, ['ok', 'ok', 'lost', 'lost', 'ok']);
      assert.deepEqual(db.log.map((fault) => fault.operation), [3, 4]);
    });

    test('a statement outside a transaction loses its connection before it runs, or with phase "after" once it ran', async () => {
      const table = await freshTable();
      const beforeDb = faultyDatabase(inner, { seed: 1, faults: { queryConnectionLost: { probability: 1 } } });
      await assert.rejects(beforeDb.query(`insert into ${table} (id) values (1)`), isInjectedUnavailable(false));
      const afterDb = faultyDatabase(inner, { seed: 1, faults: { queryConnectionLost: { probability: 1, phase: 'after' } } });
      await assert.rejects(afterDb.query(`insert into ${table} (id) values (2)`), isInjectedUnavailable(false));
      assert.deepEqual(await ids(table), [2]);
      assert.deepEqual([beforeDb.log[0]?.phase, afterDb.log[0]?.phase], ['before', 'after']);
    });

    test('connectionError replaces the injected error, e.g. with the raw node-postgres one', async () => {
      const db = faultyDatabase(inner, { seed: 1, faults: { queryConnectionLost: { probability: 1 } }, connectionError: pgConnectionLostError });
      await assert.rejects(db.query('select 1'), (error: unknown) => {
        assert.ok(!(error instanceof DatabaseUnavailableError));
        assert.equal((error as Error).message, 'Connection terminated unexpectedly');
        assert.ok(isInjectedFault(error));
        return true;
      });
    });

    test('a lost notify, sent alone or from a transaction, is never delivered; the next one is', async () => {
      const db = faultyDatabase(inner, { seed: 1, faults: { lostNotify: { probability: 1, maxCount: 2 } } });
      const heard: string[] = [];
      const subscription = await inner.listen('faults_lost', (payload) => heard.push(payload));
      try {
        await db.notify('faults_lost', 'lost alone');
        await db.transaction((tx) => tx.notify('faults_lost', 'lost in a transaction'));
        await db.notify('faults_lost', 'kept');
        // Notifications arrive in commit order, so once "kept" is here the lost ones had their chance.
        await waitFor(() => heard.includes('kept'), 'the kept notification');
        assert.deepEqual(heard, ['kept']);
        assert.deepEqual(db.log.map((fault) => [fault.kind, fault.channel]), [['lostNotify', 'faults_lost'], ['lostNotify', 'faults_lost']]);
      } finally {
        await subscription.close();
      }
    });

    test('a dropped delivery never reaches the handler, and signalRestored tells onListenRestored callbacks', async () => {
      const db = faultyDatabase(inner, { seed: 1, faults: { droppedDelivery: { probability: 1, maxCount: 1, signalRestored: true } } });
      const heard: string[] = [];
      let restored = 0;
      const off = db.onListenRestored?.(() => restored++);
      const subscription = await db.listen('faults_dropped', (payload) => heard.push(payload));
      try {
        await inner.notify('faults_dropped', 'first');
        await inner.notify('faults_dropped', 'second');
        await waitFor(() => heard.includes('second'), 'the second notification');
        assert.deepEqual(heard, ['second']);
        assert.equal(restored, 1);
        assert.deepEqual(db.log, [{ kind: 'droppedDelivery', operation: 1, channel: 'faults_dropped' }]);
        assert.equal(db.stats.deliveries, 2);
      } finally {
        off?.();
        await subscription.close();
      }
    });

    test('a slow statement is not sent until the injected clock reaches its delay', async () => {
      const table = await freshTable();
      const clock = new ManualClock();
      const db = faultyDatabase(inner, { seed: 1, clock, faults: { slowStatement: { probability: 1, minDelayMs: 250, maxDelayMs: 250 } } });
      const insert = db.query(`insert into ${table} (id) values (1)`);
      await clock.waitForTimers(1);
      clock.advance(249);
      assert.deepEqual(await ids(table), [], 'not sent before its delay');
      clock.advance(1);
      await insert;
      assert.deepEqual(await ids(table), [1]);
      assert.deepEqual(db.log, [{ kind: 'slowStatement', operation: 1, sql: `insert into ${table} (id) values (1)`, delayMs: 250 }]);
    });

    test('setEnabled(false) stops injecting while operations are still counted', async () => {
      const db: FaultyDatabase = faultyDatabase(inner, { seed: 1, faults: { queryConnectionLost: { probability: 1 } } });
      await assert.rejects(db.query('select 1'));
      db.setEnabled(false);
      assert.equal(db.paused, true);
      await db.query('select 1');
      assert.equal(db.stats.operations, 2);
      assert.equal(db.stats.injected.queryConnectionLost, 1);
      assert.match(db.formatLog(), /^seed 1: 1 fault\(s\) injected in 2 operation\(s\)\n {2}#1 queryConnectionLost: before the statement ran; select 1$/);
    });
  });
}
