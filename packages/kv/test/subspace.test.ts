// Subspaces: keys are the prefix then the packed tuple; unpack strips it; ranges and nesting stay inside.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { engines } from '@strata/testing';
import { compareBytes, pack, Subspace, SubspaceMismatchError, unpack, Versionstamp } from '../src/index.js';
import { openTestKv, type TestKv } from './layers-helpers.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('Subspace', () => {
  test('a tuple prefix packs to the same bytes as the tuple', () => {
    assert.equal(hex(new Subspace(['app', 7]).key), hex(pack(['app', 7])));
  });

  test('a raw prefix is used as given', () => {
    assert.equal(hex(new Subspace(Uint8Array.of(0x15, 0x01)).pack(['x'])), '1501' + '027800');
  });

  test('pack puts the prefix first; unpack gives back the tuple without it', () => {
    const users = new Subspace(['users']);
    const key = users.pack(['ada', 'email']);
    assert.equal(hex(key), hex(pack(['users', 'ada', 'email'])));
    assert.deepEqual(users.unpack(key), ['ada', 'email']);
  });

  test('sub nests: its keys are inside the parent and its prefix is the parent key and the items', () => {
    const app = new Subspace(['app']);
    const emails = app.sub('users', 'emails');
    assert.equal(hex(emails.key), hex(pack(['app', 'users', 'emails'])));
    assert.ok(app.contains(emails.pack(['x'])));
    assert.deepEqual(app.unpack(emails.pack(['x'])), ['users', 'emails', 'x']);
  });

  test('range holds the subspace\'s longer keys, not its prefix key and not a sibling\'s keys', () => {
    const a = new Subspace(['a']);
    const { begin, end } = a.range();
    const within = (key: Uint8Array) => compareBytes(key, begin) >= 0 && compareBytes(key, end) < 0;
    assert.ok(within(a.pack([null])));
    assert.ok(within(a.pack(['zzz', 1])));
    assert.ok(!within(a.key));
    assert.ok(!within(pack(['a\u0000'])), 'a string extending the prefix string is a different element');
    assert.ok(!within(pack(['b'])));
    const narrow = a.range(['x']);
    assert.ok(compareBytes(a.pack(['x', 1]), narrow.begin) >= 0 && compareBytes(a.pack(['x', 1]), narrow.end) < 0);
    assert.ok(compareBytes(a.pack(['y']), narrow.end) >= 0);
  });

  test('contains is false for a key that only shares part of the prefix or is shorter', () => {
    const s = new Subspace(Uint8Array.of(1, 2, 3));
    assert.equal(s.contains(Uint8Array.of(1, 2)), false);
    assert.equal(s.contains(Uint8Array.of(1, 2, 4)), false);
    assert.equal(s.contains(Uint8Array.of(1, 2, 3)), true);
  });

  test('unpack of a key outside is a SubspaceMismatchError', () => {
    assert.throws(() => new Subspace(['a']).unpack(pack(['b', 1])), (error: unknown) => {
      assert.ok(error instanceof SubspaceMismatchError);
      assert.equal(error.code, 'STRATA_KV_KEY_OUTSIDE_SUBSPACE');
      return true;
    });
  });

  test('packWithVersionstamp counts the prefix in the offset', () => {
    const log = new Subspace(['log']);
    const { key, offset } = log.packWithVersionstamp([Versionstamp.incomplete(2)]);
    assert.equal(offset, log.key.length + 1);
    assert.deepEqual(unpack(key.subarray(0, log.key.length)), ['log']);
    assert.equal(hex(key.subarray(offset, offset + 10)), 'ff'.repeat(10));
  });
});

for (const kind of engines()) {
  describe(`versionstamped keys through the KV (${kind})`, () => {
    let opened: TestKv;
    before(async () => {
      opened = await openTestKv(kind);
    });
    after(async () => {
      await opened.close();
    });

    test('keys made by packWithVersionstamp read back as complete versionstamps, in commit order, ordered by user version within a commit', async () => {
      const log = new Subspace(['log']);
      for (const event of ['first', 'second']) {
        await opened.kv.transact(async (tr) => {
          for (const userVersion of [1, 0]) {
            const { key, offset } = log.packWithVersionstamp([Versionstamp.incomplete(userVersion)]);
            tr.setVersionstampedKey(key, offset, pack([event, userVersion]));
          }
        });
      }
      const rows = await opened.kv.transact((tr) => tr.getRange(log.range().begin, log.range().end));
      assert.deepEqual(rows.map(({ value }) => unpack(value)), [['first', 0], ['first', 1], ['second', 0], ['second', 1]]);
      const stamps = rows.map(({ key }) => log.unpack(key)[0]);
      for (const stamp of stamps) assert.ok(stamp instanceof Versionstamp && stamp.isComplete);
      const [a, , c] = stamps as Versionstamp[];
      assert.ok(a !== undefined && c !== undefined && compareBytes(a.transactionVersion, c.transactionVersion) < 0, 'the later commit has the larger versionstamp');
    });
  });
}
