// Helpers shared by the test files of @strata/transact: a silent logger, unique IDs, timing
// constants, bounded waits, launches that fail instead of hanging, and readers of Strata's tables.

import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { after, before } from 'node:test';
import type { Queryable } from '@strata/store';
import { freshDatabaseUrl, type EngineKind } from '@strata/testing';
import type { Logger, Strata } from '@strata/transact';

/** A logger that drops everything, so engines keep the test output clean. */
export const quiet: Logger = { info() {}, warn() {}, error() {} };

/** Generous bound on any wait in a file that uses it: a healthy run needs a fraction of it. */
export const WAIT_MS = 30_000;

/** launch() resumes unfinished workflows; one that never returns must fail its test, not hang the run. */
export const LAUNCH_TIMEOUT_MS = 15_000;

/** Far above every wake-up we assert, so a wake-up that beats it came from a notification. */
export const SAFETY_POLL_INTERVAL_MS = 10_000;

/** "Promptly": well under the safety poll and the waits being interrupted, and generous for a loaded CI machine. */
export const PROMPT_MS = 1_000;

/** Time for a started workflow to reach its wait (its blocking point), so a send or cancel finds it blocked. */
export const SETTLE_MS = 200;

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

let nextId = 0;
/** An ID unique in this process's run: `<label>-<pid>-<counter>`. */
export function uniqueId(label: string): string {
  return `${label}-${process.pid}-${++nextId}`;
}

/** An ID unique everywhere: `<label>-<random UUID>`. */
export function randomId(label: string): string {
  return `${label}-${randomUUID()}`;
}

/**
 * `promise`, or a rejection with `new Error(message)` once `timeoutMs` passed (never, when
 * `timeoutMs` is not finite). The timer is cleared either way.
 */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    if (Number.isFinite(timeoutMs)) timer = setTimeout(() => reject(new Error(message)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** `promise`, or a failure "<what> did not happen within <timeoutMs> ms" (so a wait that never ends fails instead of hanging). */
export function within<T>(promise: Promise<T>, what: string, timeoutMs: number): Promise<T> {
  return withTimeout(promise, timeoutMs, `${what} did not happen within ${timeoutMs} ms`);
}

/** Polls `check` every 20 ms until it returns true; throws "timed out waiting for <what>" after WAIT_MS. */
export async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}

/** Launches `strata`, failing (instead of hanging the file) if recovery does not return within `timeoutMs`. */
export async function launchWithin(strata: Strata, timeoutMs = LAUNCH_TIMEOUT_MS): Promise<void> {
  await withTimeout(strata.launch(), timeoutMs, `launch() did not return within ${timeoutMs} ms (recovery of PENDING workflows is stuck)`);
}

/**
 * Launches `strata`; a launch that fails, or takes longer than `timeoutMs` (default: no limit),
 * shuts the engine down and rethrows.
 */
export async function launchOrShutDown(strata: Strata, timeoutMs = Infinity): Promise<void> {
  try {
    await withTimeout(strata.launch(), timeoutMs, `strata.launch() did not finish within ${timeoutMs} ms`);
  } catch (error) {
    await strata.shutdown();
    throw error;
  }
}

/** One app per describe block, on its own database, that a test can restart like a process. */
export interface RestartableApp<A> {
  /** The current app (a new object after each restart). */
  readonly app: A;
  /** The database (URL or PGlite directory) the app runs on. */
  readonly database: string;
  /**
   * Shuts the app down and launches a new one on the same database with the same executor ID, as
   * a restarted process would; that launch must finish within LAUNCH_TIMEOUT_MS. If it fails,
   * the block gets an app under a new executor ID (so it has nothing to recover) and the error
   * is rethrown.
   */
  restart(): Promise<void>;
}

/**
 * Registers `before`/`after` hooks in the calling describe block: a fresh database of `kind` and
 * an app launched on it (executor ID 'local'), shut down at the end.
 */
export function restartableApp<A extends { readonly strata: Strata }>(
  kind: EngineKind,
  launch: (database: string, executorId: string, timeoutMs?: number) => Promise<A>,
): RestartableApp<A> {
  let database: string | undefined;
  let executorId = 'local';
  let current: A | undefined;
  before(async () => {
    database = await freshDatabaseUrl(kind);
    current = await launch(database, executorId);
  });
  after(async () => {
    await current?.strata.shutdown();
  });
  return {
    get app() {
      return current!;
    },
    get database() {
      return database!;
    },
    async restart() {
      await current!.strata.shutdown();
      try {
        current = await launch(database!, executorId, LAUNCH_TIMEOUT_MS);
      } catch (error) {
        // Leave the next tests an engine that has nothing to recover; the new ID holds even if this launch fails too.
        executorId = uniqueId('replacement');
        current = await launch(database!, executorId);
        throw error;
      }
    },
  };
}

/** Counts the rows `sql` returns. */
export async function countRows(db: Queryable, sql: string, params: unknown[]): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from (${sql}) counted`, params);
  return rows[0]!.n;
}

/** A row of strata.steps, as stepRows() reads it. */
export interface StepRecord {
  step_id: number;
  kind: string;
  name: string;
  output: string | null;
  error: string | null;
  attempts: number;
}

/** The recorded steps of `workflowId`, in step order. */
export async function stepRows(db: Queryable, workflowId: string): Promise<StepRecord[]> {
  const { rows } = await db.query<StepRecord & Record<string, unknown>>(
    'select step_id, kind, name, output, error, attempts from strata.steps where workflow_id = $1 order by step_id',
    [workflowId],
  );
  return rows;
}

/** mulberry32: a small, fast, seedable PRNG; the same seed gives the same sequence everywhere. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The seed in environment variable `name` (to replay a run), or `fallback`. */
export function seedFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const seed = Number(raw);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`${name} must be a whole number ≥ 0, got ${JSON.stringify(raw)}`);
  return seed;
}

/**
 * A set to add the child processes of a test file to; those still in it when the file ends are
 * SIGKILLed, so a failing test leaves no process behind.
 */
export function killedAfterFile(): Set<ChildProcess> {
  const live = new Set<ChildProcess>();
  after(() => {
    for (const child of live) child.kill('SIGKILL');
    live.clear();
  });
  return live;
}
