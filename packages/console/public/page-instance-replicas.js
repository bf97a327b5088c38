// An instance's Replicas section: the replicas streaming from it (status, and how far behind each
// is, from its own newest metrics sample) and whether commits wait for one, or, on a replica, its primary.
import { InstanceStatus, cloudApi, instanceHref, itemOf, listOf } from './cloud-api.js';
import { useCloudData } from './cloud-data.js';
import { Empty, ErrorBanner, Link } from './components.js';
import { formatDuration } from './format.js';
import { html } from './html.js';

/** A sample older than this says nothing about the lag now (the control plane's alerts use the same bound). */
const STALE_SAMPLE_MS = 5 * 60_000;

/** A replica's replication lag in seconds from its newest recent sample; null when it has none. */
async function newestLagSeconds(replicaId) {
  const toMs = Date.now();
  try {
    const body = await cloudApi.metrics(replicaId, new Date(toMs - STALE_SAMPLE_MS).toISOString(), new Date(toMs).toISOString(), 1);
    return body.samples?.[0]?.replicationLagSeconds ?? null;
  } catch {
    return null;
  }
}

export function ReplicasSection({ instance }) {
  const isReplica = instance.role === 'replica' && Boolean(instance.replicaOf);
  const { data, error, notFound } = useCloudData(async () => {
    const replicas = listOf(await cloudApi.replicas(instance.id), 'replicas');
    const lags = await Promise.all(replicas.map((replica) => newestLagSeconds(replica.id)));
    return replicas.map((replica, index) => ({ ...replica, lagSeconds: lags[index] }));
  }, [instance.id]);
  // The primary's name, for a replica's page (its ID if it cannot be read).
  const primary = useCloudData(async () => (isReplica ? itemOf(await cloudApi.instance(instance.replicaOf), 'instance') : null), [instance.replicaOf]);
  // A control plane without replicas answers 404 for the route: that is "none".
  const replicas = notFound ? [] : data;

  return html`
    <section class="instance-section" data-testid="replicas-section">
      <h2 id="replicas">Replicas</h2>
      ${isReplica && html`<p data-testid="replica-of">
        This instance is a read-only replica streaming from <${Link} href=${instanceHref(instance.replicaOf)}>${primary.data?.name ?? instance.replicaOf}</${Link}>; its lag is in its metrics above.
      </p>`}
      ${!isReplica && replicas?.length > 0 && html`<p data-testid="replication-mode">${instance.synchronous
        ? 'Synchronous: a commit on this instance waits until one replica has it on disk.'
        : 'Asynchronous: commits do not wait for the replicas.'}</p>`}
      ${!notFound && html`<${ErrorBanner} error=${error} />`}
      ${replicas === null
        ? (error ? null : html`<p class="muted">Loading…</p>`)
        : replicas.length === 0
          ? html`<${Empty} testid="empty-replicas">No replicas.</${Empty}>`
          : html`<div class="table-wrap"><table class="grid" data-testid="replica-table">
              <thead><tr><th>Replica</th><th>Status</th><th class="num">Lag</th><th>Address</th></tr></thead>
              <tbody>${replicas.map((r) => html`<tr key=${r.id} data-replica=${r.name} data-replica-id=${r.id}>
                <td><${Link} href=${instanceHref(r.id)}>${r.name}</${Link}> <span class="muted mono">${r.id}</span></td>
                <td><${InstanceStatus} status=${r.status} testid="replica-status" /></td>
                <td class="num" data-testid="replica-lag">${r.lagSeconds === null ? '—' : formatDuration(r.lagSeconds * 1_000)}</td>
                <td class="mono">${r.host && r.port ? `${r.host}:${r.port}` : '—'}</td>
              </tr>`)}</tbody>
            </table></div>`}
    </section>`;
}
