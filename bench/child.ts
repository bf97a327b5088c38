// One measurement in a process of its own: `tsx child.ts <system> <workload> <config JSON>`.
// Prints one RESULT_PREFIX line with the metrics (see lib/protocol.ts); run.ts starts it.
import { RESULT_PREFIX, type ChildConfig, type SystemModule, type SystemName, type WorkloadName } from './lib/protocol.js';

const [system, workload, configJson] = process.argv.slice(2) as [SystemName, WorkloadName, string];
const loaders: Record<SystemName, () => Promise<SystemModule>> = {
  strata: async () => (await import('./systems/strata.js')).strataSystem('native'),
  portable: async () => (await import('./systems/strata.js')).strataSystem('portable'),
  dbos: () => import('./systems/dbos.js'),
  floor: () => import('./systems/floor.js'),
};
const load = loaders[system];
if (!load || !workload || !configJson) {
  console.error(`usage: tsx child.ts <${Object.keys(loaders).join('|')}> <workload> <config JSON>`);
  process.exit(2);
}
const config = JSON.parse(configJson) as ChildConfig;
const module = await load();
const metrics = await module.run(workload, config);
process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(metrics)}\n`);
// Some systems keep timers or pools alive after their shutdown; the figures are out.
process.exit(0);
