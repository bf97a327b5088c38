// SQL of strata_cloud.instance_users: the users the API made in each instance, with verifier and grants (never a password).
import type { Queryable } from '@strata/store';
import type { UserGrant } from '@strata/agent';

/** One user of an instance as the control plane records it. */
export interface InstanceUserRow {
  readonly instanceId: string;
  readonly name: string;
  readonly verifier: string;
  readonly grants: readonly UserGrant[];
}

function toRow(row: Record<string, unknown>): InstanceUserRow {
  return {
    instanceId: row.instance_id as string,
    name: row.name as string,
    verifier: row.verifier as string,
    grants: (typeof row.grants === 'string' ? JSON.parse(row.grants) : row.grants) as UserGrant[],
  };
}

/**
 * Records users of an instance (a create's initial users, or one made later); an existing row
 * gets the new verifier and grants.
 *
 * @example
 * await recordInstanceUsers(tx, instanceId, [{ name: 'app', verifier, grants: [{ database: 'app', privilege: 'all' }] }]);
 */
export async function recordInstanceUsers(db: Queryable, instanceId: string, users: readonly { name: string; verifier: string; grants: readonly UserGrant[] }[]): Promise<void> {
  for (const user of users) {
    await db.query(
      `insert into strata_cloud.instance_users (instance_id, name, verifier, grants) values ($1, $2, $3, $4)
       on conflict (instance_id, name) do update set verifier = excluded.verifier, grants = excluded.grants, updated_at = now()`,
      [instanceId, user.name, user.verifier, JSON.stringify(user.grants)],
    );
  }
}

/** One recorded user of an instance. */
export async function getInstanceUser(db: Queryable, instanceId: string, name: string): Promise<InstanceUserRow | undefined> {
  const { rows } = await db.query(`select instance_id, name, verifier, grants from strata_cloud.instance_users where instance_id = $1 and name = $2`, [instanceId, name]);
  return rows[0] === undefined ? undefined : toRow(rows[0]);
}

/** Replaces a recorded user's verifier (no row: nothing to do, the user was made outside the API). */
export async function setInstanceUserVerifier(db: Queryable, instanceId: string, name: string, verifier: string): Promise<void> {
  await db.query(`update strata_cloud.instance_users set verifier = $3, updated_at = now() where instance_id = $1 and name = $2`, [instanceId, name, verifier]);
}

/** Sets (privilege) or removes (null) a recorded user's grant on one database. */
export async function setInstanceUserGrant(db: Queryable, instanceId: string, name: string, database: string, privilege: UserGrant['privilege'] | null): Promise<void> {
  await db.query(
    `update strata_cloud.instance_users
        set grants = coalesce((select jsonb_agg(g) from jsonb_array_elements(grants) g where g->>'database' <> $3), '[]'::jsonb)
                     || case when $4::text is null then '[]'::jsonb else jsonb_build_array(jsonb_build_object('database', $3::text, 'privilege', $4::text)) end,
            updated_at = now()
      where instance_id = $1 and name = $2`,
    [instanceId, name, database, privilege],
  );
}

/** Removes every recorded grant on a dropped database. */
export async function forgetDatabaseGrants(db: Queryable, instanceId: string, database: string): Promise<void> {
  await db.query(
    `update strata_cloud.instance_users
        set grants = coalesce((select jsonb_agg(g) from jsonb_array_elements(grants) g where g->>'database' <> $2), '[]'::jsonb), updated_at = now()
      where instance_id = $1 and grants @> jsonb_build_array(jsonb_build_object('database', $2::text))`,
    [instanceId, database],
  );
}

/** Forgets a dropped user. */
export async function deleteInstanceUser(db: Queryable, instanceId: string, name: string): Promise<void> {
  await db.query(`delete from strata_cloud.instance_users where instance_id = $1 and name = $2`, [instanceId, name]);
}

/** Adds (or removes) a database in the instance's list of databases (strata_cloud.instances.databases). */
export async function setInstanceDatabase(db: Queryable, instanceId: string, database: string, present: boolean): Promise<void> {
  await db.query(
    present
      ? `update strata_cloud.instances set databases = array_append(array_remove(databases, $2::text), $2::text), updated_at = now() where instance_id = $1`
      : `update strata_cloud.instances set databases = array_remove(databases, $2::text), updated_at = now() where instance_id = $1`,
    [instanceId, database],
  );
}
