// What `npm start` prints once the platform and its demo instance are ready: where everything is
// and what to paste.
import type { DemoOutcome } from './demo.js';
import type { RunningPlatform } from './platform.js';

/** What the banner is made from. */
export interface BannerInput {
  readonly platform: Pick<RunningPlatform, 'apiUrl' | 'consoleUrl' | 'bootstrapKey' | 'layout'> & { readonly proxy: Pick<NonNullable<RunningPlatform['proxy']>, 'host' | 'port'> | undefined };
  readonly demo: DemoOutcome;
  /** How the CLI is run where the user is, e.g. `npx strata`. */
  readonly cli: string;
}

/**
 * The start banner, as lines: the API (and the keys when this start made them — they are shown
 * once), the console, the demo instance's `psql` line and the CLI command with its environment.
 *
 * @example
 * for (const line of bannerLines({ platform, demo, cli: 'npx strata' })) console.log(line);
 */
export function bannerLines({ platform, demo, cli }: BannerInput): string[] {
  const demoKey = demo.kind === 'created' ? demo.apiKey : undefined;
  const lines = [
    '',
    'Strata database service — control plane, agent "local" and console in this process',
    `  data:     ${platform.layout.dataDir}   (system database in system/, instances in ${relativeTo(platform.layout.dataDir, platform.layout.nodeRootDir)}/instances/)`,
    `  API:      ${platform.apiUrl}   (OpenAPI: ${platform.apiUrl}/v1/openapi.json, docs: ${platform.apiUrl}/v1/docs)`,
  ];
  if (demoKey !== undefined) lines.push(`  API key:  ${demoKey}   (the demo tenant's admin key — shown once, keep it)`);
  if (platform.bootstrapKey !== undefined) lines.push(`  platform admin key: ${platform.bootstrapKey}   (creates tenants and sets quotas — shown once, keep it)`);
  if (platform.consoleUrl !== undefined) lines.push(`  console:  ${platform.consoleUrl}/instances   (it asks once for an API key)`);
  lines.push('');
  if (demo.kind === 'unavailable') {
    lines.push(`No demo instance: ${demo.reason}.`);
  } else {
    const { instance } = demo;
    if (platform.proxy !== undefined) {
      // verify-full against the generated certificate (its names include 127.0.0.1): psql and node-postgres both check it.
      const certificate = `${platform.layout.proxyDir}/proxy.crt`;
      const asleep = instance.asleep === undefined ? '' : ` (asleep: ${instance.asleep} while idle)`;
      lines.push(`Demo instance "${instance.name}" (${instance.instanceId}) is ${instance.status}${asleep}. Connect through the proxy (one port for every instance; it sleeps when idle and wakes on connect):`);
      lines.push(`  psql "postgres://${instance.user}.${instance.instanceId}:${instance.password}@${platform.proxy.host}:${platform.proxy.port}/${instance.database}?sslmode=verify-full&sslrootcert=${certificate}"`);
      lines.push(`or straight to its server on ${instance.host}:${instance.port}${instance.asleep === undefined ? '' : ' (once awake)'}:`);
      lines.push(`  psql "${instance.connectionString}"`);
    } else {
      lines.push(`Demo instance "${instance.name}" (${instance.instanceId}) is ${instance.status} on ${instance.host}:${instance.port}. Connect:`);
      lines.push(`  psql "${instance.connectionString}"`);
    }
    lines.push('');
    lines.push('List instances with the CLI:');
    lines.push(`  STRATA_API_URL=${platform.apiUrl} STRATA_API_KEY=${demoKey ?? '<the API key the first start printed>'} ${cli} instances list`);
    lines.push('');
    lines.push(`The demo password is kept in ${platform.layout.demoFile} (mode 0600), so this banner shows it on every start; API keys are not kept.`);
  }
  lines.push('Ctrl-C stops the platform; instances keep running, and the next start reconciles and keeps every one. --reset starts over.');
  lines.push('');
  return lines;
}

function relativeTo(base: string, path: string): string {
  return path.startsWith(`${base}/`) ? path.slice(base.length + 1) : path;
}
