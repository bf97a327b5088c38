// Debian's Chromium for browser tests (the console's): found, or installed with apt-get as root.

import { execFile as execFileCallback } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

const execFile = promisify(execFileCallback);

/** Where Debian's `chromium` package puts its launcher (a script that runs /usr/lib/chromium/chromium). */
const CHROMIUM_PATH = '/usr/bin/chromium';

/** `chromium` alone renders text with whatever fonts are around; these make screenshots legible. */
const CHROMIUM_PACKAGES = ['chromium', 'fonts-liberation', 'fonts-dejavu-core'];

/** apt-get update + install of Chromium and its libraries on a slow mirror can take minutes. */
const APT_TIMEOUT_MS = 15 * 60_000;

/** Command output larger than this is a bug or apt-get; 64 MiB is plenty for both. */
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

/** Lines of apt-get output quoted in error messages. */
const OUTPUT_TAIL_LINES = 40;

/**
 * Thrown when Chromium is missing and cannot be installed. The message says what to install.
 *
 * @example
 * ```ts
 * try { await ensureChromium(); }
 * catch (error) { if (error instanceof ChromiumNotInstalledError) console.error(error.message); }
 * ```
 */
export class ChromiumNotInstalledError extends Error {
  readonly code = 'CHROMIUM_NOT_INSTALLED';
  override readonly name = 'ChromiumNotInstalledError';
}

let installPromise: Promise<string> | undefined;

/**
 * Returns the path of Debian's Chromium (`/usr/bin/chromium`), installing the Debian packages
 * `chromium`, `fonts-liberation` and `fonts-dejavu-core` with apt-get first when it is missing
 * and we run as root (CI machines). Installs once per process, however many callers wait.
 *
 * @throws {ChromiumNotInstalledError} when Chromium is missing and cannot be installed.
 *
 * @example
 * ```ts
 * import { chromium } from 'playwright-core';
 * const browser = await chromium.launch({ executablePath: await ensureChromium(), headless: true });
 * ```
 */
export function ensureChromium(): Promise<string> {
  if (existsSync(CHROMIUM_PATH)) return Promise.resolve(CHROMIUM_PATH);
  installPromise ??= installChromium().finally(() => {
    installPromise = undefined;
  });
  return installPromise;
}

async function installChromium(): Promise<string> {
  const howToInstall =
    `Install Debian's Chromium (sudo apt-get install -y ${CHROMIUM_PACKAGES.join(' ')}) ` +
    `so that ${CHROMIUM_PATH} exists, then run again.`;
  if (process.getuid?.() !== 0) {
    throw new ChromiumNotInstalledError(`Chromium not found at ${CHROMIUM_PATH}. ${howToInstall}`);
  }
  const startedAtMs = Date.now();
  process.stderr.write(`Chromium not found at ${CHROMIUM_PATH}; installing ${CHROMIUM_PACKAGES.join(', ')} with apt-get...\n`);
  const install = () =>
    aptGet(['-o', 'DPkg::Lock::Timeout=120', 'install', '-y', '--no-install-recommends', ...CHROMIUM_PACKAGES]);
  try {
    try {
      await install();
    } catch {
      // Usually stale package lists (a removed version 404s): refresh them and try once more.
      await aptGet(['update']);
      await install();
    }
  } catch (error) {
    throw new ChromiumNotInstalledError(
      `Installing Chromium with apt-get failed: ${error instanceof Error ? error.message : String(error)}\n${howToInstall}`,
      { cause: error },
    );
  }
  if (!existsSync(CHROMIUM_PATH)) {
    throw new ChromiumNotInstalledError(`apt-get installed "chromium" but ${CHROMIUM_PATH} did not appear. ${howToInstall}`);
  }
  process.stderr.write(`Installed Chromium (${CHROMIUM_PATH}) in ${Date.now() - startedAtMs}ms\n`);
  return CHROMIUM_PATH;
}

async function aptGet(args: readonly string[]): Promise<void> {
  try {
    await execFile('apt-get', [...args], {
      timeout: APT_TIMEOUT_MS,
      maxBuffer: MAX_OUTPUT_BYTES,
      encoding: 'utf8',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch (error) {
    const failure = error as Error & { stdout?: string; stderr?: string; killed?: boolean };
    const output = `${failure.stdout ?? ''}${failure.stderr ?? ''}`.trimEnd().split('\n').slice(-OUTPUT_TAIL_LINES).join('\n');
    const how = failure.killed === true ? ` (killed after ${APT_TIMEOUT_MS}ms timeout)` : '';
    throw new Error(`\`apt-get ${args.join(' ')}\` failed${how}: ${failure.message.split('\n')[0]}\n${output}`, { cause: error });
  }
}
