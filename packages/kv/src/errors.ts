// Typed errors of the key-value core: bad keys and values, FoundationDB's limits, misuse of a
// transaction, conflicts that outlasted their retries, watches and a closed database.

import { StrataError, type ErrorKind } from '@strata/store';

/**
 * A key, value or argument is not what the KV core takes: not a `Uint8Array`, a negative or
 * out-of-range versionstamp offset, a non-integer limit.
 *
 * @example
 * tr.set('user:1' as never, value); // throws InvalidKeyError: keys are Uint8Array (use pack(['user', 1]))
 */
export class InvalidKeyError extends StrataError {
  override get kind(): ErrorKind {
    return 'invalid-argument';
  }
  constructor(message: string) {
    super('STRATA_KV_INVALID_ARGUMENT', message);
  }
}

/**
 * A key at or past the system range (starting with byte 0xff), which FoundationDB reserves for
 * the system; application keys are below it. A range may end exactly at `[0xff]`.
 *
 * @example
 * tr.set(Uint8Array.of(0xff, 1), value); // throws KeyOutsideLegalRangeError
 */
export class KeyOutsideLegalRangeError extends StrataError {
  override get kind(): ErrorKind {
    return 'invalid-argument';
  }
  constructor(what: string) {
    super(
      'STRATA_KV_KEY_OUTSIDE_LEGAL_RANGE',
      `${what} starts with byte 0xff, the system range; application keys must be below it (a range may end at Uint8Array.of(0xff)). Put your keys in a subspace`,
    );
  }
}

/** Which of FoundationDB's limits an error names. */
export type KvLimit = 'key size' | 'value size' | 'transaction size' | 'transaction duration';

/**
 * Base of the errors that say a FoundationDB limit was exceeded; `limit` names which one,
 * `maximum` is the bound and `actual` what was asked.
 *
 * @example
 * try { tr.set(key, hugeValue); } catch (error) {
 *   if (error instanceof KvLimitError) console.log(`${error.limit}: ${error.actual} > ${error.maximum}`);
 * }
 */
export abstract class KvLimitError extends StrataError {
  /** The limit, in words: `'key size'`, `'value size'`, `'transaction size'`, `'transaction duration'`. */
  readonly limit: KvLimit;
  /** The bound (bytes, or milliseconds for the duration). */
  readonly maximum: number;
  /** What the call asked for (bytes, or milliseconds). */
  readonly actual: number;
  constructor(code: string, limit: KvLimit, maximum: number, actual: number, message: string) {
    super(code, message);
    this.limit = limit;
    this.maximum = maximum;
    this.actual = actual;
  }
}

/**
 * A key longer than 10,000 bytes (FoundationDB's key size limit).
 *
 * @example
 * tr.set(new Uint8Array(10_001), value); // throws KeyTooLargeError (limit 'key size')
 */
export class KeyTooLargeError extends KvLimitError {
  override get kind(): ErrorKind {
    return 'invalid-argument';
  }
  constructor(maximum: number, actual: number) {
    super(
      'STRATA_KV_KEY_TOO_LARGE',
      'key size',
      maximum,
      actual,
      `the key is ${actual} bytes; the key size limit is ${maximum} bytes. Keep keys short (an id, not a document) and put data in values`,
    );
  }
}

/**
 * A value longer than 100,000 bytes (FoundationDB's value size limit).
 *
 * @example
 * tr.set(key, new Uint8Array(100_001)); // throws ValueTooLargeError (limit 'value size')
 */
export class ValueTooLargeError extends KvLimitError {
  override get kind(): ErrorKind {
    return 'invalid-argument';
  }
  constructor(maximum: number, actual: number) {
    super(
      'STRATA_KV_VALUE_TOO_LARGE',
      'value size',
      maximum,
      actual,
      `the value is ${actual} bytes; the value size limit is ${maximum} bytes. Split it over several keys (a blob layer: key + chunk number)`,
    );
  }
}

/**
 * A transaction whose reads and writes add up to more than 10,000,000 bytes (FoundationDB's
 * transaction size limit; see the README for what counts).
 *
 * @example
 * for (let i = 0; i < 200; i++) tr.set(pack([i]), new Uint8Array(100_000)); // throws TransactionTooLargeError
 */
export class TransactionTooLargeError extends KvLimitError {
  override get kind(): ErrorKind {
    return 'invalid-argument';
  }
  constructor(maximum: number, actual: number) {
    super(
      'STRATA_KV_TRANSACTION_TOO_LARGE',
      'transaction size',
      maximum,
      actual,
      `the transaction's reads and writes add up to ${actual} bytes; the transaction size limit is ${maximum} bytes. Split the work into several transactions (e.g. batches of keys)`,
    );
  }
}

/**
 * An attempt of a transaction ran longer than 5,000 ms (FoundationDB's transaction duration
 * limit). Not retried: a body this slow would be as slow again.
 *
 * @example
 * await kv.transact(async (tr) => { await sleep(6_000); await tr.get(key); }); // throws TransactionTooOldError
 */
export class TransactionTooOldError extends KvLimitError {
  override get kind(): ErrorKind {
    return 'failed-precondition';
  }
  constructor(maximum: number, actual: number) {
    super(
      'STRATA_KV_TRANSACTION_TOO_OLD',
      'transaction duration',
      maximum,
      actual,
      `the transaction has run for ${actual} ms; the transaction duration limit is ${maximum} ms. Do slow work (HTTP calls, big computations) outside the transaction body and split long scans into several transactions`,
    );
  }
}

/**
 * A transaction object used after its transaction finished: after `transact` returned, after its
 * attempt was retried (a stale `tr` kept from an earlier attempt), or while it commits.
 *
 * @example
 * let saved; await kv.transact(async (tr) => { saved = tr; });
 * saved.set(key, value); // throws TransactionFinishedError
 */
export class TransactionFinishedError extends StrataError {
  override get kind(): ErrorKind {
    return 'failed-precondition';
  }
  constructor(what: string) {
    super(
      'STRATA_KV_TRANSACTION_FINISHED',
      `${what} on a transaction that has already finished (committed, failed, or replaced by a retry); use the tr passed to the current run of the body, and do not keep it after transact returns`,
    );
  }
}

/**
 * The transaction kept conflicting with concurrent transactions (or kept losing its database
 * connection) until its attempt bound. `attempts` says how many runs were made.
 *
 * @example
 * try { await kv.transact(body, { maxAttempts: 5 }); } catch (error) {
 *   if (error instanceof NotCommittedError) console.log('hot spot after', error.attempts, 'attempts');
 * }
 */
export class NotCommittedError extends StrataError {
  override get kind(): ErrorKind {
    return 'conflict';
  }
  readonly attempts: number;
  constructor(attempts: number, cause: unknown) {
    super(
      'STRATA_KV_NOT_COMMITTED',
      `the transaction did not commit in ${attempts} attempt(s) (last: ${describe(cause)}); reduce contention on the keys it reads (atomic operations and snapshot reads add no read conflicts) or raise maxAttempts`,
      { cause },
    );
    this.attempts = attempts;
  }
}

/**
 * The connection was lost while a commit was on its way and the database stayed unreachable long
 * enough that whether it committed could not be found out.
 *
 * @example
 * try { await kv.transact(body); } catch (error) {
 *   if (error instanceof CommitUnknownError) await reconcile(); // read back what the body wrote
 * }
 */
export class CommitUnknownError extends StrataError {
  override get kind(): ErrorKind {
    return 'unavailable';
  }
  constructor(cause: unknown) {
    super(
      'STRATA_KV_COMMIT_UNKNOWN',
      `the connection was lost during COMMIT and the database could not be asked whether the transaction committed (${describe(cause)}); once it is back, read the keys the body writes to find out`,
      { cause },
    );
  }
}

/**
 * The KV database was used after `close()`, or a watch was pending when it closed.
 *
 * @example
 * await kv.close();
 * await kv.transact(async (tr) => tr.get(key)); // throws KvClosedError
 */
export class KvClosedError extends StrataError {
  override get kind(): ErrorKind {
    return 'unavailable';
  }
  constructor(what: string) {
    super('STRATA_KV_CLOSED', `${what}: the KV database is closed; open a new one with openKv()`);
  }
}

/**
 * The watch was cancelled with `cancel()` before its key changed.
 *
 * @example
 * const w = tr.watch(key); w.cancel(); await w.promise; // rejects with WatchCancelledError
 */
export class WatchCancelledError extends StrataError {
  override get kind(): ErrorKind {
    return 'failed-precondition';
  }
  constructor() {
    super('STRATA_KV_WATCH_CANCELLED', 'the watch was cancelled before its key changed; set a new watch to wait again');
  }
}

/**
 * More watches than the database allows at once (10,000, FoundationDB's default).
 *
 * @example
 * for (const key of manyKeys) tr.watch(key); // the 10,001st pending watch fails with TooManyWatchesError
 */
export class TooManyWatchesError extends StrataError {
  override get kind(): ErrorKind {
    return 'failed-precondition';
  }
  constructor(maximum: number) {
    super(
      'STRATA_KV_TOO_MANY_WATCHES',
      `${maximum} watches are already pending on this KV database, its limit; cancel watches you no longer need, or watch one key that summarizes many (a version counter)`,
    );
  }
}

/**
 * The transaction has no commit version to give: it wrote nothing (a read-only transaction
 * commits without one), or it failed.
 *
 * @example
 * let stamp; await kv.transact(async (tr) => { stamp = tr.getVersionstamp(); await tr.get(key); });
 * await stamp; // rejects with NoCommitVersionError
 */
export class NoCommitVersionError extends StrataError {
  override get kind(): ErrorKind {
    return 'failed-precondition';
  }
  constructor(why: string) {
    super('STRATA_KV_NO_COMMIT_VERSION', `the transaction has no versionstamp: ${why}`);
  }
}

/**
 * A read of a key this transaction wrote with `setVersionstampedValue`: its value is only known
 * at commit.
 *
 * @example
 * tr.setVersionstampedValue(key, placeholder, 0);
 * await tr.get(key); // throws AccessedUnreadableError
 */
export class AccessedUnreadableError extends StrataError {
  override get kind(): ErrorKind {
    return 'invalid-argument';
  }
  constructor() {
    super(
      'STRATA_KV_ACCESSED_UNREADABLE',
      'the read touches a key whose versionstamped value this transaction set; it is only known after commit. Read it in a later transaction, or use a snapshot read of keys outside it',
    );
  }
}

function describe(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === 'string' ? `${code} ${cause.message}` : cause.message;
  }
  return String(cause);
}
