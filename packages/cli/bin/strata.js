#!/usr/bin/env node
// The `strata` command. An installed CLI runs its compiled JavaScript (dist/main.js), so it starts
// without a TypeScript loader: no tsx, no loader thread, nothing for Node's permission model to
// refuse. `strata replay --app app.ts` loads tsx itself, only then (src/commands/replay.ts).
//
// In this repository's checkout (recognised by the package's tsconfig.json, which is not
// published) the CLI runs the TypeScript sources of every @strata package instead, so it never
// runs a stale or missing dist/:
//   - with the `development` condition on (`node --conditions=development`, as `npm test` sets
//     it), @strata/* imports resolve to src/*.ts: this process registers tsx and runs src/main.ts;
//   - without it (`npx strata` at the repo root), it runs itself again with the condition.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Exit codes for signals, as a shell reports them (128 + signal number). */
const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-v')) {
  // Answered before any package loads, so a version check is as fast as node itself starts.
  process.stdout.write(`${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`);
  process.exit(0);
}

const inCheckout = existsSync(new URL('../tsconfig.json', import.meta.url));
// With the condition on, @strata/store resolves to its "development" export, src/index.ts.
const developmentCondition = import.meta.resolve('@strata/store').endsWith('.ts');

if (inCheckout && !developmentCondition) {
  const child = spawn(process.execPath, ['--conditions=development', ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  // Ctrl-C and a closed terminal reach both processes (one process group): wait for the child's
  // own exit. A SIGTERM sent to this process alone (kill <pid>) is passed on.
  process.on('SIGINT', () => {});
  process.on('SIGHUP', () => {});
  process.on('SIGTERM', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  child.once('exit', (code, signal) => process.exit(code ?? SIGNAL_EXIT_CODES[signal] ?? 1));
} else {
  let main;
  if (developmentCondition) {
    const { register } = await import('tsx/esm/api');
    register();
    // So `strata replay --app app.ts` does not register tsx a second time (src/commands/replay.ts).
    globalThis[Symbol.for('strata.cli.tsx-registered')] = true;
    ({ main } = await import('../src/main.ts'));
  } else {
    ({ main } = await import('../dist/main.js'));
  }
  const exitCode = await main(process.argv.slice(2));
  // Exit once stdout has drained, so a handle left open by a driver cannot keep the command alive.
  process.stdout.write('', () => process.exit(exitCode));
}
