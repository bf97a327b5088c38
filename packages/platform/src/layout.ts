// Where the one-process platform keeps its files under its data directory.
import { join, resolve } from 'node:path';

/** The node ID of the platform's one agent. */
export const LOCAL_NODE_ID = 'local';

/**
 * The files of a platform data directory:
 * `system/` (the embedded PGlite system database: control plane, agent and workflows),
 * `node-local/` (the agent's root: `template/` and `instances/<id>/{data,socket}`),
 * `backups/` (the pgBackRest repository: every instance's WAL archive and backups),
 * `proxy/` (the proxy's TLS certificate and key, generated on first start, and the port it took),
 * `demo.json` (the demo instance and its password, mode 0600).
 *
 * @example
 * const layout = platformLayout('./.strata');
 * layout.systemDir;   // '/…/.strata/system'
 */
export interface PlatformLayout {
  readonly dataDir: string;
  readonly systemDir: string;
  readonly nodeRootDir: string;
  readonly backupsDir: string;
  readonly proxyDir: string;
  readonly demoFile: string;
}

/** The layout of `dataDir`; `rootDir` overrides where the agent's instances live. */
export function platformLayout(dataDir: string, rootDir?: string): PlatformLayout {
  const dir = resolve(dataDir);
  return {
    dataDir: dir,
    systemDir: join(dir, 'system'),
    nodeRootDir: rootDir === undefined ? join(dir, `node-${LOCAL_NODE_ID}`) : resolve(rootDir),
    backupsDir: join(dir, 'backups'),
    proxyDir: join(dir, 'proxy'),
    demoFile: join(dir, 'demo.json'),
  };
}
