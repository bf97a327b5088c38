// The proxy's CapGuard against a real control plane (its usage module, on embedded PGlite): usage
// written by the Meter takes a tenant past its cap, the control plane's evaluation marks it, and the
// guard refuses its statements with SQLSTATE 53400 naming the cap, the usage and how to raise it —
// never another tenant's; a raised cap lets it through within a refresh; a suspended tenant is
// refused with 57P03 until resumed; while the system database cannot be read the last answers stand.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createControlPlane, evaluateCaps, usageModuleWith, type ControlPlane } from '@strata/control-plane';
import { openDatabase } from '@strata/store';
import { freshDatabaseUrl } from '@strata/testing';
import { CapGuard, Meter, MeteringError } from '../src/metering/index.js';
import { call } from './harness.js';

/** The guard's refresh here: short, so "within a refresh" is quick to wait for. */
const REFRESH_MS = 100;
const QUIET = { info: () => {}, warn: () => {}, error: (...args: unknown[]) => console.error(...args) };

/** Polls `probe` until it is true, for at most `timeoutMs`. */
async function within(what: string, timeoutMs: number, probe: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`not ${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('CapGuard', () => {
  let cp: ControlPlane;
  let guard: CapGuard;
  let meter: Meter;
  let acme: { tenantId: string; key: string };
  let other: { tenantId: string; key: string };

  const tenant = async (name: string) => {
    const reply = await call(cp, 'POST', '/v1/tenants', cp.bootstrapKey!, { name });
    assert.equal(reply.status, 201, reply.text);
    return { tenantId: reply.json.tenant.id as string, key: reply.json.token as string };
  };
  /** The control plane's evaluation, as its schedule runs it (here on demand, so the test sets the pace). */
  const evaluate = () => cp.db.transaction((tx) => evaluateCaps(tx, new Date(), { requestId: 'cap-guard-test' }));

  before(async () => {
    // The schedule's evaluations are far apart: this test evaluates when it wants to.
    cp = await createControlPlane({ database: await freshDatabaseUrl('pglite'), modules: [usageModuleWith({ evaluateCron: '0 0 0 1 1 *' })], logger: QUIET });
    acme = await tenant('acme');
    other = await tenant('other');
    meter = new Meter(cp.db, { logger: QUIET });
    guard = new CapGuard(cp.db, { refreshMs: REFRESH_MS, logger: QUIET });
    await guard.refresh();
  });
  after(async () => {
    await guard?.close();
    await meter?.close().catch(() => {});
    await cp?.close();
  });

  test('answers nothing for tenants under their caps, and refuses a bad refresh interval', async () => {
    assert.equal(guard.check(acme.tenantId), undefined);
    assert.equal(guard.check('ten_unknown'), undefined);
    assert.ok(guard.stats.refreshes >= 1);
    assert.throws(() => new CapGuard(cp.db, { refreshMs: 0 }), (error: unknown) => error instanceof MeteringError && error.code === 'STRATA_METER_INVALID_CONFIG');
  });

  test('a tenant at 100 % of a cap is refused with 53400 naming the cap, the usage and how to raise it; a raised cap lets it through within a refresh', async () => {
    const set = await call(cp, 'PUT', '/v1/usage/cap', acme.key, { operationsPerMonth: 1_000 });
    assert.equal(set.status, 200, set.text);
    for (let i = 0; i < 999; i++) meter.add(acme.tenantId, 'ins_acme', { operations: 1, bytesOut: 100 });
    meter.add(other.tenantId, 'ins_other', { operations: 5_000 });
    await meter.flush();
    await evaluate();
    await guard.refresh();
    assert.equal(guard.check(acme.tenantId), undefined, '999 of 1,000: still allowed');

    meter.add(acme.tenantId, 'ins_acme', { operations: 1 });
    await meter.flush();
    await evaluate();
    await within('refused', 5 * REFRESH_MS, () => guard.check(acme.tenantId) !== undefined);
    const refusal = guard.check(acme.tenantId)!;
    assert.equal(refusal.sqlstate, '53400');
    assert.equal(refusal.code, 'STRATA_PROXY_CAP_EXCEEDED');
    assert.match(refusal.message, /tenant "acme" reached its monthly usage cap for \d{4}-\d{2}: operations 1,000 of 1,000 used \(100 %\)/);
    assert.match(refusal.message, /strata usage cap --operations N/);
    assert.match(refusal.message, /PUT \/v1\/usage\/cap/);
    assert.equal(guard.check(other.tenantId), undefined, 'a tenant without caps is never refused');

    const raised = await call(cp, 'PUT', '/v1/usage/cap', acme.key, { operationsPerMonth: 2_000 });
    assert.equal(raised.json.state, 'ok');
    const raisedAt = Date.now();
    await within('let through', 5 * REFRESH_MS, () => guard.check(acme.tenantId) === undefined);
    assert.ok(Date.now() - raisedAt <= 5 * REFRESH_MS);
  });

  test('a suspended tenant is refused with 57P03 until resumed; a suspension outranks a cap', async () => {
    const suspended = await call(cp, 'POST', `/v1/tenants/${other.tenantId}/suspend`, cp.bootstrapKey!);
    assert.equal(suspended.status, 200, suspended.text);
    await within('refused', 5 * REFRESH_MS, () => guard.check(other.tenantId) !== undefined);
    const refusal = guard.check(other.tenantId)!;
    assert.deepEqual([refusal.code, refusal.sqlstate], ['STRATA_PROXY_TENANT_SUSPENDED', '57P03']);
    assert.match(refusal.message, new RegExp(`tenant "other" is suspended.*strata tenants resume ${other.tenantId}`));

    // Over a cap as well: the suspension is what it must resolve first.
    await call(cp, 'PUT', `/v1/tenants/${other.tenantId}/usage-cap`, cp.bootstrapKey!, { operationsPerMonth: 10 });
    await guard.refresh();
    assert.equal(guard.check(other.tenantId)?.code, 'STRATA_PROXY_TENANT_SUSPENDED');

    await call(cp, 'POST', `/v1/tenants/${other.tenantId}/resume`, cp.bootstrapKey!);
    await within('the cap to show once resumed', 5 * REFRESH_MS, () => guard.check(other.tenantId)?.code === 'STRATA_PROXY_CAP_EXCEEDED');
    await call(cp, 'PUT', `/v1/tenants/${other.tenantId}/usage-cap`, cp.bootstrapKey!, { operationsPerMonth: null });
    await within('let through', 5 * REFRESH_MS, () => guard.check(other.tenantId) === undefined);
  });

  test('while the system database cannot be read, the last answers stand', async () => {
    const db = await openDatabase({ url: await freshDatabaseUrl('pglite') });
    // A database without the control plane's tables: every read fails, as a lost system database's would.
    const blind = new CapGuard(db, { refreshMs: REFRESH_MS, logger: QUIET });
    await assert.rejects(blind.refresh());
    assert.equal(blind.check(acme.tenantId), undefined);
    assert.ok(blind.stats.failedRefreshes >= 1);
    assert.equal(blind.stats.refreshedAt, null);
    await blind.close();
    await db.close();

    const suspended = await call(cp, 'POST', `/v1/tenants/${acme.tenantId}/suspend`, cp.bootstrapKey!);
    assert.equal(suspended.status, 200);
    const watcher = new CapGuard(cp.db, { refreshMs: REFRESH_MS, logger: QUIET });
    await watcher.refresh();
    assert.equal(watcher.check(acme.tenantId)?.code, 'STRATA_PROXY_TENANT_SUSPENDED');
    // The tables become unreadable (as when the database is lost): reads fail, the refusal stays.
    await cp.db.exec('alter table strata_cloud.usage_cap_state rename to usage_cap_state_away');
    try {
      await assert.rejects(watcher.refresh());
      assert.equal(watcher.check(acme.tenantId)?.code, 'STRATA_PROXY_TENANT_SUSPENDED');
    } finally {
      await cp.db.exec('alter table strata_cloud.usage_cap_state_away rename to usage_cap_state');
      await watcher.close();
      await call(cp, 'POST', `/v1/tenants/${acme.tenantId}/resume`, cp.bootstrapKey!);
    }
  });
});
