import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { ManagedCluster, PgInstanceError, SCRAM_ITERATIONS, scramVerifier } from '../src/index.js';
import { sharedTemplate, specUnder, tempRoot } from './fixtures/instance-helpers.js';

let cluster: ManagedCluster;
let root: { dir: string; remove: () => Promise<void> };

before(async () => {
  root = await tempRoot('instance-auth');
  cluster = await ManagedCluster.create(await sharedTemplate(), await specUnder(root.dir, 'auth'));
  await cluster.start();
});
after(async () => {
  await cluster.destroy();
  await root.remove();
});

/** Connects over TCP to 127.0.0.1 as `user`; resolves with the SQLSTATE of a refusal, or 'ok'. */
async function tcpLogin(user: string, password: string | undefined): Promise<string> {
  const client = new pg.Client({ host: '127.0.0.1', port: cluster.spec.port, user, database: 'postgres', ...(password === undefined ? {} : { password }) });
  client.on('error', () => {});
  try {
    await client.connect();
    const { rows } = await client.query<{ user: string }>('select current_user as user');
    assert.equal(rows[0]?.user, user);
    return 'ok';
  } catch (error) {
    return (error as { code?: string }).code ?? (error as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}

describe('scramVerifier', () => {
  test('has PostgreSQL\'s format: SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey> with a fresh 16-byte salt', () => {
    const verifier = scramVerifier('secret');
    const match = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(verifier);
    assert.ok(match, verifier);
    assert.equal(Number(match[1]), SCRAM_ITERATIONS);
    assert.equal(Buffer.from(match[2] ?? '', 'base64').length, 16);
    assert.equal(Buffer.from(match[3] ?? '', 'base64').length, 32);
    assert.equal(Buffer.from(match[4] ?? '', 'base64').length, 32);
    assert.notEqual(scramVerifier('secret'), verifier, 'a new salt each time');
  });

  test('PostgreSQL stores it as given and accepts the plaintext over TCP; a wrong password fails', async () => {
    for (const [role, password] of [['app_ascii', 'correct horse battery staple'], ['app_unicode', 'pässwörd-ünïcode'], ['app_quote', "it's \\ tricky"]] as const) {
      const verifier = scramVerifier(password);
      await cluster.query(`create role ${role} login password '${verifier}'`);
      const [stored] = await cluster.query<{ rolpassword: string }>('select rolpassword from pg_authid where rolname = $1', [role]);
      assert.equal(stored?.rolpassword, verifier, 'the verifier, not a hash of it');
      assert.equal(await tcpLogin(role, password), 'ok', `${role} logs in with its password`);
      assert.equal(await tcpLogin(role, `${password}x`), '28P01', `${role} with a wrong password`);
    }
  });

  test('refuses an empty or oversized password', () => {
    assert.throws(() => scramVerifier(''), (error) => error instanceof PgInstanceError && error.code === 'PG_INSTANCE_INVALID_ARGUMENT');
    assert.throws(() => scramVerifier('x'.repeat(5000)), (error) => error instanceof PgInstanceError && error.code === 'PG_INSTANCE_INVALID_ARGUMENT');
  });
});

describe('the instance\'s authentication', () => {
  test('strata_admin is refused over TCP (no trust there), whatever the password', async () => {
    assert.equal(await tcpLogin('strata_admin', undefined), '28000');
    assert.equal(await tcpLogin('strata_admin', 'anything'), '28000');
  });

  test('a role without a password cannot log in over TCP, and new passwords are encrypted as SCRAM', async () => {
    await cluster.query('create role nopassword login');
    assert.notEqual(await tcpLogin('nopassword', 'guess'), 'ok');
    const [row] = await cluster.query<{ password_encryption: string }>("select current_setting('password_encryption') as password_encryption");
    assert.equal(row?.password_encryption, 'scram-sha-256');
  });

  test('only the server user (and root) can open the socket directory', async () => {
    const { stat } = await import('node:fs/promises');
    const info = await stat(cluster.spec.socketDir);
    assert.equal(info.mode & 0o077, 0, 'no group or other access');
  });
});
