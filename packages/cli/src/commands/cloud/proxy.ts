/**
 * `strata instances proxy|cache-rules|cache-invalidate …`: an instance's settings in the proxy (pool
 * mode, connection limits), its standing query-cache rules, and invalidations of its cached
 * results by tag — subcommands of `strata instances`, through the control plane's API.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { formatDuration, visible } from '../../format.js';
import type { Host } from '../../host.js';
import { parseWholeNumber } from '../../options.js';
import type { Session } from '../../session.js';
import { renderFields, renderTable } from '../../table.js';
import { segment } from './api-client.js';
import { cloudAction } from './context.js';
import { collect } from './flags.js';

/** The pool modes, as the API names them. */
const POOL_MODES = ['session', 'transaction'] as const;
/** The API's highest limit (MAX_PROXY_CLIENTS of the control plane); server connections are also held to the instance's max_connections there. */
const MAX_LIMIT = 10_000;
/** The word that puts a limit back to the proxy's default (the API's null). */
const DEFAULT_WORD = 'default';

interface CacheRule {
  readonly tables: readonly string[];
  readonly ttlMs: number;
  readonly swrMs: number;
  readonly tags?: readonly string[];
}

interface ProxySettings {
  readonly poolMode: string;
  readonly maxClients: number | null;
  readonly maxServerConnections: number | null;
  readonly cacheRules: readonly CacheRule[];
}

interface ProxyOptions {
  readonly poolMode?: string;
  readonly maxClients?: string;
  readonly maxServerConnections?: string;
}

interface CacheRuleOptions {
  readonly set?: string;
  readonly file?: string;
  readonly clear?: boolean;
}

/** A limit flag: a whole number from 1 to {@link MAX_LIMIT}, or `default` for the proxy's own. */
function parseLimit(raw: string, flag: string): number | null {
  if (raw.trim().toLowerCase() === DEFAULT_WORD) return null;
  return parseWholeNumber(raw, flag, 1, MAX_LIMIT);
}

/** Rules from JSON text: an array of rules, or one rule. Their fields are checked by the API, which names each failing one. */
function parseRules(text: string, source: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${source} is not JSON (${(error as Error).message}); give an array of rules such as '[{"tables":["products"],"ttlMs":30000,"swrMs":0,"tags":["catalog"]}]'`);
  }
  if (Array.isArray(parsed)) return parsed;
  if (parsed !== null && typeof parsed === 'object') return [parsed];
  throw new UsageError(`${source} must be a JSON array of rules (or one rule object), got ${JSON.stringify(parsed)}`);
}

const limitText = (limit: number | null) => (limit === null ? 'proxy default' : String(limit));

function printSettings(session: Session, instance: string, settings: ProxySettings): void {
  if (session.json) return session.printJson(settings);
  const rules = settings.cacheRules.length;
  session.print(
    renderFields([
      ['pool mode', settings.poolMode],
      ['max clients', limitText(settings.maxClients)],
      ['max server connections', limitText(settings.maxServerConnections)],
      ['cache rules', rules === 0 ? 'none' : `${rules} (strata instances cache-rules ${visible(instance)})`],
    ]),
  );
}

function printRules(session: Session, instance: string, settings: ProxySettings): void {
  if (session.json) return session.printJson(settings.cacheRules);
  if (settings.cacheRules.length === 0) {
    return session.print(`${visible(instance)} has no cache rules: only reads with a strata:cache hint are cached (set some with --set)\n`);
  }
  session.print(
    renderTable(
      [{ header: '#', align: 'right' }, { header: 'TABLES' }, { header: 'TTL', align: 'right' }, { header: 'SWR', align: 'right' }, { header: 'TAGS' }],
      settings.cacheRules.map((rule, index) => [String(index + 1), rule.tables.join(', '), formatDuration(rule.ttlMs), formatDuration(rule.swrMs), (rule.tags ?? []).join(', ') || '-']),
    ),
  );
}

/** Registers the proxy subcommands on `strata instances` (registered first, by registerInstanceCommands). */
export function registerProxyCommands(program: Command, host: Host): void {
  const instances = program.commands.find((command) => command.name() === 'instances');
  if (instances === undefined) throw new Error('invariant: registerInstanceCommands runs before registerProxyCommands');

  instances
    .command('proxy')
    .description("show the instance's settings in the proxy, or change them: pool mode and connection limits (new connections use them within a second)")
    .argument('<instance>', 'instance ID or name')
    .option('--pool-mode <mode>', `${POOL_MODES.join(' or ')}: transaction shares server connections between transactions (session state such as SET or LISTEN is refused)`)
    .option('--max-clients <n>', `client connections to it through the proxy, 1 to ${MAX_LIMIT}, or '${DEFAULT_WORD}'`)
    .option('--max-server-connections <n>', `connections the proxy opens to it, 1 to its max_connections, or '${DEFAULT_WORD}'`)
    .action(
      cloudAction(host, async (session, cloud, instance: string, options: ProxyOptions) => {
        const change: { poolMode?: string; maxClients?: number | null; maxServerConnections?: number | null } = {};
        if (options.poolMode !== undefined) {
          const mode = options.poolMode.trim().toLowerCase();
          if (!(POOL_MODES as readonly string[]).includes(mode)) throw new UsageError(`--pool-mode ${JSON.stringify(options.poolMode)} is not valid; valid: ${POOL_MODES.join(', ')}`);
          change.poolMode = mode;
        }
        if (options.maxClients !== undefined) change.maxClients = parseLimit(options.maxClients, '--max-clients');
        if (options.maxServerConnections !== undefined) change.maxServerConnections = parseLimit(options.maxServerConnections, '--max-server-connections');
        const path = `/v1/instances/${segment(instance)}/proxy`;
        const settings = (Object.keys(change).length > 0 ? await cloud.api().patch(path, change) : await cloud.api().get(path)) as ProxySettings;
        printSettings(session, instance, settings);
      }),
    );

  instances
    .command('cache-rules')
    .description("show the instance's query-cache rules, or replace them: a read whose tables a rule covers is cached for its ttl without a hint in the SQL")
    .argument('<instance>', 'instance ID or name')
    .option('--set <json>', `the rules, as JSON: '[{"tables":["products","shop.*"],"ttlMs":30000,"swrMs":60000,"tags":["catalog"]}]' (replaces every rule)`)
    .option('--file <path>', 'the rules from a JSON file (replaces every rule)')
    .option('--clear', 'remove every rule')
    .action(
      cloudAction(host, async (session, cloud, instance: string, options: CacheRuleOptions) => {
        const given = [options.set !== undefined, options.file !== undefined, options.clear === true].filter(Boolean).length;
        if (given > 1) throw new UsageError('give one of --set, --file and --clear');
        let rules: unknown[] | undefined;
        if (options.set !== undefined) rules = parseRules(options.set, '--set');
        if (options.file !== undefined) {
          const text = await readFile(options.file, 'utf8').catch((error: NodeJS.ErrnoException) => {
            throw new UsageError(`--file ${JSON.stringify(options.file)} cannot be read (${error.code ?? error.message}); give a JSON file of rules`);
          });
          rules = parseRules(text, `--file ${options.file}`);
        }
        if (options.clear) rules = [];
        const path = `/v1/instances/${segment(instance)}/proxy`;
        const settings = (rules === undefined ? await cloud.api().get(path) : await cloud.api().patch(path, { cacheRules: rules })) as ProxySettings;
        printRules(session, instance, settings);
      }),
    );

  instances
    .command('cache-invalidate')
    .description("drop the instance's cached results carrying any of the tags, in every proxy (within a second)")
    .argument('<instance>', 'instance ID or name')
    .option('--tag <tag>', 'a tag from a cache rule or a strata:cache hint (repeatable, up to 16)', collect)
    .action(
      cloudAction(host, async (session, cloud, instance: string, options: { tag?: string[] }) => {
        const tags = options.tag ?? [];
        if (tags.length === 0) throw new UsageError('give at least one --tag (the tags of a cache rule or of strata:cache hints)');
        const answer = (await cloud.api().post(`/v1/instances/${segment(instance)}/cache/invalidate`, { tags })) as { invalidationId: string };
        if (session.json) return session.printJson(answer);
        session.print(`invalidation ${answer.invalidationId} recorded: proxies drop the cached results of ${visible(instance)} tagged ${tags.map(visible).join(', ')} within a second\n`);
      }),
    );
}
