// The directory layer on each engine: paths to short allocated prefixes, created with their
// parents, listed, moved with their contents, removed with everything under them, typed errors.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { engines } from '@strata/testing';
import {
  compareBytes,
  DirectoryAlreadyExistsError,
  DirectoryLayer,
  DirectoryLayerMismatchError,
  DirectoryNotFoundError,
  InvalidDirectoryOperationError,
  pack,
  unpack,
  type KvDatabase,
} from '../src/index.js';
import { openTestKv, type TestKv } from './layers-helpers.js';

for (const kind of engines()) {
  describe(`directory layer (${kind})`, () => {
    let opened: TestKv;
    let kv: KvDatabase;
    before(async () => {
      opened = await openTestKv(kind);
      kv = opened.kv;
    });
    after(async () => {
      await opened.close();
    });

    test('createOrOpen creates the directory and its parents; open finds the same prefix', async () => {
      const directory = new DirectoryLayer({ nodePrefix: Uint8Array.of(0xfe, 0x01), contentPrefix: Uint8Array.of(0x10) });
      const users = await kv.transact((tr) => directory.createOrOpen(tr, ['app', 'users']));
      assert.deepEqual(users.path, ['app', 'users']);
      const again = await kv.transact((tr) => directory.open(tr, ['app', 'users']));
      assert.deepEqual(again.key, users.key);
      assert.equal(await kv.transact((tr) => directory.exists(tr, ['app'])), true);
      const app = await kv.transact((tr) => directory.open(tr, ['app']));
      assert.notDeepEqual(app.key, users.key);
      assert.ok(users.key.length <= 3, 'allocated prefixes are short: the content prefix and a small packed integer');
    });

    test('keys written in one directory are invisible in another, and a directory\'s range holds only its own', async () => {
      const directory = new DirectoryLayer({ nodePrefix: Uint8Array.of(0xfe, 0x02), contentPrefix: Uint8Array.of(0x11) });
      const [a, b] = await kv.transact(async (tr) => [await directory.create(tr, ['a']), await directory.create(tr, ['b'])]);
      await kv.transact(async (tr) => {
        tr.set(a.pack(['k']), pack(['in a']));
        tr.set(b.pack(['k']), pack(['in b']));
      });
      const rowsOfA = await kv.transact((tr) => tr.getRange(a.range().begin, a.range().end));
      assert.deepEqual(rowsOfA.map(({ key, value }) => [a.unpack(key), unpack(value)]), [[['k'], ['in a']]]);
    });

    test('list gives the subdirectory names in order; list of a missing path is DirectoryNotFoundError', async () => {
      const directory = new DirectoryLayer({ nodePrefix: Uint8Array.of(0xfe, 0x03), contentPrefix: Uint8Array.of(0x12) });
      await kv.transact(async (tr) => {
        for (const name of ['orders', 'users', 'audit']) await directory.create(tr, ['app', name]);
      });
      assert.deepEqual(await kv.transact((tr) => directory.list(tr, ['app'])), ['audit', 'orders', 'users']);
      assert.deepEqual(await kv.transact((tr) => directory.list(tr)), ['app']);
      await assert.rejects(kv.transact((tr) => directory.list(tr, ['nope'])), DirectoryNotFoundError);
    });

    test('create of an existing path and open of a missing one are typed errors', async () => {
      const directory = new DirectoryLayer({ nodePrefix: Uint8Array.of(0xfe, 0x04), contentPrefix: Uint8Array.of(0x13) });
      await kv.transact((tr) => directory.create(tr, ['x']));
      await assert.rejects(kv.transact((tr) => directory.create(tr, ['x'])), (error: unknown) => {
        assert.ok(error instanceof DirectoryAlreadyExistsError);
        assert.equal(error.code, 'STRATA_KV_DIRECTORY_EXISTS');
        assert.match(error.message, /createOrOpen/);
        return true;
      });
      await assert.rejects(kv.transact((tr) => directory.open(tr, ['y'])), (error: unknown) => {
        assert.ok(error instanceof DirectoryNotFoundError);
        assert.equal(error.kind, 'not-found');
        return true;
      });
    });

    test('a layer name is checked on open', async () => {
      const directory = new DirectoryLayer({ nodePrefix: Uint8Array.of(0xfe, 0x05), contentPrefix: Uint8Array.of(0x14) });
      await kv.transact((tr) => directory.create(tr, ['q'], { layer: 'queue' }));
      assert.equal((await kv.transact((tr) => directory.open(tr, ['q']))).layer, 'queue');
      await assert.rejects(kv.transact((tr) => directory.open(tr, ['q'], { layer: 'records' })), DirectoryLayerMismatchError);
      await assert.rejects(kv.transact((tr) => directory.createOrOpen(tr, ['q'], { layer: 'records' })), DirectoryLayerMismatchError);
    });

    test('move renames a directory and keeps its contents and subdirectories', async () => {
      const directory = new DirectoryLayer({ nodePrefix: Uint8Array.of(0xfe, 0x06), contentPrefix: Uint8Array.of(0x15) });
      const tmp = await kv.transact(async (tr) => {
        await directory.create(tr, ['live']);
        const created = await directory.create(tr, ['tmp']);
        await directory.create(tr, ['tmp', 'child']);
        tr.set(created.pack(['row']), pack([1]));
        return created;
      });
      const moved = await kv.transact((tr) => directory.move(tr, ['tmp'], ['live', 'users']));
      assert.deepEqual(moved.key, tmp.key);
      assert.equal(await kv.transact((tr) => directory.exists(tr, ['tmp'])), false);
      assert.deepEqual(await kv.transact((tr) => directory.list(tr, ['live', 'users'])), ['child']);
      const value = await kv.transact((tr) => tr.get(moved.pack(['row'])));
      assert.deepEqual(value && unpack(value), [1]);
    });

    test('move is refused into its own subtree, onto an existing path, or under a missing parent', async () => {
      const directory = new DirectoryLayer({ nodePrefix: Uint8Array.of(0xfe, 0x07), contentPrefix: Uint8Array.of(0x16) });
      await kv.transact(async (tr) => {
        await directory.create(tr, ['a']);
        await directory.create(tr, ['b']);
      });
      await assert.rejects(kv.transact((tr) => directory.move(tr, ['a'], ['a', 'inner'])), InvalidDirectoryOperationError);
      await assert.rejects(kv.transact((tr) => directory.move(tr, ['a'], ['b'])), DirectoryAlreadyExistsError);
      await assert.rejects(kv.transact((tr) => directory.move(tr, ['a'], ['missing', 'a'])), DirectoryNotFoundError);
      await assert.rejects(kv.transact((tr) => directory.move(tr, ['missing'], ['c'])), DirectoryNotFoundError);
    });

    test('remove deletes the contents, the subdirectories and their contents; a second remove is not found', async () => {
      const directory = new DirectoryLayer({ nodePrefix: Uint8Array.of(0xfe, 0x08), contentPrefix: Uint8Array.of(0x17) });
      const [parent, child, keep] = await kv.transact(async (tr) => {
        const p = await directory.create(tr, ['p']);
        const c = await directory.create(tr, ['p', 'c']);
        const k = await directory.create(tr, ['keep']);
        for (const d of [p, c, k]) tr.set(d.pack(['row']), pack(['x']));
        return [p, c, k];
      });
      await kv.transact((tr) => directory.remove(tr, ['p']));
      assert.equal(await kv.transact((tr) => tr.get(parent.pack(['row']))), undefined);
      assert.equal(await kv.transact((tr) => tr.get(child.pack(['row']))), undefined);
      assert.notEqual(await kv.transact((tr) => tr.get(keep.pack(['row']))), undefined);
      assert.deepEqual(await kv.transact((tr) => directory.list(tr)), ['keep']);
      await assert.rejects(kv.transact((tr) => directory.remove(tr, ['p'])), DirectoryNotFoundError);
      assert.equal(await kv.transact((tr) => directory.removeIfExists(tr, ['p'])), false);
    });

    test('a manual prefix is used when free and refused when keys already start with it', async () => {
      const directory = new DirectoryLayer({ nodePrefix: Uint8Array.of(0xfe, 0x09), contentPrefix: Uint8Array.of(0x18) });
      const manual = await kv.transact((tr) => directory.create(tr, ['manual'], { prefix: Uint8Array.of(0x19, 0x01) }));
      assert.deepEqual(manual.key, Uint8Array.of(0x19, 0x01));
      await kv.transact(async (tr) => tr.set(Uint8Array.of(0x19, 0x02, 0x00), pack(['squatter'])));
      await assert.rejects(kv.transact((tr) => directory.create(tr, ['taken'], { prefix: Uint8Array.of(0x19, 0x02) })), InvalidDirectoryOperationError);
      await assert.rejects(kv.transact((tr) => directory.create(tr, ['overlap'], { prefix: Uint8Array.of(0x19) })), InvalidDirectoryOperationError);
    });

    test('the root path is refused where a named directory is needed; a path must be strings', async () => {
      const directory = new DirectoryLayer({ nodePrefix: Uint8Array.of(0xfe, 0x0a), contentPrefix: Uint8Array.of(0x1a) });
      await assert.rejects(kv.transact((tr) => directory.create(tr, [])), InvalidDirectoryOperationError);
      await assert.rejects(kv.transact((tr) => directory.remove(tr, [])), InvalidDirectoryOperationError);
      await assert.rejects(kv.transact((tr) => directory.createOrOpen(tr, ['a', 7 as unknown as string])), InvalidDirectoryOperationError);
    });

    test('concurrent creates get distinct prefixes (the allocator\'s conflicts are retried)', async () => {
      const directory = new DirectoryLayer({ nodePrefix: Uint8Array.of(0xfe, 0x0b), contentPrefix: Uint8Array.of(0x1b) });
      const names = Array.from({ length: 8 }, (_, i) => `d${i}`);
      const created = await Promise.all(names.map((name) => kv.transact((tr) => directory.createOrOpen(tr, ['many', name]))));
      const prefixes = created.map((d) => Buffer.from(d.key).toString('hex'));
      assert.equal(new Set(prefixes).size, names.length);
      for (const d of created) for (const other of created) if (d !== other) assert.notEqual(compareBytes(d.key, other.key), 0);
      assert.deepEqual(await kv.transact((tr) => directory.list(tr, ['many'])), names);
    });
  });
}
