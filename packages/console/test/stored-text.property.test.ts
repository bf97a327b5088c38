// Property: whatever text a workflow stores — NUL, lone surrogates, escape sequences, bidi
// overrides in its output or error; whatever the engine accepts as its ID — comes back exactly
// through the console's JSON API (list and detail, 200), and through the CLI's tables with no raw
// control character on the terminal. Workflows run on a real engine over a real PostgreSQL.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { engines, freshPostgresUrl } from '@strata/testing';
import { InvalidArgumentError, Strata, type WorkflowContext } from '@strata/transact';
import { main } from '../../cli/src/main.js';
import { startConsole, type RunningConsole } from '../src/index.js';

const skip = engines().includes('postgres') ? false : 'needs PostgreSQL (STRATA_TEST_ENGINES excludes it)';

/** Runs of the property: each starts a workflow and reads it back four ways. */
const RUNS = 25;

const CLI_BIN = fileURLToPath(new URL('../../cli/bin/strata.js', import.meta.url));

/** What a terminal acts on (C0 but the newline ending each line, DEL, C1, separators, bidi controls, lone surrogates). */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Characters that break things: NUL, escape sequences, line forgers, bidi, C1, DEL, lone surrogates, an emoji pair. */
const NASTY = ['\u0000', '\u001b', ']0;', '\u0007', '[31m', '\r', '\n', '\b', '\t', '\u007f', '\u009b', '\u202e', '\u2066', '\u2028', '\ud800', '\udc00', '😀', '%', '/', '?', '#', '"', '\\'];
const text = fc.array(fc.oneof(fc.constantFrom(...NASTY), fc.string({ maxLength: 3 }), fc.string({ unit: 'binary', maxLength: 2 })), { minLength: 1, maxLength: 8 }).map((parts) => parts.join(''));

const quiet = { info() {}, warn() {}, error() {} };

let strata: Strata;
let strataConsole: RunningConsole;
let url: string;

before(async () => {
  if (skip) return;
  url = await freshPostgresUrl();
  strata = new Strata({ database: url, executorId: 'property-test', logger: quiet });
  strata.workflow('echo', async (ctx: WorkflowContext, value: string, fail: boolean) => {
    const recorded = await ctx.step('record', () => value);
    if (fail) throw new Error(recorded);
    return recorded;
  });
  await strata.launch();
  strataConsole = await startConsole({ database: url });
});

after(async () => {
  await strataConsole?.close();
  await strata?.shutdown({ timeoutMs: 0 });
});

/** The CLI's main() in this process, capturing exactly what it writes to stdout and stderr. */
async function cliInProcess(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) }, { STRATA_DATABASE_URL: url });
  return { code, stdout, stderr };
}

test('stored text comes back exactly through the console API and with no raw control character through the CLI', { skip }, async () => {
  let run = 0;
  const created: string[] = [];
  await fc.assert(
    fc.asyncProperty(text, text, fc.boolean(), async (idPart, value, fail) => {
      run += 1;
      const workflowId = `p${run}-${idPart}`;
      let handle;
      try {
        handle = await strata.startByName('echo', [value, fail], { workflowId });
      } catch (error) {
        if (error instanceof InvalidArgumentError) return; // an ID the engine refuses: nothing stored, nothing to read
        throw error;
      }
      created.push(workflowId);
      const outcome = await handle.result({ timeoutMs: 30_000 }).then(
        (output) => ({ output }),
        (error: Error) => ({ error }),
      );
      if (fail) assert.equal((outcome as { error?: Error }).error?.message, value, 'the engine hands back the exact error');
      else assert.equal((outcome as { output?: unknown }).output, value, 'the engine hands back the exact output');

      const path = encodeURIComponent(workflowId);
      const detail = await fetch(`${strataConsole.url}/api/workflows/${path}`);
      const detailBody = (await detail.json()) as { workflowId: string; status: string; output: unknown; error: { message: string } | null };
      assert.equal(detail.status, 200, JSON.stringify(detailBody));
      assert.equal(detailBody.workflowId, workflowId);
      assert.equal(detailBody.status, fail ? 'ERROR' : 'SUCCESS');
      if (fail) assert.equal(detailBody.error?.message, value);
      else assert.equal(detailBody.output, value);

      const list = await fetch(`${strataConsole.url}/api/workflows?workflowIdPrefix=${path}`);
      const listBody = (await list.json()) as { workflows: { workflowId: string }[] };
      assert.equal(list.status, 200, JSON.stringify(listBody));
      assert.ok(listBody.workflows.some((w) => w.workflowId === workflowId), 'the list has the exact ID');

      const steps = await fetch(`${strataConsole.url}/api/workflows/${path}/steps`);
      const stepsBody = (await steps.json()) as { steps: { output: unknown }[] };
      assert.equal(steps.status, 200, JSON.stringify(stepsBody));
      assert.equal(stepsBody.steps[0]?.output, value, 'the step output is exact');

      for (const args of [['workflows', 'list', '--prefix', workflowId], ['workflows', 'get', workflowId], ['workflows', 'steps', workflowId]]) {
        const cli = await cliInProcess(...args);
        assert.equal(cli.code, 0, `strata ${args[0]} ${args[1]}: ${cli.stderr}`);
        assert.doesNotMatch(cli.stdout, RAW_CONTROL, `strata ${args[0]} ${args[1]} printed a raw control character: ${JSON.stringify(cli.stdout)}`);
      }
      const json = await cliInProcess('workflows', 'get', workflowId, '--json');
      const parsed = JSON.parse(json.stdout) as { workflowId: string; output: unknown; error: { message: string } | null };
      assert.equal(parsed.workflowId, workflowId, '--json has the exact ID');
      assert.equal(fail ? parsed.error?.message : parsed.output, value, '--json has the exact value');
    }),
    { numRuns: RUNS },
  );

  assert.ok(created.length > 0, 'the engine accepted some of the generated IDs');

  // And once through the real binary: every workflow in one table, nothing raw on the terminal.
  const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, STRATA_DATABASE_URL: url };
    delete env.NODE_TEST_CONTEXT;
    execFile(process.execPath, [CLI_BIN, 'workflows', 'list', '--limit', '1000'], { env, timeout: 60_000 }, (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve({ stdout: out })));
  });
  assert.doesNotMatch(stdout, RAW_CONTROL);
  assert.equal(stdout.trimEnd().split('\n').length, created.length + 1, 'one line per workflow under the header: no forged or swallowed line');
});
