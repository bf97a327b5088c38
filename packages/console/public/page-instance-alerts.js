// An instance's Alerts section: the rules firing on it now (with their condition) and its recent
// alert events. The API lists the whole tenant's, so this page keeps the ones of this instance.
import { cloudApi, listOf } from './cloud-api.js';
import { useCloudData } from './cloud-data.js';
import { Empty, ErrorBanner } from './components.js';
import { formatNumber, formatRelative, formatTime } from './format.js';
import { html } from './html.js';

/** Events read per refresh (the tenant's newest); this instance's are among them. */
const EVENTS_READ = 200;

function condition(rule) {
  return rule ? `${rule.metric} ${rule.comparison} ${formatNumber(rule.threshold, 3)}${rule.durationSeconds > 0 ? ` for ${rule.durationSeconds} s` : ''}` : '';
}

function Deliveries({ deliveries }) {
  if (deliveries.length === 0) return html`<span class="muted">—</span>`;
  const last = deliveries[deliveries.length - 1];
  return html`<span title=${last.error ?? ''}>${last.ok ? 'delivered' : 'failing'} (${deliveries.length} ${deliveries.length === 1 ? 'attempt' : 'attempts'})</span>`;
}

export function AlertsSection({ instance }) {
  const { data, error, notFound } = useCloudData(async () => {
    const [alerts, rules] = await Promise.all([cloudApi.alerts(EVENTS_READ), cloudApi.alertRules().then((body) => listOf(body, 'rules'), () => [])]);
    const mine = (item) => item.instanceId === instance.id;
    return { firing: (alerts.firing ?? []).filter(mine), events: (alerts.events ?? []).filter(mine), rules: new Map(rules.map((r) => [r.id, r])) };
  }, [instance.id]);
  const nowMs = Date.now();
  // A firing rule's name: from the rules, else from its newest event, else its key.
  const nameOf = (key) => data.rules.get(key)?.name ?? data.events.find((e) => e.rule === key)?.ruleName ?? key;

  return html`
    <section class="instance-section" data-testid="alerts-section">
      <h2 id="alerts">Alerts</h2>
      ${notFound && data === null
        ? html`<${Empty} testid="alerts-unavailable">This control plane has no alerts (it runs without its alerts module).</${Empty}>`
        : html`<${ErrorBanner} error=${error} />`}
      ${data === null ? (error ? null : html`<p class="muted">Loading…</p>`) : html`
        <h3 class="subhead">Firing now</h3>
        ${data.firing.length === 0
          ? html`<p class="muted" data-testid="empty-firing">Nothing fires on this instance now.</p>`
          : html`<div class="table-wrap"><table class="grid" data-testid="firing-table">
              <thead><tr><th>Rule</th><th>Condition</th><th class="num">Value</th><th>Since</th></tr></thead>
              <tbody>${data.firing.map((f) => html`<tr key=${f.rule} data-rule=${nameOf(f.rule)}>
                <td><span class="badge status-error">FIRING</span> ${nameOf(f.rule)}</td>
                <td class="mono">${condition(data.rules.get(f.rule))}</td>
                <td class="num">${formatNumber(f.value, 3)}</td>
                <td title=${formatTime(f.since)}>${formatRelative(f.since, nowMs)}</td>
              </tr>`)}</tbody>
            </table></div>`}
        <h3 class="subhead">Recent events</h3>
        ${data.events.length === 0
          ? html`<${Empty} testid="empty-alert-events">No alert events for this instance — <code>strata alerts create too-many-connections --metric connections --threshold 100 --instance ${instance.name}</code> adds a rule; built-in rules watch archiving, backups, disk and replica lag.</${Empty}>`
          : html`<div class="table-wrap"><table class="grid" data-testid="alert-event-table">
              <thead><tr><th>When</th><th>Event</th><th>Rule</th><th class="num">Value</th><th class="num">Threshold</th><th>Webhook</th></tr></thead>
              <tbody>${data.events.map((e) => html`<tr key=${e.id} data-event=${e.kind} data-rule=${e.ruleName}>
                <td title=${formatTime(e.at)}>${formatRelative(e.at, nowMs)}</td>
                <td><span class=${`badge ${e.kind === 'firing' ? 'status-error' : 'status-success'}`}>${e.kind}</span></td>
                <td>${e.ruleName} <span class="muted mono">${e.metric}</span></td>
                <td class="num">${formatNumber(e.value, 3)}</td>
                <td class="num">${formatNumber(e.threshold, 3)}</td>
                <td><${Deliveries} deliveries=${e.deliveries ?? []} /></td>
              </tr>`)}</tbody>
            </table></div>`}`}
    </section>`;
}
