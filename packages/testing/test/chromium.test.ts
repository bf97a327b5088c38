import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ensureChromium } from '../src/index.js';

test('ensureChromium returns a Chromium that runs (installing it first if needed)', async () => {
  const [first, second] = await Promise.all([ensureChromium(), ensureChromium()]);
  assert.equal(first, '/usr/bin/chromium');
  assert.equal(second, first, 'concurrent callers share one install');
  const { stdout } = await promisify(execFile)(first, ['--version'], { timeout: 30_000 });
  assert.match(stdout, /Chromium \d+\./);
});
