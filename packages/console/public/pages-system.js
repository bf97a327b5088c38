// Queues, schedules and executors: small tables, re-read on every change.
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { Empty, ErrorBanner, Link } from './components.js';
import { formatDuration, formatRelative, formatTime } from './format.js';
import { html } from './html.js';
import { useLiveRefresh } from './live.js';

/** Loads `fetch()` now and on every change; `{ data, error }`. */
function useLiveData(fetch) {
  const [state, setState] = useState({ data: null, error: null });
  const load = () => fetch().then((data) => setState({ data, error: null }), (error) => setState((current) => ({ ...current, error })));
  useEffect(() => {
    load();
  }, []);
  useLiveRefresh(load);
  return state;
}

const limit = (value) => (value === null || value === undefined ? html`<span class="muted">—</span>` : value);

/** Strata's own queue (`_strata`, for internal work) is listed only while it holds work. */
const isIdleInternal = (queue) => queue.name.startsWith('_strata') && queue.queued === 0 && queue.running === 0;

export function QueuesPage() {
  const { data: loaded, error } = useLiveData(api.queues);
  const data = loaded && { queues: loaded.queues.filter((queue) => !isIdleInternal(queue)) };
  return html`
    <section class="page">
      <div class="page-head"><h1>Queues</h1></div>
      <${ErrorBanner} error=${error} />
      ${data && (data.queues.length === 0
        ? html`<${Empty} testid="empty-queues">No queues yet — declare one in your app with <code>strata.queue('name', { concurrency: 4 })</code> and enqueue workflows on it.</${Empty}>`
        : html`
        <div class="table-wrap"><table class="grid" data-testid="queue-table">
          <thead><tr><th>Queue</th><th class="num">Queued</th><th class="num">Running</th><th class="num">Concurrency</th><th class="num">Per executor</th><th class="num">Per partition</th><th>Rate limit</th></tr></thead>
          <tbody>
            ${data.queues.map((q) => html`
              <tr key=${q.name} data-queue=${q.name}>
                <td><${Link} href=${`/?queue=${encodeURIComponent(q.name)}`}>${q.name}</${Link}></td>
                <td class="num" data-testid="queued"><${Link} href=${`/?queue=${encodeURIComponent(q.name)}&status=ENQUEUED`}>${q.queued}</${Link}></td>
                <td class="num" data-testid="running"><${Link} href=${`/?queue=${encodeURIComponent(q.name)}&status=PENDING`}>${q.running}</${Link}></td>
                <td class="num">${limit(q.concurrency)}</td>
                <td class="num">${limit(q.workerConcurrency)}</td>
                <td class="num">${limit(q.partitionConcurrency)}</td>
                <td>${q.rateLimit ? `${q.rateLimit.limit} per ${formatDuration(q.rateLimit.periodMs)}` : html`<span class="muted">—</span>`}</td>
              </tr>`)}
          </tbody>
        </table></div>`)}
    </section>
  `;
}

export function SchedulesPage() {
  const { data, error } = useLiveData(api.schedules);
  const nowMs = Date.now();
  return html`
    <section class="page">
      <div class="page-head"><h1>Schedules</h1></div>
      <${ErrorBanner} error=${error} />
      ${data && (data.schedules.length === 0
        ? html`<${Empty} testid="empty-schedules">No schedules yet — add one with <code>strata.schedule('nightly', workflow, { cron: '0 3 * * *' })</code> before <code>launch()</code>.</${Empty}>`
        : html`
        <div class="table-wrap"><table class="grid" data-testid="schedule-table">
          <thead><tr><th>Schedule</th><th>Workflow</th><th>Cron</th><th>Time zone</th><th>Status</th><th>Next tick</th><th>Last tick</th><th>Queue</th></tr></thead>
          <tbody>
            ${data.schedules.map((s) => html`
              <tr key=${s.name} data-schedule=${s.name}>
                <td><${Link} href=${`/?workflowIdPrefix=${encodeURIComponent(`sched:${s.name}:`)}`}>${s.name}</${Link}></td>
                <td>${s.workflowName}</td>
                <td class="mono">${s.cron}</td>
                <td>${s.timezone}</td>
                <td><span class=${`badge ${s.status === 'ACTIVE' ? 'status-success' : 'status-cancelled'}`}>${s.status}</span></td>
                <td title=${formatTime(s.nextTickAt)}>${s.nextTickAt ? formatRelative(s.nextTickAt, nowMs) : '—'}</td>
                <td title=${formatTime(s.lastTickAt)}>${s.lastTickAt ? formatRelative(s.lastTickAt, nowMs) : '—'}</td>
                <td>${s.queue ?? html`<span class="muted">—</span>`}</td>
              </tr>`)}
          </tbody>
        </table></div>`)}
    </section>
  `;
}

export function ExecutorsPage() {
  const { data, error } = useLiveData(api.executors);
  const nowMs = Date.now();
  return html`
    <section class="page">
      <div class="page-head"><h1>Executors</h1></div>
      <${ErrorBanner} error=${error} />
      ${data && (data.executors.length === 0
        ? html`<${Empty} testid="empty-executors">No executors yet — an app registers one when it calls <code>strata.launch()</code> on this database.</${Empty}>`
        : html`
        <div class="table-wrap"><table class="grid" data-testid="executor-table">
          <thead><tr><th>Executor</th><th>State</th><th>App version</th><th>Host</th><th class="num">PID</th><th>Workflows</th><th>Started</th><th>Heartbeat</th></tr></thead>
          <tbody>
            ${data.executors.map((e) => html`
              <tr key=${e.executorId} data-executor=${e.executorId}>
                <td><${Link} href=${`/?executorId=${encodeURIComponent(e.executorId)}`} class="mono">${e.executorId}</${Link}></td>
                <td><span class=${`badge ${e.alive ? 'status-success' : e.stoppedAt ? 'status-cancelled' : 'status-error'}`}>${e.alive ? 'alive' : e.stoppedAt ? 'stopped' : 'dead'}</span></td>
                <td>${e.appVersion}</td>
                <td>${e.hostname}</td>
                <td class="num">${e.pid}</td>
                <td class="names">${e.workflowNames.join(', ')}</td>
                <td title=${formatTime(e.startedAt)}>${formatRelative(e.startedAt, nowMs)}</td>
                <td title=${formatTime(e.heartbeatAt)}>${formatRelative(e.heartbeatAt, nowMs)}</td>
              </tr>`)}
          </tbody>
        </table></div>`)}
    </section>
  `;
}
