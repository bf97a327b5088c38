// The database service's instances: the list with each one's status (and a badge while it is
// suspended: scale to zero), and one instance's page — its power state, connection string,
// flavor, databases, users, its metrics, backups (and the restore form),
// replicas and alerts (each a page-instance-*.js of its own), and its recent operations as the
// durable workflows they are (each links to the workflow's own page, with its steps).
import { CloudGate, InstanceStatus, cloudApi, instanceHref, itemOf, listOf } from './cloud-api.js';
import { useCloudData } from './cloud-data.js';
import { Empty, ErrorBanner, Link, StatusBadge, workflowHref } from './components.js';
import { formatDuration, formatRelative, formatTime } from './format.js';
import { html } from './html.js';
import { AlertsSection } from './page-instance-alerts.js';
import { BackupsSection } from './page-instance-backups.js';
import { MetricsSection } from './page-instance-metrics.js';
import { ReplicasSection } from './page-instance-replicas.js';

/** Workflow statuses an operation ends in. */
const FINISHED = ['SUCCESS', 'ERROR', 'CANCELLED'];

/** A suspended instance's badge: frozen (memory kept) in the queue colour, stopped (memory freed) grey. */
const POWER_CLASSES = { frozen: 'status-enqueued', stopped: 'status-cancelled' };

/** While the instance is suspended (frozen or stopped when idle, woken by its next client): a badge saying so; nothing otherwise. */
function PowerBadge({ power }) {
  if (!power || !POWER_CLASSES[power.state]) return null;
  return html`<span class=${`badge ${POWER_CLASSES[power.state]}`} data-power=${power.state} data-testid="instance-power"
    title=${`Suspended while idle since ${formatTime(power.since)}: its next client's connection wakes it`}>${power.state === 'frozen' ? 'FROZEN · idle' : 'STOPPED · idle'}</span>`;
}

/** The power state in words: "Frozen since … — its next client wakes it · 3 wakes, the last 2 ms"; "—" when never suspended. */
function describePower(power) {
  if (!power) return '—';
  const state = power.state === 'running' ? `Running since ${formatTime(power.since)}` : `${power.state === 'frozen' ? 'Frozen' : 'Stopped'} since ${formatTime(power.since)} — its next client wakes it`;
  return power.wakes > 0 ? `${state} · ${power.wakes} wake${power.wakes === 1 ? '' : 's'}, the last ${formatDuration(power.lastWakeMs)}` : state;
}

export function InstancesPage() {
  return html`<section class="page" data-testid="instances-page">
    <div class="page-head"><h1>Instances</h1></div>
    <${CloudGate}><${InstanceList} /></${CloudGate}>
  </section>`;
}

function InstanceList() {
  const { data, error } = useCloudData(async () => listOf(await cloudApi.instances(), 'instances'));
  const nowMs = Date.now();
  return html`
    <${ErrorBanner} error=${error} />
    ${data && (data.length === 0
      ? html`<${Empty} testid="empty-instances">No instances yet — create one with <code>strata instances create my-db --flavor small --wait</code>.</${Empty}>`
      : html`
      <div class="table-wrap"><table class="grid" data-testid="instance-table">
        <thead><tr><th>Name</th><th>Status</th><th>Flavor</th><th>Address</th><th>Operation</th><th>Created</th></tr></thead>
        <tbody>
          ${data.map((i) => html`
            <tr key=${i.id} data-instance=${i.name} data-instance-id=${i.id}>
              <td><${Link} href=${instanceHref(i.id)}>${i.name}</${Link}> <span class="muted mono">${i.id}</span></td>
              <td><${InstanceStatus} status=${i.status} testid="instance-status" /> <${PowerBadge} power=${i.power} /></td>
              <td>${i.flavor}</td>
              <td class="mono">${i.host && i.port ? `${i.host}:${i.port}` : '—'}</td>
              <td>${i.currentOperation
                ? html`<${Link} href=${workflowHref(i.currentOperation.workflowId)}>${i.currentOperation.kind}</${Link}>`
                : html`<span class="muted">—</span>`}</td>
              <td title=${formatTime(i.createdAt)}>${formatRelative(i.createdAt, nowMs)}</td>
            </tr>`)}
        </tbody>
      </table></div>`)}`;
}

export function InstancePage({ instance }) {
  return html`<section class="page" data-testid="instance-page">
    <${CloudGate}><${InstanceDetail} instance=${instance} /></${CloudGate}>
  </section>`;
}

function InstanceDetail({ instance }) {
  const { data, error, notFound } = useCloudData(async () => {
    const details = itemOf(await cloudApi.instance(instance), 'instance');
    // Operations, databases and users are read beside it; one that fails leaves its section empty.
    const [operations, databases, users] = await Promise.all([
      cloudApi.operations(instance).then((body) => listOf(body, 'operations'), () => null),
      cloudApi.databases(instance).then((body) => listOf(body, 'databases').map((d) => (typeof d === 'string' ? d : d.name)), () => null),
      cloudApi.users(instance).then((body) => listOf(body, 'users'), () => null),
    ]);
    return { details, operations, databases: databases ?? details.databases ?? [], users };
  }, [instance]);

  if (notFound) {
    return html`<h1>Instance not found</h1>
      <${Empty} testid="instance-not-found">No instance <code>${instance}</code> in your tenant (it may have been deleted). <${Link} href="/instances">All instances</${Link}></${Empty}>`;
  }
  if (!data) return html`<h1 class="mono">${instance}</h1><${ErrorBanner} error=${error} /><p class="muted">Loading…</p>`;
  const { details: i, operations, databases, users } = data;
  return html`
    <div class="page-head">
      <h1>${i.name}</h1>
      <${InstanceStatus} status=${i.status} testid="instance-status" />
      <${PowerBadge} power=${i.power} />
      <span class="muted mono">${i.id}</span>
    </div>
    <${ErrorBanner} error=${error} />
    <dl class="summary" data-testid="instance-summary">
      <div class="wide"><dt>Connection string</dt><dd><code data-testid="connection-string">${i.connectionString ?? '—'}</code></dd></div>
      <div><dt>Flavor</dt><dd data-testid="instance-flavor">${i.flavor}</dd></div>
      <div><dt>Address</dt><dd class="mono">${i.host && i.port ? `${i.host}:${i.port}` : '—'}</dd></div>
      <div><dt>Node</dt><dd class="mono">${i.nodeId ?? '—'}</dd></div>
      <div class="wide"><dt>Power</dt><dd data-testid="instance-power-state">${describePower(i.power)}</dd></div>
      <div><dt>Current operation</dt><dd>${i.currentOperation
        ? html`<${Link} href=${workflowHref(i.currentOperation.workflowId)}>${i.currentOperation.kind}</${Link}>`
        : '—'}</dd></div>
      <div><dt>Created</dt><dd>${formatTime(i.createdAt)}</dd></div>
      <div><dt>Updated</dt><dd>${formatTime(i.updatedAt)}</dd></div>
    </dl>

    <h2>Databases</h2>
    ${databases.length === 0
      ? html`<${Empty} testid="empty-databases">No databases — <code>strata databases create ${i.name} app</code> makes one.</${Empty}>`
      : html`<ul class="plain-list" data-testid="database-list">${databases.map((name) => html`<li key=${name} class="mono">${name}</li>`)}</ul>`}

    <h2>Users</h2>
    ${users === null
      ? html`<p class="muted">The users could not be read.</p>`
      : users.length === 0
        ? html`<${Empty} testid="empty-users">No users — <code>strata users create ${i.name} alice --grant app</code> makes one.</${Empty}>`
        : html`<div class="table-wrap"><table class="grid" data-testid="user-table">
            <thead><tr><th>User</th><th>Grants</th></tr></thead>
            <tbody>${users.map((u) => html`<tr key=${u.name} data-user=${u.name}>
              <td class="mono">${u.name}</td>
              <td>${(u.grants ?? []).length === 0 ? html`<span class="muted">—</span>` : u.grants.map((g) => html`<span class="tag">${g.database}: ${g.privilege}</span>`)}</td>
            </tr>`)}</tbody>
          </table></div>`}

    <${MetricsSection} key=${`metrics-${i.id}`} instance=${i.id} replica=${i.role === 'replica'} />
    <${BackupsSection} key=${`backups-${i.id}`} instance=${i} />
    <${ReplicasSection} key=${`replicas-${i.id}`} instance=${i} />
    <${AlertsSection} key=${`alerts-${i.id}`} instance=${i} />

    <h2>Recent operations</h2>
    <p class="muted">Each operation is a durable Strata workflow: open it to see its steps (the agent's actions).</p>
    ${operations === null
      ? html`<p class="muted">The operations could not be read.</p>`
      : operations.length === 0
        ? html`<${Empty} testid="empty-operations">No operations yet.</${Empty}>`
        : html`<div class="table-wrap"><table class="grid" data-testid="operation-table">
            <thead><tr><th>Operation</th><th>Status</th><th>Workflow</th><th>Started</th><th>Finished</th></tr></thead>
            <tbody>${operations.map((o) => html`<tr key=${o.workflowId} data-operation=${o.kind}>
              <td>${o.kind}</td>
              <td>${o.status ? html`<${StatusBadge} status=${o.status} />` : html`<span class="muted">—</span>`}</td>
              <td><${Link} href=${workflowHref(o.workflowId)} class="mono" data-testid="operation-workflow">${o.workflowId}</${Link}></td>
              <td>${formatTime(o.createdAt)}</td>
              <td>${FINISHED.includes(o.status) ? formatTime(o.updatedAt) : html`<span class="muted">running</span>`}</td>
            </tr>`)}</tbody>
          </table></div>`}
    <p><${Link} href="/instances">All instances</${Link}></p>`;
}
