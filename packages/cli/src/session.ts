/**
 * What one command invocation works with: the resolved global options, the output streams, and
 * the database connections it opened (closed when the command ends).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { openDatabase, type Database } from '@strata/store';
import { StrataClient } from '@strata/transact';
import { CliError, ExitCode } from './errors.js';
import { toJson, visibleLines } from './format.js';

/** Where output goes; the process's streams in the real command. */
export interface Io {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** Writes to the process's stdout and stderr. */
export const processIo: Io = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
};

/** A URL scheme (`postgres://`, `memory://`) rather than a directory of an embedded database. */
const URL_SCHEME = /^[a-z][a-z0-9+.-]*:/i;
/** How deep below the working directory a missing database is looked for: the repo's `examples/orders/.strata` is two levels down. */
const SEARCH_DEPTH_MAX = 3;
/** Bound on the directories read while looking, so a huge tree (a home directory) costs milliseconds, not minutes. */
const SEARCH_DIRECTORIES_MAX = 2_000;
/** Folders never searched: dependencies and version control hold no app's database. */
const SEARCH_SKIPPED = new Set(['node_modules', '.git', 'dist']);

/** A command's connections and output. */
export class Session {
  /** `--database`, the environment, or the default embedded directory. */
  readonly databaseUrl: string;
  /** `--json`: machine-readable output. */
  readonly json: boolean;
  readonly #io: Io;
  #client: Promise<StrataClient> | undefined;
  #database: Promise<Database> | undefined;

  constructor(databaseUrl: string, json: boolean, io: Io) {
    this.databaseUrl = databaseUrl;
    this.json = json;
    this.#io = io;
  }

  /** A database-only client of the system database, connected on first use. */
  client(): Promise<StrataClient> {
    this.#client ??= (async () => StrataClient.connect({ database: this.checkedDatabaseUrl() }))();
    return this.#client;
  }

  /** The database itself (no migrations), for `strata sql`. */
  database(): Promise<Database> {
    this.#database ??= (async () => openDatabase({ url: this.checkedDatabaseUrl() }))();
    return this.#database;
  }

  /**
   * The database URL, after checking that an embedded database directory exists: opening a
   * missing one would silently create an empty database there.
   */
  checkedDatabaseUrl(): string {
    if (!URL_SCHEME.test(this.databaseUrl) && !existsSync(this.databaseUrl)) {
      const found = findEmbeddedDatabases(process.cwd());
      const hint =
        found.length === 0
          ? ''
          : `; found ${found.length === 1 ? 'one' : found.length} below here: ${found.map((dir) => `strata --database ${quoteArgument(dir)} …`).join(', ')}`;
      throw new CliError(
        `no embedded database at ${resolve(this.databaseUrl)}${hint}; give --database <postgres:// URL or directory> or set STRATA_DATABASE_URL`,
        ExitCode.failed,
      );
    }
    return this.databaseUrl;
  }

  /**
   * Prints human-readable text to stdout. Its lines stay; any other control character is shown
   * as an escape (`\x1b`), a last guard for values a command interpolated without `visible()`.
   */
  print(text: string): void {
    this.#io.stdout(visibleLines(text));
  }

  /** Prints a value as indented JSON to stdout. */
  printJson(value: unknown): void {
    this.#io.stdout(`${toJson(value, 2)}\n`);
  }

  /** Closes whatever this session opened. */
  async close(): Promise<void> {
    const client = this.#client;
    const database = this.#database;
    this.#client = undefined;
    this.#database = undefined;
    await Promise.all([
      client?.then((c) => c.close()).catch(() => {}),
      database?.then((d) => d.close()).catch(() => {}),
    ]);
  }
}

/**
 * Embedded databases (`.strata` directories holding `pgdata`) below `root`, as paths relative to
 * it, nearest first: what to suggest when the default `./.strata` does not exist.
 */
export function findEmbeddedDatabases(root: string): string[] {
  const found: string[] = [];
  let level = [root];
  let read = 0;
  for (let depth = 0; depth <= SEARCH_DEPTH_MAX && level.length > 0; depth++) {
    const next: string[] = [];
    for (const dir of level) {
      if (read++ >= SEARCH_DIRECTORIES_MAX) return found;
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        continue; // unreadable: not ours to search
      }
      for (const entry of entries) {
        if (!entry.isDirectory() || SEARCH_SKIPPED.has(entry.name)) continue;
        const path = join(dir, entry.name);
        if (entry.name === '.strata') {
          if (existsSync(join(path, 'pgdata'))) found.push(relative(root, path));
        } else if (!entry.name.startsWith('.')) {
          next.push(path);
        }
      }
    }
    level = next.sort();
  }
  return found;
}

/** `dir` as typed on a shell command line. */
function quoteArgument(dir: string): string {
  return /^[\w./-]+$/.test(dir) ? dir : `'${dir.replaceAll("'", `'\\''`)}'`;
}
