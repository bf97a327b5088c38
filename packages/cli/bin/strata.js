#!/usr/bin/env node
// The `strata` command. The CLI is TypeScript run through tsx, so there is no build step; the
// same loader lets `--app` modules given to `strata replay` be TypeScript too.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main.ts');
const exitCode = await main(process.argv.slice(2));
// Exit once stdout has drained, so a handle left open by a driver cannot keep the command alive.
process.stdout.write('', () => process.exit(exitCode));
