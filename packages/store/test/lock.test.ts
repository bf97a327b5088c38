import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import { DatabaseLockedError, openDatabase } from '@strata/store';
import { engines, freshPgliteDatabase, freshPgliteDir } from '@strata/testing';
import { FIXTURES_DIR, REPO_ROOT, collectOutput, exitCode, waitFor } from './helpers.js';

/** Rounds of the race: the original bug let two openers through in about 2 rounds of 60. */
const RACE_ROUNDS = 40;
/** Contenders per round: enough that several losers read the lock while it is being taken. */
const RACE_CONTENDERS = 4;
/** Bound on one child's answer; PGlite's start under a loaded machine takes seconds, not minutes. */
const ANSWER_TIMEOUT_MS = 120_000;

type Answer = { ready?: boolean; ok?: boolean; code?: string | null; message?: string | null; closed?: boolean };

/** A race-opener child and the queue of JSON lines it has printed. */
class Contender {
  readonly child: ChildProcess;
  readonly #lines: string[] = [];
  readonly #output: { text: () => string };
  constructor(dir: string) {
    this.child = spawn(process.execPath, ['--import', 'tsx', join(FIXTURES_DIR, 'race-opener.ts'), dir], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.#output = collectOutput(this.child);
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.#lines.push(line));
  }
  send(command: string): void {
    this.child.stdin!.write(`${command}\n`);
  }
  async answer(): Promise<Answer> {
    await waitFor(() => this.#lines.length > 0 || this.child.exitCode !== null, 'a contender to answer', ANSWER_TIMEOUT_MS);
    const line = this.#lines.shift();
    assert.ok(line !== undefined, `contender ${this.child.pid} exited without answering: ${this.#output.text()}`);
    return JSON.parse(line) as Answer;
  }
  async stop(): Promise<void> {
    this.child.stdin?.end();
    const code = await exitCode(this.child);
    if (code !== 0) this.child.kill('SIGKILL');
  }
}

/** A pid that no process has: a child that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  assert.equal(await exitCode(child), 0);
  assert.ok(child.pid !== undefined);
  return child.pid;
}

/** The lock record format Strata writes: JSON naming the owner process instance. */
function lockRecord(fields: { pid: number; host?: string; startTicks?: string | null; token?: string }): string {
  return `${JSON.stringify({ pid: fields.pid, host: fields.host ?? hostname(), startTicks: fields.startTicks ?? null, token: fields.token ?? 'test-token' })}\n`;
}

function lockOwnerPid(lockPath: string): number {
  return (JSON.parse(readFileSync(lockPath, 'utf8')) as { pid: number }).pid;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof Error);
    return error;
  }
  assert.fail('expected a rejection');
}

if (engines().includes('pglite')) {
  describe('the embedded directory lock', () => {
    test(`${RACE_CONTENDERS} processes opening one directory at once (half the rounds over a stale lock): exactly one wins each of ${RACE_ROUNDS} rounds, every loser gets DatabaseLockedError, and the lock goes with the winner's close`, async () => {
      // An initdb'd directory: the race is for the lock, and the tests below race the creation.
      const dir = await freshPgliteDatabase();
      const lockPath = join(dir, 'lock');
      const contenders = Array.from({ length: RACE_CONTENDERS }, () => new Contender(dir));
      try {
        for (const contender of contenders) assert.deepEqual(await contender.answer(), { ready: true });
        const dead = await deadPid();
        for (let round = 1; round <= RACE_ROUNDS; round++) {
          // Every other round the contenders also race to take over a stale lock of a dead process.
          if (round % 2 === 0) await writeFile(lockPath, lockRecord({ pid: dead }));
          for (const contender of contenders) contender.send('open');
          const answers = await Promise.all(contenders.map((contender) => contender.answer()));
          const winners = contenders.filter((_, i) => answers[i]!.ok === true);
          assert.equal(winners.length, 1, `round ${round}: ${winners.length} winners: ${JSON.stringify(answers)}`);
          for (const answer of answers.filter((a) => a.ok !== true)) {
            assert.equal(answer.code, 'STRATA_DATABASE_LOCKED', `round ${round}: a loser failed otherwise: ${JSON.stringify(answer)}`);
            assert.match(answer.message ?? '', new RegExp(`\\(pid ${winners[0]!.child.pid}\\b`), `round ${round}: the message names the holder`);
          }
          assert.equal(lockOwnerPid(lockPath), winners[0]!.child.pid, `round ${round}: the lock names the winner`);
          winners[0]!.send('close');
          assert.deepEqual(await winners[0]!.answer(), { closed: true });
          await assert.rejects(readFile(lockPath), { code: 'ENOENT' }, `round ${round}: the winner's close removed the lock`);
        }
      } finally {
        await Promise.all(contenders.map((contender) => contender.stop()));
      }
      const db = await openDatabase(dir);
      await db.close();
      assert.deepEqual((await readdir(dir)).sort(), ['pgdata'], 'no temporary or stale lock files are left behind');
    });

    describe('a lock file left by a process that is gone', () => {
      const staleLocks: ReadonlyArray<readonly [string, () => Promise<string>]> = [
        ['a dead pid', async () => lockRecord({ pid: await deadPid() })],
        ['a dead pid, in the bare-pid format of older versions', async () => `${await deadPid()}`],
        ['a live pid whose process started at another time (the pid was reused)', async () => lockRecord({ pid: process.ppid, startTicks: '1' })],
        ['our own pid but not our token (a restarted container whose process got the same pid)', async () => lockRecord({ pid: process.pid, token: 'an-earlier-process' })],
      ];
      for (const [what, content] of staleLocks) {
        const needsProc = what.includes('reused') && process.platform !== 'linux';
        test(`naming ${what} is taken over, and removed again on close`, { skip: needsProc && 'process start times come from /proc (Linux)' }, async () => {
          // A copy of a made database: the lock is the same, and initdb's seconds are not (the
          // SIGKILL tests below cover the open that creates the database).
          const dir = await freshPgliteDatabase();
          const lockPath = join(dir, 'lock');
          await writeFile(lockPath, await content());
          const db = await openDatabase(dir);
          try {
            assert.equal(lockOwnerPid(lockPath), process.pid);
          } finally {
            await db.close();
          }
          await assert.rejects(readFile(lockPath), { code: 'ENOENT' });
        });
      }
    });

    describe('a lock file that cannot be proven stale is respected', () => {
      test('a lock naming a live process (our parent) gives DatabaseLockedError naming its pid, and stays', async () => {
        const dir = await freshPgliteDir();
        const lockPath = join(dir, 'lock');
        const content = lockRecord({ pid: process.ppid });
        await writeFile(lockPath, content);
        const error = await rejection(openDatabase(dir));
        assert.ok(error instanceof DatabaseLockedError, error.message);
        assert.equal(error.code, 'STRATA_DATABASE_LOCKED');
        assert.match(error.message, new RegExp(`\\(pid ${process.ppid}\\)`));
        assert.match(error.message, /stop that process/);
        assert.equal(await readFile(lockPath, 'utf8'), content, 'the lock is untouched');
      });

      test('a lock from another host gives DatabaseLockedError naming the host, since its pid cannot be checked here', async () => {
        const dir = await freshPgliteDir();
        const lockPath = join(dir, 'lock');
        await writeFile(lockPath, lockRecord({ pid: await deadPid(), host: 'elsewhere.example' }));
        const error = await rejection(openDatabase(dir));
        assert.ok(error instanceof DatabaseLockedError, error.message);
        assert.match(error.message, /on host elsewhere\.example/);
        assert.match(error.message, /delete .*lock/);
      });

      for (const [what, content] of [
        ['nothing', ''],
        ['garbage', 'not a lock\n'],
        ['a truncated record', '{"pid":12'],
      ] as const) {
        test(`a lock file holding ${what} (a crash of an older version between create and write) gives the same DatabaseLockedError every time, and stays`, async () => {
          const dir = await freshPgliteDir();
          const lockPath = join(dir, 'lock');
          await writeFile(lockPath, content);
          const messages: string[] = [];
          for (let attempt = 0; attempt < 2; attempt++) {
            const error = await rejection(openDatabase(dir));
            assert.ok(error instanceof DatabaseLockedError, error.message);
            assert.match(error.message, /does not name its owner/);
            assert.ok(error.message.includes(`delete ${lockPath}`), error.message);
            messages.push(error.message);
          }
          assert.equal(messages[0], messages[1]);
          assert.equal(await readFile(lockPath, 'utf8'), content, 'the lock is untouched');
        });
      }
    });

    // The creator runs initdb in a child process. A kill of the whole process group (a stopped
    // container, a power cut) stops both halfway; a kill of the creator alone leaves the initdb
    // child writing on. Neither may leave a cluster that the next open starts on half-made.
    for (const group of [true, false]) {
      test(`a process SIGKILLed ${group ? 'with its initdb child ' : ''}while it creates the database leaves nothing the next open trips on: the data directory appears whole or not at all`, async () => {
        const dir = await freshPgliteDir();
        const creator = spawn(process.execPath, ['--import', 'tsx', join(FIXTURES_DIR, 'hold-pglite.ts'), dir], { cwd: REPO_ROOT, stdio: 'ignore', detached: true });
        // Kill the creator while initdb writes the cluster's files: just after PG_VERSION, which
        // PGlite writes among the last top-level files (the writing takes about half a second).
        // Meanwhile the data directory itself must never be seen without its PG_VERSION (the file
        // an open goes by): it appears whole, by a rename, or not at all.
        const dataDir = join(dir, 'pgdata');
        let halfMade = false;
        const clusterDirs = () => {
          if (existsSync(dataDir) && !existsSync(join(dataDir, 'PG_VERSION'))) halfMade = true;
          return readdirSync(dir).filter((name) => name.startsWith('pgdata')).map((name) => join(dir, name));
        };
        try {
          await waitFor(() => clusterDirs().some((cluster) => readdirSync(cluster).length > 0), 'initdb to start writing the cluster', ANSWER_TIMEOUT_MS);
          const deadline = Date.now() + ANSWER_TIMEOUT_MS;
          // Spin rather than sleep: a timer's delay would let the writing finish.
          while (!clusterDirs().some((cluster) => existsSync(join(cluster, 'PG_VERSION'))) && Date.now() < deadline) {
            /* spin */
          }
        } finally {
          if (group) process.kill(-creator.pid!, 'SIGKILL');
          else creator.kill('SIGKILL');
        }
        await exitCode(creator);
        assert.equal(halfMade, false, `${dataDir} was seen while initdb was still writing it`);
        const db = await openDatabase(dir);
        try {
          await db.exec('create table kept (id int primary key)');
          await db.query('insert into kept values (1)');
        } finally {
          await db.close();
        }
        const reopened = await openDatabase(dir);
        try {
          assert.deepEqual((await reopened.query<{ id: number }>('select id from kept')).rows, [{ id: 1 }]);
        } finally {
          await reopened.close();
        }
        assert.deepEqual((await readdir(dir)).sort(), ['pgdata'], 'the staging directory of the killed creator is gone');
      });
    }

    test('close() leaves alone a lock that is no longer its own', async () => {
      const dir = await freshPgliteDatabase();
      const lockPath = join(dir, 'lock');
      const db = await openDatabase(dir);
      const someoneElse = lockRecord({ pid: process.ppid, token: 'took-it-over' });
      await writeFile(lockPath, someoneElse); // as if another process had judged us dead
      await db.close();
      assert.equal(await readFile(lockPath, 'utf8'), someoneElse);
    });
  });
}
