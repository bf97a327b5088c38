// One control-plane incarnation of the instance crash test (instances-crash.test.ts SIGKILLs it at
// seeded points): the engine with the instance operations and the instance-admin workflows on
// <database>, until killed.
//
//   node --conditions=development --import tsx crash-control-plane.ts <database>
//
// Prints `CP READY` once its engine runs (and has resumed what a killed incarnation left).
import { loadMigrations, migrate, openDatabase } from '@strata/store';
import { Strata, StrataClient } from '@strata/transact';
import { registerAdminWorkflows } from '../../src/instance-admin/index.js';
import { registerInstanceOperations } from '../../src/instances/index.js';

const [databaseUrl] = process.argv.slice(2);
if (databaseUrl === undefined) {
  process.stderr.write('usage: crash-control-plane.ts <database>\n');
  process.exit(2);
}
const db = await openDatabase({ url: databaseUrl });
await migrate(db, 'control-plane', loadMigrations(new URL('../../migrations/', import.meta.url)));
const client = await StrataClient.connect({ database: db });
// The same executor ID every incarnation: the next one recovers what the killed one left PENDING.
const strata = new Strata({ database: db, executorId: 'control-plane', appVersion: 'control-plane', logger: { info: () => {}, warn: () => {}, error: console.error } });
registerInstanceOperations(strata, { db, client });
registerAdminWorkflows(strata, { db, client });
await strata.launch();
process.stdout.write('CP READY\n');
