// Typed errors of the directory layer.

import { StrataError, type ErrorKind } from '@strata/store';

function show(path: readonly string[]): string {
  return JSON.stringify(path);
}

/**
 * `create` (or `move` to) a path that already exists.
 *
 * @example
 * await directory.create(tr, ['app']);
 * await directory.create(tr, ['app']); // throws DirectoryAlreadyExistsError; use createOrOpen
 */
export class DirectoryAlreadyExistsError extends StrataError {
  override get kind(): ErrorKind {
    return 'conflict';
  }
  readonly path: readonly string[];
  constructor(path: readonly string[]) {
    super('STRATA_KV_DIRECTORY_EXISTS', `directory ${show(path)} already exists; open it, use createOrOpen, or pick another path`);
    this.path = path;
  }
}

/**
 * `open`, `move`, `remove` or `list` of a path that does not exist.
 *
 * @example
 * await directory.open(tr, ['nope']); // throws DirectoryNotFoundError
 */
export class DirectoryNotFoundError extends StrataError {
  override get kind(): ErrorKind {
    return 'not-found';
  }
  readonly path: readonly string[];
  constructor(path: readonly string[], what = 'directory') {
    super('STRATA_KV_DIRECTORY_NOT_FOUND', `${what} ${show(path)} does not exist; create it first (createOrOpen creates missing parents)`);
    this.path = path;
  }
}

/**
 * A directory was opened with a layer name other than the one it was created with: the
 * contents were written by a different layer, so reading them as this one would be wrong.
 *
 * @example
 * await directory.create(tr, ['q'], { layer: 'queue' });
 * await directory.open(tr, ['q'], { layer: 'records' }); // throws DirectoryLayerMismatchError
 */
export class DirectoryLayerMismatchError extends StrataError {
  override get kind(): ErrorKind {
    return 'failed-precondition';
  }
  constructor(path: readonly string[], expected: string, actual: string) {
    super(
      'STRATA_KV_DIRECTORY_LAYER_MISMATCH',
      `directory ${show(path)} was created by layer ${JSON.stringify(actual)}, not ${JSON.stringify(expected)}; open it with that layer name (or without one)`,
    );
  }
}

/**
 * A path or a request the directory layer cannot carry out as asked: a path that is not an
 * array of strings, the root where a named directory is needed, a move into its own subtree,
 * a manual prefix that is in use.
 *
 * @example
 * await directory.move(tr, ['a'], ['a', 'b']); // throws InvalidDirectoryOperationError
 */
export class InvalidDirectoryOperationError extends StrataError {
  override get kind(): ErrorKind {
    return 'invalid-argument';
  }
  constructor(message: string) {
    super('STRATA_KV_DIRECTORY_INVALID', message);
  }
}
