// A database of its own on the bench's cluster for each measurement, so runs never see each other's rows.
import pg from 'pg';
import type { PgCluster } from '@strata/testing';

/** Creates database `name` on `cluster`, runs `fn` with its URL, and drops it afterwards. */
export async function withDatabase<T>(cluster: PgCluster, name: string, fn: (url: string) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  await admin.query(`create database ${name}`);
  try {
    const url = new URL(cluster.url);
    url.pathname = `/${name}`;
    return await fn(url.toString());
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}
