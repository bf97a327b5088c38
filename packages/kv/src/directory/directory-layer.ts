// The directory layer: named paths mapped to short allocated key prefixes, as in FoundationDB.

import type { ReadTransaction, Transaction } from '../core/interfaces.js';
import { Subspace } from '../subspace/subspace.js';
import { compareBytes, concatBytes } from '../tuple/bytes.js';
import { pack } from '../tuple/encode.js';
import { unpack } from '../tuple/decode.js';
import { strinc } from '../tuple/range.js';
import {
  DirectoryAlreadyExistsError,
  DirectoryLayerMismatchError,
  DirectoryNotFoundError,
  InvalidDirectoryOperationError,
} from './errors.js';

/** FoundationDB's node-subspace prefix: directory metadata lives under 0xfe, out of the way of content. */
export const DEFAULT_NODE_PREFIX = Uint8Array.of(0xfe);
/** Key under a node that lists its subdirectories (FoundationDB's SUBDIRS). */
const SUBDIRS = 0;
/**
 * Candidate prefixes tried per allocation before giving up: a candidate is skipped only when
 * keys were written there by hand, so more than a few in a row means the keyspace is misused.
 */
const MAX_ALLOCATION_ATTEMPTS = 100;
/** Most entries `list` reads at once; a directory with more children is read in pages. */
const LIST_PAGE_SIZE = 1_000;

/** Options of {@link DirectoryLayer.create}, {@link DirectoryLayer.open} and {@link DirectoryLayer.createOrOpen}. */
export interface DirectoryOptions {
  /**
   * Name of the layer that owns the contents (e.g. `'records'`). Stored at create; `open` with a
   * different name fails. Empty (the default) means any, and opens any.
   */
  readonly layer?: string;
}

/** Options of {@link DirectoryLayer.create}. */
export interface CreateDirectoryOptions extends DirectoryOptions {
  /** Use this prefix instead of allocating one; refused when any key already starts with it or it overlaps another directory. */
  readonly prefix?: Uint8Array;
}

/** Construction options of a {@link DirectoryLayer}. */
export interface DirectoryLayerOptions {
  /** Where directory metadata is kept; default 0xfe. */
  readonly nodePrefix?: Uint8Array;
  /** Prefix in front of every allocated content prefix; default none. */
  readonly contentPrefix?: Uint8Array;
}

/**
 * A directory: a {@link Subspace} with the allocated prefix, plus its path and layer name.
 *
 * @example
 * const users = await directory.createOrOpen(tr, ['app', 'users']);
 * users.path;                 // ['app', 'users']
 * tr.set(users.pack(['ada']), value);
 */
export class DirectorySubspace extends Subspace {
  readonly path: readonly string[];
  readonly layer: string;
  constructor(path: readonly string[], prefix: Uint8Array, layer: string) {
    super(prefix);
    this.path = [...path];
    this.layer = layer;
  }
}

interface Node {
  /** The directory's content prefix. */
  readonly prefix: Uint8Array;
  /** Its metadata subspace: subdirectories and layer name. */
  readonly meta: Subspace;
}

/**
 * The directory layer: maps paths such as `['app', 'users']` to short prefixes it allocates
 * (a few bytes instead of the path's length in every key), with FoundationDB's operations.
 * Every method runs inside a KV transaction, so a directory change commits atomically with the
 * data written next to it. Prefixes come from a counter kept in the layer's metadata; two
 * transactions creating directories at the same time conflict on it and one retries.
 *
 * Layout: content lives under `contentPrefix + pack([n])`; metadata under `nodePrefix`
 * (default 0xfe), as FoundationDB lays it out: a node per prefix, `node[0][name]` = the child's
 * prefix, `node['layer']` = the layer name.
 *
 * @example
 * const directory = new DirectoryLayer();
 * const users = await db.transact((tr) => directory.createOrOpen(tr, ['app', 'users']));
 * await db.transact(async (tr) => tr.set(users.pack(['ada']), pack(['Ada Lovelace'])));
 * await db.transact((tr) => directory.list(tr, ['app'])); // ['users']
 */
export class DirectoryLayer {
  readonly #nodes: Subspace;
  readonly #content: Subspace;
  readonly #root: Node;
  readonly #counterKey: Uint8Array;

  constructor(options: DirectoryLayerOptions = {}) {
    this.#nodes = new Subspace(options.nodePrefix ?? DEFAULT_NODE_PREFIX);
    this.#content = new Subspace(options.contentPrefix ?? new Uint8Array(0));
    // FoundationDB's root node is the node subspace's own prefix, nested in itself.
    this.#root = { prefix: this.#content.key, meta: this.#nodes.sub(this.#nodes.key) };
    this.#counterKey = this.#root.meta.pack(['alloc', 'next']);
  }

  /**
   * Opens the directory at `path`, creating it (and any missing parent) if it does not exist.
   *
   * @throws {DirectoryLayerMismatchError} when it exists with another layer name.
   *
   * @example
   * const orders = await directory.createOrOpen(tr, ['app', 'orders'], { layer: 'records' });
   */
  async createOrOpen(tr: Transaction, path: readonly string[], options: DirectoryOptions = {}): Promise<DirectorySubspace> {
    checkPath(path, 'createOrOpen');
    const found = await this.#find(tr, path);
    if (found !== undefined) return this.#opened(tr, path, found, options.layer ?? '');
    return this.#create(tr, path, options);
  }

  /**
   * Creates the directory at `path` (and any missing parent).
   *
   * @throws {DirectoryAlreadyExistsError} when it exists.
   *
   * @example
   * const logs = await directory.create(tr, ['logs'], { layer: 'log' });
   */
  async create(tr: Transaction, path: readonly string[], options: CreateDirectoryOptions = {}): Promise<DirectorySubspace> {
    checkPath(path, 'create');
    if ((await this.#find(tr, path)) !== undefined) throw new DirectoryAlreadyExistsError(path);
    return this.#create(tr, path, options);
  }

  /**
   * Opens the existing directory at `path`.
   *
   * @throws {DirectoryNotFoundError} when it does not exist.
   * @throws {DirectoryLayerMismatchError} when `layer` is given and differs from its own.
   *
   * @example
   * const users = await directory.open(tr, ['app', 'users']);
   */
  async open(tr: ReadTransaction, path: readonly string[], options: DirectoryOptions = {}): Promise<DirectorySubspace> {
    checkPath(path, 'open');
    const found = await this.#find(tr, path);
    if (found === undefined) throw new DirectoryNotFoundError(path);
    return this.#opened(tr, path, found, options.layer ?? '');
  }

  /**
   * Whether a directory exists at `path` (the empty path, the root, always does).
   *
   * @example
   * await directory.exists(tr, ['app', 'users']); // true
   */
  async exists(tr: ReadTransaction, path: readonly string[]): Promise<boolean> {
    checkPath(path, 'exists', true);
    return (await this.#find(tr, path)) !== undefined;
  }

  /**
   * The names of the subdirectories of `path` (the root by default), in byte order of their names.
   *
   * @throws {DirectoryNotFoundError} when `path` does not exist.
   *
   * @example
   * await directory.list(tr, ['app']); // ['orders', 'users']
   */
  async list(tr: ReadTransaction, path: readonly string[] = []): Promise<string[]> {
    checkPath(path, 'list', true);
    const node = await this.#find(tr, path);
    if (node === undefined) throw new DirectoryNotFoundError(path);
    return (await this.#children(tr, node)).map((child) => child.name);
  }

  /**
   * Moves the directory at `oldPath` to `newPath`, contents and subdirectories included. Its
   * prefix does not change, so keys written under it stay where they are. The new parent must
   * exist.
   *
   * @throws {DirectoryNotFoundError} when `oldPath` or the parent of `newPath` does not exist.
   * @throws {DirectoryAlreadyExistsError} when `newPath` exists.
   * @throws {InvalidDirectoryOperationError} when `newPath` is inside `oldPath`.
   *
   * @example
   * await directory.move(tr, ['app', 'tmp'], ['app', 'users']);
   */
  async move(tr: Transaction, oldPath: readonly string[], newPath: readonly string[]): Promise<DirectorySubspace> {
    checkPath(oldPath, 'move');
    checkPath(newPath, 'move');
    if (newPath.length >= oldPath.length && oldPath.every((name, i) => newPath[i] === name)) {
      throw new InvalidDirectoryOperationError(`cannot move directory ${JSON.stringify(oldPath)} into itself (${JSON.stringify(newPath)}); pick a destination outside it`);
    }
    const node = await this.#find(tr, oldPath);
    if (node === undefined) throw new DirectoryNotFoundError(oldPath);
    if ((await this.#find(tr, newPath)) !== undefined) throw new DirectoryAlreadyExistsError(newPath);
    const newParent = await this.#find(tr, newPath.slice(0, -1));
    if (newParent === undefined) throw new DirectoryNotFoundError(newPath.slice(0, -1), 'the destination parent');
    const oldParent = await this.#find(tr, oldPath.slice(0, -1));
    if (oldParent === undefined) throw new DirectoryNotFoundError(oldPath.slice(0, -1));
    tr.set(newParent.meta.pack([SUBDIRS, last(newPath)]), node.prefix);
    tr.clear(oldParent.meta.pack([SUBDIRS, last(oldPath)]));
    return new DirectorySubspace(newPath, node.prefix, await this.#layerOf(tr, node));
  }

  /**
   * Removes the directory at `path`: its contents, its subdirectories and theirs.
   *
   * @throws {DirectoryNotFoundError} when it does not exist.
   *
   * @example
   * await directory.remove(tr, ['app', 'scratch']);
   */
  async remove(tr: Transaction, path: readonly string[]): Promise<void> {
    if (!(await this.removeIfExists(tr, path))) throw new DirectoryNotFoundError(path);
  }

  /**
   * Removes the directory at `path` if there is one; says whether there was.
   *
   * @example
   * await directory.removeIfExists(tr, ['app', 'scratch']); // false the second time
   */
  async removeIfExists(tr: Transaction, path: readonly string[]): Promise<boolean> {
    checkPath(path, 'remove');
    const node = await this.#find(tr, path);
    if (node === undefined) return false;
    await this.#removeRecursive(tr, node);
    const parent = await this.#find(tr, path.slice(0, -1));
    if (parent === undefined) throw new DirectoryNotFoundError(path.slice(0, -1));
    tr.clear(parent.meta.pack([SUBDIRS, last(path)]));
    return true;
  }

  async #create(tr: Transaction, path: readonly string[], options: CreateDirectoryOptions): Promise<DirectorySubspace> {
    const parentPath = path.slice(0, -1);
    const parent = parentPath.length === 0 ? this.#root : await this.#nodeOf(await this.createOrOpen(tr, parentPath));
    const prefix = options.prefix !== undefined ? await this.#checkManualPrefix(tr, options.prefix) : await this.#allocate(tr);
    const node = this.#nodeFor(prefix);
    const layer = options.layer ?? '';
    tr.set(parent.meta.pack([SUBDIRS, last(path)]), prefix);
    tr.set(node.meta.pack(['layer']), new TextEncoder().encode(layer));
    return new DirectorySubspace(path, prefix, layer);
  }

  async #opened(tr: ReadTransaction, path: readonly string[], node: Node, wanted: string): Promise<DirectorySubspace> {
    const layer = await this.#layerOf(tr, node);
    if (wanted !== '' && layer !== wanted) throw new DirectoryLayerMismatchError(path, wanted, layer);
    return new DirectorySubspace(path, node.prefix, layer);
  }

  async #nodeOf(directory: DirectorySubspace): Promise<Node> {
    return this.#nodeFor(directory.key);
  }

  /** The next free prefix: `contentPrefix + pack([n])` for the counter's next n with no keys under it. */
  async #allocate(tr: Transaction): Promise<Uint8Array> {
    const stored = await tr.get(this.#counterKey);
    let next = stored === undefined ? 0 : Number(unpack(stored)[0]);
    for (let attempt = 0; attempt < MAX_ALLOCATION_ATTEMPTS; attempt++, next++) {
      const prefix = concatBytes(this.#content.key, pack([next]));
      if (await this.#isFree(tr, prefix)) {
        tr.set(this.#counterKey, pack([next + 1]));
        return prefix;
      }
    }
    throw new InvalidDirectoryOperationError(
      `no free directory prefix in ${MAX_ALLOCATION_ATTEMPTS} tries: keys were written by hand where the directory layer allocates; give the layer a contentPrefix of its own`,
    );
  }

  async #checkManualPrefix(tr: ReadTransaction, prefix: Uint8Array): Promise<Uint8Array> {
    if (!(prefix instanceof Uint8Array) || prefix.length === 0) {
      throw new InvalidDirectoryOperationError('a manual directory prefix is a non-empty Uint8Array');
    }
    if (this.#nodes.contains(prefix) || (prefix.length < this.#nodes.key.length && this.#nodes.key.subarray(0, prefix.length).every((b, i) => b === prefix[i]))) {
      throw new InvalidDirectoryOperationError('a manual directory prefix must not overlap the directory metadata (0xfe by default)');
    }
    if (!(await this.#isFree(tr, prefix))) {
      throw new InvalidDirectoryOperationError(`prefix ${Buffer.from(prefix).toString('hex')} is in use (keys start with it); pick another or let the layer allocate one`);
    }
    // No existing directory's prefix may start with this one, nor this one with theirs.
    for (const other of await this.#allPrefixes(tr, this.#root)) {
      const shorter = other.length < prefix.length ? other : prefix;
      const longer = shorter === other ? prefix : other;
      if (compareBytes(longer.subarray(0, shorter.length), shorter) === 0) {
        throw new InvalidDirectoryOperationError(`prefix ${Buffer.from(prefix).toString('hex')} overlaps another directory's prefix; pick another`);
      }
    }
    return Uint8Array.from(prefix);
  }

  async #allPrefixes(tr: ReadTransaction, node: Node): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    for (const child of await this.#children(tr, node)) {
      out.push(child.node.prefix, ...(await this.#allPrefixes(tr, child.node)));
    }
    return out;
  }

  async #isFree(tr: ReadTransaction, prefix: Uint8Array): Promise<boolean> {
    const taken = await tr.getRange(prefix, strinc(prefix), { limit: 1 });
    return taken.length === 0;
  }

  async #find(tr: ReadTransaction, path: readonly string[]): Promise<Node | undefined> {
    let node = this.#root;
    for (const name of path) {
      const prefix = await tr.get(node.meta.pack([SUBDIRS, name]));
      if (prefix === undefined) return undefined;
      node = this.#nodeFor(prefix);
    }
    return node;
  }

  async #children(tr: ReadTransaction, node: Node): Promise<Array<{ name: string; node: Node }>> {
    const { begin, end } = node.meta.range([SUBDIRS]);
    const children: Array<{ name: string; node: Node }> = [];
    let from = begin;
    for (;;) {
      const page = await tr.getRange(from, end, { limit: LIST_PAGE_SIZE });
      for (const { key, value } of page) {
        const name = node.meta.unpack(key)[1];
        if (typeof name !== 'string') throw new InvalidDirectoryOperationError('directory metadata is corrupt: a subdirectory name is not a string');
        children.push({ name, node: this.#nodeFor(value) });
      }
      const lastEntry = page[page.length - 1];
      if (page.length < LIST_PAGE_SIZE || lastEntry === undefined) return children;
      from = concatBytes(lastEntry.key, Uint8Array.of(0x00));
    }
  }

  async #layerOf(tr: ReadTransaction, node: Node): Promise<string> {
    const stored = await tr.get(node.meta.pack(['layer']));
    return stored === undefined ? '' : new TextDecoder().decode(stored);
  }

  async #removeRecursive(tr: Transaction, node: Node): Promise<void> {
    for (const child of await this.#children(tr, node)) await this.#removeRecursive(tr, child.node);
    tr.clearRange(node.prefix, strinc(node.prefix));
    const meta = node.meta.key;
    tr.clearRange(meta, strinc(meta));
  }

  #nodeFor(prefix: Uint8Array): Node {
    return { prefix: Uint8Array.from(prefix), meta: this.#nodes.sub(prefix) };
  }
}

function checkPath(path: readonly string[], operation: string, rootAllowed = false): void {
  if (!Array.isArray(path) || !path.every((name) => typeof name === 'string')) {
    throw new InvalidDirectoryOperationError(`${operation}: a directory path is an array of strings, such as ['app', 'users']`);
  }
  if (!rootAllowed && path.length === 0) {
    throw new InvalidDirectoryOperationError(`${operation}: the root directory cannot be ${operation === 'open' ? 'opened as a subspace' : `the target of ${operation}`}; name a directory, such as ['app']`);
  }
}

function last(path: readonly string[]): string {
  const name = path[path.length - 1];
  if (name === undefined) throw new InvalidDirectoryOperationError('the path is empty; name a directory, such as [\'app\']');
  return name;
}
