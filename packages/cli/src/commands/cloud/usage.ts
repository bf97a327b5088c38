/**
 * `strata usage …` (what your tenant used through the proxy — operations, bytes, connection,
 * compute and storage — by instance, hour or day, and its monthly caps) and `strata tenants
 * suspend|resume <id>` (platform admins: a suspended tenant's databases take no connections).
 */
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { formatDuration, formatTime } from '../../format.js';
import type { Host } from '../../host.js';
import { parseTime, parseWholeNumber } from '../../options.js';
import { renderFields, renderTable } from '../../table.js';
import { segment } from './api-client.js';
import { cloudAction, withApiOptions } from './context.js';

/** How `strata usage` groups, as the API names them. */
const GROUPS = ['instance', 'hour', 'day'] as const;
/** The API's largest cap (CAP_MAX of the control plane's usage routes). */
const CAP_MAX = 1_000_000_000_000_000;

interface Measures {
  readonly operations: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly connectionMs: number;
  readonly computeMs: number;
  readonly storageBytes: number | null;
}

interface UsageGroup extends Measures {
  readonly instanceId: string | null;
  readonly instanceName: string | null;
  readonly start: string | null;
}

interface UsageReport {
  readonly from: string;
  readonly to: string;
  readonly group: string;
  readonly groups: readonly UsageGroup[];
  readonly totals: Measures;
}

interface CapView {
  readonly tenantId: string;
  readonly period: { readonly start: string; readonly end: string };
  readonly cap: { readonly operationsPerMonth: number | null; readonly bytesOutPerMonth: number | null };
  readonly usage: { readonly operations: number; readonly bytesOut: number };
  readonly percent: number;
  readonly state: string;
  readonly warnedAt: string | null;
  readonly exceededAt: string | null;
  readonly evaluatedAt: string | null;
}

interface Tenant {
  readonly id: string;
  readonly name: string;
  readonly status?: string;
}

/** `1,234,567`. */
const whole = (value: number) => value.toLocaleString('en-US');

/** `0 B`, `12.3 kB`, `4.5 MB`, `1.2 GB` (powers of 1000, as caps are given). */
export function formatBytes(bytes: number | null): string {
  if (bytes === null) return '-';
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1_000 && unit < units.length - 1) {
    value /= 1_000;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** A cap flag: a whole number from 1 to the API's largest, or `none` to remove the cap. */
function parseCap(raw: string, flag: string): number | null {
  if (raw.trim().toLowerCase() === 'none') return null;
  return parseWholeNumber(raw.replace(/[_,]/g, ''), flag, 1, CAP_MAX);
}

function capLine(used: number, cap: number | null, format: (value: number) => string): string {
  return cap === null ? `${format(used)} (no cap)` : `${format(used)} of ${format(cap)}`;
}

export function registerUsageCommands(program: Command, host: Host): void {
  const usage = withApiOptions(program.command('usage').description("your tenant's usage through the proxy (operations, bytes, connection, compute, storage) and its monthly caps"));

  usage
    .command('show', { isDefault: true })
    .description('usage over a range, by instance, hour or day (default: this month so far, by day)')
    .option('--from <time>', 'start: an ISO 8601 date or date-time (UTC unless a zone is given) or an age such as 7d (default: the start of the month of --to)')
    .option('--to <time>', 'end, exclusive (default: now)')
    .option('--group <group>', `${GROUPS.join(', ')} (default day; hour covers at most 31 days)`, 'day')
    .action(
      cloudAction(host, async (session, cloud, options: { from?: string; to?: string; group: string }) => {
        const group = options.group.trim().toLowerCase();
        if (!(GROUPS as readonly string[]).includes(group)) throw new UsageError(`--group ${JSON.stringify(options.group)} is not valid; valid: ${GROUPS.join(', ')}`);
        const now = Date.now();
        const query = new URLSearchParams({ group });
        if (options.from !== undefined) query.set('from', parseTime(options.from, '--from', now).toISOString());
        if (options.to !== undefined) query.set('to', parseTime(options.to, '--to', now).toISOString());
        const report = (await cloud.api().get(`/v1/usage?${query}`)) as UsageReport;
        if (session.json) return session.printJson(report);
        const label = (g: UsageGroup) => (group === 'instance' ? (g.instanceName ?? g.instanceId ?? '-') : group === 'day' ? (g.start ?? '-').slice(0, 10) : formatTime(g.start === null ? null : new Date(g.start)));
        const row = (first: string, m: Measures) => [first, whole(m.operations), formatBytes(m.bytesIn), formatBytes(m.bytesOut), formatDuration(m.connectionMs), formatDuration(m.computeMs), formatBytes(m.storageBytes)];
        session.print(
          renderTable(
            [{ header: group === 'instance' ? 'INSTANCE' : group.toUpperCase() }, { header: 'OPERATIONS', align: 'right' }, { header: 'BYTES IN', align: 'right' }, { header: 'BYTES OUT', align: 'right' }, { header: 'CONNECTED', align: 'right' }, { header: 'COMPUTE', align: 'right' }, { header: 'STORAGE', align: 'right' }],
            [...report.groups.map((g) => row(label(g), g)), row('total', report.totals)],
          ),
        );
        session.print(`${formatTime(new Date(report.from))} to ${formatTime(new Date(report.to))}${report.groups.length === 0 ? ' — nothing used in this range' : ''}\n`);
      }),
    );

  usage
    .command('cap')
    .description("show your tenant's monthly caps and where it stands, or set them (admins): at 100 % the proxy refuses new statements until the cap is raised or the month ends")
    .option('--operations <n>', "statements per month, or 'none' to remove the cap")
    .option('--bytes-out <n>', "bytes sent to clients per month, or 'none' to remove the cap")
    .option('--tenant <tenant-id>', "set another tenant's caps (platform admins)")
    .action(
      cloudAction(host, async (session, cloud, options: { operations?: string; bytesOut?: string; tenant?: string }) => {
        const change: { operationsPerMonth?: number | null; bytesOutPerMonth?: number | null } = {};
        if (options.operations !== undefined) change.operationsPerMonth = parseCap(options.operations, '--operations');
        if (options.bytesOut !== undefined) change.bytesOutPerMonth = parseCap(options.bytesOut, '--bytes-out');
        const changing = Object.keys(change).length > 0;
        if (options.tenant !== undefined && !changing) throw new UsageError('--tenant sets another tenant\'s caps: give --operations or --bytes-out with it');
        const path = options.tenant === undefined ? '/v1/usage/cap' : `/v1/tenants/${segment(options.tenant)}/usage-cap`;
        const view = (changing ? await cloud.api().put(path, change) : await cloud.api().get(path)) as CapView;
        if (session.json) return session.printJson(view);
        session.print(
          renderFields([
            ['tenant', view.tenantId],
            ['month', `${view.period.start.slice(0, 7)} (UTC)`],
            ['operations', capLine(view.usage.operations, view.cap.operationsPerMonth, whole)],
            ['bytes out', capLine(view.usage.bytesOut, view.cap.bytesOutPerMonth, (value) => formatBytes(value))],
            ['used', `${view.percent} %`],
            ['state', view.state === 'exceeded' ? 'EXCEEDED: new statements are refused (SQLSTATE 53400)' : view.state === 'warning' ? 'warning (75 % or more)' : 'ok'],
            ['evaluated', formatTime(view.evaluatedAt === null ? null : new Date(view.evaluatedAt))],
          ]),
        );
      }),
    );

  const tenants = withApiOptions(program.command('tenants').description('tenants of the platform (platform admins): suspend and resume'));

  for (const [action, description] of [
    ['suspend', "suspend a tenant: the proxy refuses connections to its databases and new statements on open ones (its data and API keys stay)"],
    ['resume', 'resume a suspended tenant: its databases take connections again'],
  ] as const) {
    tenants
      .command(action)
      .description(description)
      .argument('<tenant-id>', 'the tenant ID (ten_…)')
      .action(
        cloudAction(host, async (session, cloud, tenantId: string) => {
          const tenant = (await cloud.api().post(`/v1/tenants/${segment(tenantId)}/${action}`)) as Tenant;
          if (session.json) return session.printJson(tenant);
          session.print(`${tenant.name} (${tenant.id}) is ${tenant.status ?? (action === 'suspend' ? 'suspended' : 'active')}\n`);
        }),
      );
  }
}
