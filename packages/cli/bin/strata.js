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
//   - without it (`npx strata` at the repo root), a resolve hook turns the condition on first.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A module resolve hook that resolves every import with the `development` condition on. */
const ADD_DEVELOPMENT_CONDITION =
  'export async function resolve(specifier, context, next) { return next(specifier, { ...context, conditions: [...context.conditions, "development"] }); }';

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-v')) {
  // Answered before any package loads, so a version check is as fast as node itself starts.
  process.stdout.write(`${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`);
  process.exit(0);
}

const inCheckout = existsSync(new URL('../tsconfig.json', import.meta.url));
// With the condition on, @strata/store resolves to its "development" export, src/index.ts.
const developmentCondition = import.meta.resolve('@strata/store').endsWith('.ts');

let main;
if (inCheckout) {
  if (!developmentCondition) {
    // Resolve @strata/* to their sources in this process too (a resolve hook adding the
    // condition), rather than running a second process that signals would have to reach.
    const { register } = await import('node:module');
    register(`data:text/javascript,${encodeURIComponent(ADD_DEVELOPMENT_CONDITION)}`);
  }
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
