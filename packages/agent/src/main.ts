// The agent as a process: `node main.js --database <url> --node-id <id> --root <dir> [--template <dir>] [--memory-mb N] [--instances N] [--heartbeat-ms N] [--spares N] [--warm-copies N] [--backup-repository <dir>] [--metrics-ms N] [--max-starts N]`.
//
// Prints `AGENT READY <nodeId>` once it takes jobs; SIGTERM or SIGINT closes it (its instances keep
// running). Crash tests SIGKILL it and start it again on the same root.
import { parseArgs } from 'node:util';
import { startAgent } from './agent.js';

const { values } = parseArgs({
  options: {
    database: { type: 'string' },
    'node-id': { type: 'string' },
    root: { type: 'string' },
    template: { type: 'string' },
    'memory-mb': { type: 'string' },
    instances: { type: 'string' },
    'heartbeat-ms': { type: 'string' },
    spares: { type: 'string' },
    'warm-copies': { type: 'string' },
    'backup-repository': { type: 'string' },
    'metrics-ms': { type: 'string' },
    'max-starts': { type: 'string' },
  },
  strict: true,
});

function required(name: string, value: string | undefined): string {
  if (value === undefined || value === '') {
    process.stderr.write(`strata agent: --${name} is required (usage: main.js --database <url> --node-id <id> --root <dir>)\n`);
    process.exit(2);
  }
  return value;
}

const database = required('database', values.database);
const nodeId = required('node-id', values['node-id']);
const rootDir = required('root', values.root);
const capacity =
  values['memory-mb'] !== undefined || values.instances !== undefined
    ? { memoryMb: Number(values['memory-mb'] ?? 4096), instances: Number(values.instances ?? 100) }
    : undefined;
const agent = await startAgent({
  database,
  nodeId,
  rootDir,
  ...(capacity ? { capacity } : {}),
  ...(values.template !== undefined ? { templateDir: values.template } : {}),
  ...(values['heartbeat-ms'] !== undefined ? { heartbeatIntervalMs: Number(values['heartbeat-ms']) } : {}),
  ...(values.spares !== undefined ? { spares: Number(values.spares) } : {}),
  ...(values['warm-copies'] !== undefined ? { warmCopies: Number(values['warm-copies']) } : {}),
  ...(values['backup-repository'] !== undefined ? { backupRepository: values['backup-repository'] } : {}),
  ...(values['metrics-ms'] !== undefined ? { metricsIntervalMs: Number(values['metrics-ms']) } : {}),
  ...(values['max-starts'] !== undefined ? { power: { maxConcurrentStarts: Number(values['max-starts']) } } : {}),
});
process.stdout.write(`AGENT READY ${agent.nodeId}\n`);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void agent.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`strata agent: close failed: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  });
}
