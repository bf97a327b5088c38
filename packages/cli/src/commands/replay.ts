/**
 * `strata replay <id> --app <module>` and `strata check-deploy --app <module>`: run recorded
 * histories through the app's current code (the engine's `replay` and `checkDeploy`), without
 * side effects, and say where the code would diverge.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { formatReplayReport, type CheckDeployReport, type ReplayReport } from '@strata/transact';
import { CliError, ExitCode } from '../errors.js';
import type { Host } from '../host.js';

/** The part of a Strata engine these commands use. */
interface ReplayingEngine {
  replay(workflowId: string, options: { readonly database: string }): Promise<ReplayReport>;
  checkDeploy(options: { readonly database: string; readonly allVersions?: boolean }): Promise<CheckDeployReport>;
}

const APP_OPTION_HELP = 'module (TypeScript or JavaScript) whose default or "strata" export is the Strata engine, with its workflows registered and not launched';

export function registerReplayCommands(program: Command, host: Host): void {
  program
    .command('replay')
    .description("run a workflow's recorded history through the app's current code, without side effects; exit 1 if the code diverges")
    .argument('<id>', 'workflow ID')
    .requiredOption('--app <module>', APP_OPTION_HELP)
    .action(
      host.run(async (session, id: string, options: { app: string }) => {
        const engine = await loadApp(options.app);
        const report = await engine.replay(id, { database: session.checkedDatabaseUrl() });
        if (session.json) session.printJson(report);
        else session.print(`${formatReplayReport(report)}\n`);
        return report.diverged ? ExitCode.failed : ExitCode.ok;
      }),
    );

  program
    .command('check-deploy')
    .description(
      "replay every unfinished workflow of the app's version through its current code; lists those that would diverge or that it no longer registers, exit 1 if any",
    )
    .requiredOption('--app <module>', APP_OPTION_HELP)
    .option('--all-versions', "check unfinished workflows of every application version, not only the engine's appVersion")
    .action(
      host.run(async (session, options: { app: string; allVersions?: boolean }) => {
        const engine = await loadApp(options.app);
        const check = await engine.checkDeploy({ database: session.checkedDatabaseUrl(), ...(options.allVersions ? { allVersions: true } : {}) });
        const failing = check.diverged.length + check.unregistered.length;
        if (session.json) {
          session.printJson(check);
        } else {
          for (const report of check.diverged) session.print(`${formatReplayReport(report)}\n\n`);
          for (const { workflowId, name } of check.unregistered) {
            session.print(`workflow "${workflowId}" (${name}): the app no longer registers "${name}", so nothing could resume it\n`);
          }
          session.print(summary(check));
        }
        return failing > 0 ? ExitCode.failed : ExitCode.ok;
      }),
    );
}

/** The last line of `check-deploy`: how many were checked, and which fail. */
function summary(check: CheckDeployReport): string {
  const plural = (n: number) => `${n} unfinished workflow${n === 1 ? '' : 's'}`;
  if (check.diverged.length + check.unregistered.length === 0) return `ok: ${plural(check.checked)} checked, none diverges\n`;
  const parts = [
    ...(check.diverged.length > 0 ? [`${check.diverged.length} would diverge (${check.diverged.map((r) => r.workflowId).join(', ')})`] : []),
    ...(check.unregistered.length > 0 ? [`${check.unregistered.length} unregistered (${check.unregistered.map((u) => u.workflowId).join(', ')})`] : []),
  ];
  return `not safe to deploy: of ${plural(check.checked)} checked, ${parts.join(' and ')}\n`;
}

/** Set once tsx's loader is registered in this process (bin/strata.js sets it too when it runs sources). */
const TSX_REGISTERED = Symbol.for('strata.cli.tsx-registered');

/** A TypeScript module's extension: such an `--app` needs tsx's loader. */
const TYPESCRIPT_EXTENSION = /\.(?:[cm]?ts|tsx)$/;

/**
 * Registers tsx's loader, once per process. The compiled CLI starts without it (faster, and no
 * loader thread for Node's permission model to refuse); only a TypeScript `--app` needs it.
 */
async function ensureTypeScriptLoader(): Promise<void> {
  const registry = globalThis as { [TSX_REGISTERED]?: boolean };
  if (registry[TSX_REGISTERED] === true) return;
  const { register } = await import('tsx/esm/api');
  register();
  registry[TSX_REGISTERED] = true;
}

/** Imports the app module and finds its engine; a TypeScript module loads through tsx. */
async function loadApp(modulePath: string): Promise<ReplayingEngine> {
  const url = pathToFileURL(resolve(modulePath)).href;
  let exports: Record<string, unknown>;
  try {
    if (TYPESCRIPT_EXTENSION.test(modulePath)) await ensureTypeScriptLoader();
    exports = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'ENOENT') && String((error as Error).message).includes(resolve(modulePath))) {
      throw new CliError(`--app ${modulePath}: no such module (${resolve(modulePath)})`, ExitCode.usage);
    }
    throw new CliError(`--app ${modulePath} failed to load: ${error instanceof Error ? error.message : String(error)}`);
  }
  const engine = [exports.default, exports.strata].find(isReplayingEngine);
  if (!engine) {
    throw new CliError(`--app ${modulePath} exports no Strata engine: export it as the default export or as "strata" (workflows registered, launch() not called)`, ExitCode.usage);
  }
  return engine;
}

function isReplayingEngine(value: unknown): value is ReplayingEngine {
  return typeof value === 'object' && value !== null && typeof (value as ReplayingEngine).replay === 'function' && typeof (value as ReplayingEngine).checkDeploy === 'function';
}
