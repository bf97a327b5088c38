// Which Strata a bench measured: the repository's commit, so results in bench/results/ can be traced.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository's root (bench/lib/../..). */
const ROOT_DIR = fileURLToPath(new URL('../..', import.meta.url));

/** The commit measured, with "+changes" when the tree differs from it; 'unknown' outside a git checkout. */
export function gitRevision(): string {
  try {
    const git = (...argv: string[]) => execFileSync('git', argv, { cwd: ROOT_DIR, encoding: 'utf8' }).trim();
    return `${git('rev-parse', '--short=12', 'HEAD')}${git('status', '--porcelain', '--untracked-files=no') ? '+changes' : ''}`;
  } catch {
    return 'unknown';
  }
}
