// The databases an engine opens itself from URLs (and so closes), or is given as Database objects (and leaves open).
import { DatabaseLockedError, openDatabase, type Database, type ProfileRequest } from '@strata/store';
import { InvalidArgumentError } from '../errors.js';

/** The databases one engine opened itself; closed when it stops. */
export class OwnedDatabases {
  #owned: Database[] = [];
  /** The capability profile of the databases opened from URLs (undefined: the store's default). */
  readonly #profile: ProfileRequest | undefined;

  constructor(profile?: ProfileRequest) {
    this.#profile = profile;
  }

  /**
   * `target` when it is a Database; else opens the URL or directory (the default database when
   * undefined) and keeps it to close. `shareEmbedded` false refuses an embedded directory that a
   * running process holds, instead of connecting through that process's socket.
   */
  async open(target: Database | string | undefined, poolSize?: number, shareEmbedded = true): Promise<Database> {
    if (target !== undefined && typeof target !== 'string') {
      if (typeof (target as Database).transaction !== 'function') {
        throw new InvalidArgumentError('database must be a postgres:// URL, memory://, a directory path, or a Database from @strata/store');
      }
      return target;
    }
    const db = await openDatabase({
      ...(target === undefined ? {} : { url: target }),
      ...(this.#profile === undefined ? {} : { profile: this.#profile }),
      ...(poolSize === undefined ? {} : { poolSize }),
      ...(shareEmbedded ? {} : { ifLocked: 'fail' as const }),
    }).catch((error: unknown) => {
      if (!(error instanceof DatabaseLockedError) || shareEmbedded) throw error;
      throw new DatabaseLockedError(
        `${error.message}. A second app process with the default executorId 'local' would take over the running one's workflows, ` +
          'so it is refused; to run a second executor on this directory (through the running process\'s socket), give it its own executorId (STRATA_EXECUTOR_ID)',
      );
    });
    this.#owned.push(db);
    return db;
  }

  /** Closes every database opened here (failures ignored: the engine is stopping). */
  async closeAll(): Promise<void> {
    const owned = this.#owned;
    this.#owned = [];
    await Promise.allSettled(owned.map((db) => db.close()));
  }
}

/** Runs `body` on `running` (a launched engine's database) when no target is given, on `target`, or on `configured` opened and closed here. */
export async function withDatabase<T>(
  target: Database | string | undefined,
  configured: Database | string | undefined,
  running: Database | undefined,
  profile: ProfileRequest | undefined,
  body: (db: Database) => Promise<T>,
): Promise<T> {
  if (target === undefined && running) return body(running);
  const given = target ?? configured;
  if (given !== undefined && typeof given !== 'string') return body(given);
  const db = await openDatabase({ ...(given === undefined ? {} : { url: given }), ...(profile === undefined ? {} : { profile }) });
  try {
    return await body(db);
  } finally {
    await db.close();
  }
}
