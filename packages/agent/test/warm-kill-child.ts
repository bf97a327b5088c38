// Child of warm.test.ts: an agent engine whose spare pool prints CLAIMED once a provision has
// claimed a spare, then holds the job there (before it records the instance) until SIGKILLed.
//   node --import tsx warm-kill-child.ts <databaseUrl> <nodeId> <rootDir> <templateDir>
import { openDatabase } from '@strata/store';
import { Strata } from '@strata/transact';
import { NodeFiles, SparePool, agentQueue, agentVersion, registerJobs } from '../src/index.js';

const [url, nodeId, rootDir, templateDir] = process.argv.slice(2);
if (!url || !nodeId || !rootDir || !templateDir) throw new Error('usage: warm-kill-child.ts <databaseUrl> <nodeId> <rootDir> <templateDir>');
const db = await openDatabase({ url });
const files = new NodeFiles(rootDir, templateDir);
// Size 0: it claims what the parent's agent made, and makes none of its own.
const spares = await SparePool.open({ rootDir, size: 0, template: () => files.template(), usedPorts: async () => new Set<number>() });
const claim = spares.claim.bind(spares);
spares.claim = async (instanceId, settings) => {
  const spare = await claim(instanceId, settings);
  process.stdout.write(`CLAIMED ${spare?.spareId ?? 'none'}\n`);
  return new Promise(() => {}); // held between the claim and the record, until the parent kills us
};
const version = agentVersion(nodeId);
const strata = new Strata({ database: db, executorId: version, appVersion: version, logger: { info: () => {}, warn: () => {}, error: () => {} } });
registerJobs(strata, { db, nodeId, files, spares });
strata.queue(agentQueue(nodeId), { workerConcurrency: 1 });
await strata.launch();
process.stdout.write('CHILD READY\n');
