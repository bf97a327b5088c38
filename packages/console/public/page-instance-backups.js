// An instance's Backups section: the restore window, the schedule and retention, every backup
// (kind, status, size, start and end) and the named restore points; the restore form beneath uses them.
import { cloudApi, listOf } from './cloud-api.js';
import { useCloudData } from './cloud-data.js';
import { Empty, ErrorBanner } from './components.js';
import { formatBytes, formatTime } from './format.js';
import { html } from './html.js';
import { RestoreForm } from './page-instance-restore.js';

/** COMPLETED green, RUNNING and DELETING amber, FAILED red, DELETED and EXPIRED grey. */
const BACKUP_STATUS_CLASSES = {
  COMPLETED: 'status-success',
  CREATED: 'status-success',
  RUNNING: 'status-pending',
  PENDING: 'status-pending',
  DELETING: 'status-pending',
  FAILED: 'status-error',
};

function BackupStatus({ status }) {
  return html`<span class=${`badge ${BACKUP_STATUS_CLASSES[status] ?? 'status-cancelled'}`} data-status=${status} data-testid="backup-status">${status}</span>`;
}

/** "full (initial)", "incr (scheduled)". */
function kindOf(backup) {
  return `${backup.type} (${backup.trigger})`;
}

function policyText(policy) {
  if (!policy) return null;
  const schedule = policy.schedule ? `${policy.schedule.type} backups on cron "${policy.schedule.cron}" (${policy.schedule.timezone})` : 'no scheduled backups';
  const retention = 'fullBackups' in policy.retention ? `keeping the newest ${policy.retention.fullBackups} full backups` : `keeping ${policy.retention.days} days`;
  const verify = policy.verify ? `, a restore test on cron "${policy.verify.cron}"` : '';
  return `Policy: ${schedule}, ${retention}${verify}.`;
}

export function BackupsSection({ instance }) {
  const { data, error, notFound } = useCloudData(async () => {
    const [listed, restorePoints, policy] = await Promise.all([
      cloudApi.backups(instance.id),
      cloudApi.restorePoints(instance.id).then((body) => listOf(body, 'restorePoints'), () => []),
      cloudApi.backupPolicy(instance.id).catch(() => null),
    ]);
    return { backups: listOf(listed, 'backups'), restorableFrom: listed.restorableFrom ?? null, restorePoints, policy };
  }, [instance.id]);

  return html`
    <section class="instance-section" data-testid="backups-section">
      <h2 id="backups">Backups</h2>
      ${notFound && data === null
        ? html`<${Empty} testid="backups-unavailable">This control plane keeps no backups (it runs without its backups module).</${Empty}>`
        : html`<${ErrorBanner} error=${error} />`}
      ${data === null ? (error ? null : html`<p class="muted">Loading…</p>`) : html`
        <p class="muted" data-testid="restore-window">
          ${data.restorableFrom
            ? html`Restorable to any moment from <strong>${formatTime(data.restorableFrom)}</strong> (<code>${data.restorableFrom}</code>) until now.`
            : 'No completed backup yet: the restore window opens when the first backup completes.'}
          ${' '}${policyText(data.policy)}
        </p>
        ${data.backups.length === 0
          ? html`<${Empty} testid="empty-backups">No backups yet — a new instance takes its first one on its own; <code>strata backups create ${instance.name}</code> takes one now.</${Empty}>`
          : html`<div class="table-wrap"><table class="grid" data-testid="backup-table">
              <thead><tr><th>Backup</th><th>Kind</th><th>Status</th><th class="num">Size</th><th class="num">Stored</th><th>Started</th><th>Ended</th></tr></thead>
              <tbody>${data.backups.map((b) => html`<tr key=${b.id} data-backup=${b.id} data-trigger=${b.trigger}>
                <td class="mono">${b.id}</td>
                <td>${kindOf(b)}</td>
                <td><${BackupStatus} status=${b.status} />${b.error ? html` <span class="muted">${b.error}</span>` : null}</td>
                <td class="num">${formatBytes(b.sizeBytes)}</td>
                <td class="num">${formatBytes(b.storedBytes)}</td>
                <td>${formatTime(b.startedAt)}</td>
                <td>${formatTime(b.stoppedAt)}</td>
              </tr>`)}</tbody>
            </table></div>`}

        <h3 class="subhead">Restore points</h3>
        ${data.restorePoints.length === 0
          ? html`<p class="muted" data-testid="empty-restore-points">No restore points — <code>strata restore-points create ${instance.name} before-migration</code> names the present moment.</p>`
          : html`<div class="table-wrap"><table class="grid" data-testid="restore-point-table">
              <thead><tr><th>Name</th><th>Status</th><th>Made</th></tr></thead>
              <tbody>${data.restorePoints.map((p) => html`<tr key=${p.name} data-restore-point=${p.name}>
                <td class="mono">${p.name}</td>
                <td><${BackupStatus} status=${p.status} />${p.error ? html` <span class="muted">${p.error}</span>` : null}</td>
                <td>${formatTime(p.madeAt ?? p.createdAt)}</td>
              </tr>`)}</tbody>
            </table></div>`}

        <${RestoreForm} instance=${instance} backups=${data.backups} restorePoints=${data.restorePoints} restorableFrom=${data.restorableFrom} />`}
    </section>`;
}
