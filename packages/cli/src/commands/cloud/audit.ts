/**
 * `strata audit …` (the tenant's hash-chained audit log, and checking that chain) and `strata keys …`
 * (API keys: list, create — the key is shown once — and revoke).
 */
import type { Command } from 'commander';
import { CliError, ExitCode } from '../../errors.js';
import { formatTime, visible } from '../../format.js';
import type { Host } from '../../host.js';
import { parseWholeNumber } from '../../options.js';
import { renderFields, renderTable } from '../../table.js';
import { segment } from './api-client.js';
import { cloudAction, withApiOptions } from './context.js';
import { listOf, type ApiKey, type AuditEntry } from './types.js';

/** Most audit rows one `strata audit list` asks for: the API's own page limit. */
export const AUDIT_LIMIT_MAX = 500;

/** Key roles, most powerful first. */
const ROLES = ['admin', 'member', 'read-only'] as const;

/** What `POST /v1/audit/verify` answers. */
interface VerifyResult {
  readonly ok: boolean;
  readonly rowsChecked?: number;
  /** The first row (in chain order) that does not match, and why; absent when ok. */
  readonly firstBadRow?: { readonly id: number; readonly seq?: number; readonly fault: string } | null;
}

export function registerAuditCommands(program: Command, host: Host): void {
  const audit = withApiOptions(program.command('audit').description("your tenant's audit log: every state-changing API call, hash-chained so tampering shows"));

  audit
    .command('list', { isDefault: true })
    .alias('ls')
    .description('the newest audit rows: when, which key, what, on what, the result')
    .option('--limit <n>', `rows to show, 1 to ${AUDIT_LIMIT_MAX} (default 50)`)
    .action(
      cloudAction(host, async (session, cloud, options: { limit?: string }) => {
        const limit = options.limit === undefined ? 50 : parseWholeNumber(options.limit, '--limit', 1, AUDIT_LIMIT_MAX);
        const rows = listOf<AuditEntry>(await cloud.api().get(`/v1/audit?limit=${limit}`), 'entries');
        if (session.json) return session.printJson(rows);
        session.print(
          renderTable(
            [{ header: 'AT' }, { header: 'KEY' }, { header: 'ACTION' }, { header: 'TARGET' }, { header: 'RESULT' }, { header: 'REQUEST' }],
            rows.map((r) => [formatTime(at(r)), r.keyId ?? '-', r.action, r.target ?? '-', r.result ?? '-', r.requestId ?? '-']),
          ),
        );
      }),
    );

  audit
    .command('verify')
    .description('recompute the hash chain of the audit log: exit 0 when intact, 1 (naming the first bad row) when a row was changed or removed')
    .action(
      cloudAction(host, async (session, cloud) => {
        const result = await cloud.api().post<VerifyResult>('/v1/audit/verify');
        const intact = result.ok === true;
        if (session.json) session.printJson(result);
        else {
          const bad = result.firstBadRow;
          session.print(
            renderFields([
              ['chain', intact ? 'intact' : 'BROKEN: a row was changed, removed or inserted'],
              ['rows checked', String(result.rowsChecked ?? '-')],
              ...(bad ? ([['first bad row', `${bad.id}${bad.seq !== undefined ? ` (position ${bad.seq})` : ''}: ${bad.fault}`]] as [string, string][]) : []),
            ]),
          );
        }
        return intact ? ExitCode.ok : ExitCode.failed;
      }),
    );

  const keys = withApiOptions(program.command('keys').description("your tenant's API keys: list, create (shown once), revoke"));

  keys
    .command('list', { isDefault: true })
    .alias('ls')
    .description('the API keys (never the secrets): ID, name, role, created, revoked')
    .action(
      cloudAction(host, async (session, cloud) => {
        const list = listOf<ApiKey>(await cloud.api().get('/v1/keys'), 'keys');
        if (session.json) return session.printJson(list);
        session.print(
          renderTable(
            [{ header: 'ID' }, { header: 'NAME' }, { header: 'ROLE' }, { header: 'CREATED' }, { header: 'REVOKED' }],
            list.map((k) => [k.id, k.name, k.role, formatTime(k.createdAt ? new Date(k.createdAt) : null), formatTime(k.revokedAt ? new Date(k.revokedAt) : null)]),
          ),
        );
      }),
    );

  keys
    .command('create')
    .description('make an API key; the key is printed once and cannot be shown again')
    .requiredOption('--name <name>', 'what the key is for, e.g. ci')
    .option('--role <role>', `${ROLES.join(', ')} (default member)`)
    .action(
      cloudAction(host, async (session, cloud, options: { name: string; role?: string }) => {
        const role = (options.role ?? 'member').trim().toLowerCase();
        if (!(ROLES as readonly string[]).includes(role)) throw new CliError(`--role ${JSON.stringify(options.role)} is not valid; valid: ${ROLES.join(', ')}`, ExitCode.usage);
        const answer = await cloud.api().post<{ key: ApiKey; token: string | null }>('/v1/keys', { name: options.name, role });
        if (session.json) return session.printJson(answer);
        session.print(
          renderFields([
            ['id', answer.key.id ?? '-'],
            ['name', answer.key.name ?? '-'],
            ['role', answer.key.role],
            ['key', answer.token ?? '- (a replayed request: the key is shown only to the first)'],
          ]) + 'The key is shown only now: keep it (export STRATA_API_KEY=…); revoke it with strata keys revoke <id>.\n',
        );
      }),
    );

  keys
    .command('revoke')
    .description('revoke an API key: every later call with it is refused (401)')
    .argument('<key-id>', 'the key ID (strata keys list)')
    .action(
      cloudAction(host, async (session, cloud, keyId: string) => {
        const answer = await cloud.api().delete(`/v1/keys/${segment(keyId)}`);
        if (session.json) return session.printJson(answer ?? { keyId, revoked: true });
        session.print(`revoked key ${visible(keyId)}\n`);
      }),
    );
}

function at(row: AuditEntry): Date | null {
  const iso = row.at ?? row.createdAt;
  return iso ? new Date(iso) : null;
}
