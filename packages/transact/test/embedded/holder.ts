// A running app on an embedded directory (argv[2]) under the default executor ID: it starts a
// workflow that waits for a message, prints {"ready":id} and runs until killed.
import { Strata } from '@strata/transact';

const strata = new Strata({ database: process.argv[2], logger: { info() {}, warn() {}, error() {} } });
const waiter = strata.workflow('holder.wait', async (ctx) => ctx.recv<string>('go'));
await strata.launch();
const handle = await waiter.with({ workflowId: 'held-by-first' }).start();
process.stdout.write(`${JSON.stringify({ ready: handle.workflowId })}\n`);
