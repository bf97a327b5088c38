// The audit log and the first start: every state-changing call leaves a hash-chained row with its
// result; rows cannot be changed or deleted through SQL; a row altered behind the guard's back is
// found by verify; the first start on an empty schema makes the platform's admin key, once.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { engines, freshDatabaseUrl } from '@strata/testing';
import { createControlPlane, verifyAuditChain, type ControlPlane } from '../src/index.js';
import { call, newKey, newTenant, quietLogger, startPlatform } from './harness.js';

for (const kind of engines()) {
  describe(`audit log (${kind})`, () => {
    let cp: ControlPlane;
    let adminKey: string;

    before(async () => {
      ({ cp, adminKey } = await startPlatform(kind));
    });
    after(() => cp?.close());

    test('each state-changing call appends who, what, target, request ID and result, newest first', async () => {
      const t = await newTenant(cp, adminKey, 'audited');
      const member = await newKey(cp, t.key, 'member', 'm');
      await call(cp.url, 'POST', '/v1/widgets', { key: member.key, body: { name: 'w1', count: 1 }, headers: { 'X-Request-Id': 'audit-req-1' } });
      await call(cp.url, 'DELETE', '/v1/keys/key_aaaaaaaaaaaaaaaa', { key: t.key, headers: { 'X-Request-Id': 'audit-req-2' } });

      const page = await call(cp.url, 'GET', '/v1/audit', { key: t.key });
      assert.equal(page.status, 200);
      const entries = page.json.entries as Array<Record<string, unknown>>;
      assert.deepEqual(entries.map((entry) => [entry.action, entry.result]), [
        ['keys.revoke', 'not_found'],
        ['widgets.create', 'ok'],
        ['keys.create', 'ok'],
      ]);
      assert.equal(entries[0]!.requestId, 'audit-req-2');
      assert.equal(entries[0]!.target, 'key_aaaaaaaaaaaaaaaa');
      assert.equal(entries[1]!.keyId, member.keyId);
      assert.equal(entries[1]!.requestId, 'audit-req-1');
      assert.equal(entries[2]!.target, member.keyId);
      assert.deepEqual(entries.map((entry) => entry.seq), [3, 2, 1]);
      assert.equal(entries[1]!.prevHash, entries[2]!.hash, 'each row links to the one before');

      const first = await call(cp.url, 'GET', '/v1/audit?limit=2', { key: t.key });
      assert.equal(first.json.entries.length, 2);
      const rest = await call(cp.url, 'GET', `/v1/audit?limit=2&before=${first.json.nextBefore}`, { key: t.key });
      assert.deepEqual(rest.json.entries.map((entry: { action: string }) => entry.action), ['keys.create']);
      assert.equal(rest.json.nextBefore, null);

      const platform = await call(cp.url, 'GET', '/v1/audit', { key: adminKey });
      assert.ok(platform.json.entries.some((entry: { action: string; target: string }) => entry.action === 'tenants.create' && entry.target === t.tenantId));
      assert.equal(platform.json.entries.at(-1).action, 'platform.bootstrap');
    });

    test('the log refuses UPDATE, DELETE and TRUNCATE', async () => {
      await assert.rejects(cp.db.query("update strata_cloud.audit_log set result = 'ok'"), /append-only/);
      await assert.rejects(cp.db.query('delete from strata_cloud.audit_log'), /append-only/);
      await assert.rejects(cp.db.query('truncate strata_cloud.audit_log'), /append-only/);
    });

    test('verify passes on an intact chain and finds a row altered with the guard disabled', async () => {
      const t = await newTenant(cp, adminKey, 'tampered');
      for (const name of ['a', 'b', 'c']) await newKey(cp, t.key, 'read-only', name);
      const intact = await call(cp.url, 'POST', '/v1/audit/verify', { key: t.key });
      assert.deepEqual(intact.json, { ok: true, rowsChecked: 3, firstBadRow: null });

      const { rows } = await cp.db.query<{ id: string }>('select id::text from strata_cloud.audit_log where tenant_id = $1 and tenant_seq = 2', [t.tenantId]);
      const victim = Number(rows[0]!.id);
      // As the database superuser: switch the guard off, rewrite history, switch it back on.
      await cp.db.exec(`
        alter table strata_cloud.audit_log disable trigger audit_log_append_only;
        update strata_cloud.audit_log set target = 'key_forgedforgedforge' where id = ${victim};
        alter table strata_cloud.audit_log enable trigger audit_log_append_only;`);

      const found = await call(cp.url, 'POST', '/v1/audit/verify', { key: t.key });
      assert.equal(found.json.ok, false);
      assert.deepEqual(found.json.firstBadRow, { id: victim, tenantId: t.tenantId, seq: 2, fault: 'hash_mismatch' });
      const everything = await verifyAuditChain(cp.db);
      assert.equal(everything.firstBadRow?.id, victim, 'the CLI\'s verify (every chain) finds it too');
      const platformVerify = await call(cp.url, 'POST', '/v1/audit/verify', { key: adminKey });
      assert.equal(platformVerify.json.firstBadRow.id, victim, 'a platform admin verifies every tenant\'s chain');
    });
  });
}

describe('first start', () => {
  test('an empty schema gets the platform tenant and an admin key, printed once; a restart makes none', async () => {
    const database = await freshDatabaseUrl('pglite');
    const printed: string[] = [];
    const first = await createControlPlane({ database, logger: quietLogger(printed) });
    const key = first.bootstrapKey;
    assert.ok(key !== undefined);
    assert.equal(printed.filter((line) => line.includes(key)).length, 1);
    const tenant = await call(first.url, 'GET', '/v1/tenant', { key });
    assert.equal(tenant.json.platform, true);
    await first.close();

    const again: string[] = [];
    const second = await createControlPlane({ database, logger: quietLogger(again) });
    try {
      assert.equal(second.bootstrapKey, undefined);
      assert.equal(again.some((line) => line.includes('sk_')), false);
      assert.equal((await call(second.url, 'GET', '/v1/tenant', { key })).status, 200, 'the first key still works');
      const { rows } = await second.db.query<{ n: string }>('select count(*)::text as n from strata_cloud.tenants where platform');
      assert.equal(rows[0]!.n, '1');
    } finally {
      await second.close();
    }
  });
});
