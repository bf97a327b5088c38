// The tenant's Usage page: operations per hour through the proxy (a uPlot chart over the last day,
// week or month), the monthly caps as bars with the 75 % warning mark, and the month by instance.
import { useEffect, useRef, useState } from 'preact/hooks';
import { TimeChart } from './chart.js';
import { CloudGate, cloudCall } from './cloud-api.js';
import { Empty, ErrorBanner } from './components.js';
import { formatBytes, formatDuration, formatNumber, formatTime } from './format.js';
import { html } from './html.js';

const HOUR_MS = 3_600_000;
/** Hourly groups: the API answers at most 31 days of them. */
const RANGES = [
  { id: '24h', label: '24 h', ms: 24 * HOUR_MS },
  { id: '7d', label: '7 d', ms: 7 * 24 * HOUR_MS },
  { id: '31d', label: '31 d', ms: 31 * 24 * HOUR_MS },
];
/** Usage is written every second and caps evaluated every 10 s: a reading every 30 s is current enough. */
const REFRESH_MS = 30_000;
/** The share of a cap at which the control plane warns (WARNING_PERCENT of its usage module). */
const WARNING_PERCENT = 75;

const enc = encodeURIComponent;
const usageApi = {
  usage: (from, to, group) => cloudCall('GET', `/v1/usage?from=${enc(from)}&to=${enc(to)}&group=${group}`),
  cap: () => cloudCall('GET', '/v1/usage/cap'),
};

export function UsagePage() {
  return html`<section class="page" data-testid="usage-page">
    <div class="page-head"><h1>Usage</h1></div>
    <${CloudGate}><${Usage} /></${CloudGate}>
  </section>`;
}

function Usage() {
  const [rangeId, setRangeId] = useState('24h');
  const [state, setState] = useState({ reading: null, error: null });
  const generation = useRef(0);
  const range = RANGES.find((r) => r.id === rangeId);

  useEffect(() => {
    const mine = ++generation.current;
    const read = async () => {
      const toMs = Date.now();
      // Whole hours, so the newest bucket is the hour in progress.
      const fromMs = Math.floor((toMs - range.ms) / HOUR_MS) * HOUR_MS;
      try {
        const cap = await usageApi.cap();
        const [hourly, byInstance] = await Promise.all([
          usageApi.usage(new Date(fromMs).toISOString(), new Date(toMs).toISOString(), 'hour'),
          usageApi.usage(cap.period.start, new Date(toMs).toISOString(), 'instance'),
        ]);
        if (mine === generation.current) setState({ reading: { hourly, byInstance, cap, fromMs, toMs }, error: null });
      } catch (error) {
        if (mine === generation.current) setState((current) => ({ ...current, error }));
      }
    };
    setState({ reading: null, error: null });
    read();
    const timer = setInterval(read, REFRESH_MS);
    return () => clearInterval(timer);
  }, [rangeId]);

  const { reading, error } = state;
  return html`
    ${error?.status === 404 && reading === null
      ? html`<${Empty} testid="usage-unavailable">This control plane keeps no usage (it runs without its usage module).</${Empty}>`
      : html`<${ErrorBanner} error=${error} />`}
    ${reading === null
      ? error ? null : html`<p class="muted">Loading…</p>`
      : html`
        <${CapBars} cap=${reading.cap} />
        <div class="section-head">
          <h2>Operations per hour</h2>
          <div class="range-picker" role="group" aria-label="Time range">
            ${RANGES.map((r) => html`<button type="button" class="chip" aria-pressed=${r.id === rangeId ? 'true' : 'false'} data-range=${r.id} onClick=${() => setRangeId(r.id)}>${r.label}</button>`)}
          </div>
        </div>
        <${OperationsChart} reading=${reading} />
        <h2>This month by instance</h2>
        <${InstanceTable} report=${reading.byInstance} />`}`;
}

/** One bar per capped measure: how much of the month's cap is used, with the warning mark. */
function CapBars({ cap }) {
  const measures = [
    { key: 'operations', label: 'Operations', used: cap.usage.operations, limit: cap.cap.operationsPerMonth, format: (v) => formatNumber(v, 0) },
    { key: 'bytesOut', label: 'Bytes sent', used: cap.usage.bytesOut, limit: cap.cap.bytesOutPerMonth, format: formatBytes },
  ].filter((m) => m.limit !== null);
  const month = cap.period.start.slice(0, 7);
  if (measures.length === 0) {
    return html`<${Empty} testid="no-cap">No monthly cap is set for ${month}. An admin sets one with <code>strata usage cap --operations N</code> (or PUT /v1/usage/cap); at 100 % the proxy refuses new statements.</${Empty}>`;
  }
  const stateText = { ok: 'ok', warning: `${WARNING_PERCENT} % of a cap reached`, exceeded: 'cap reached: new statements are refused (SQLSTATE 53400)' };
  return html`
    <div class="cap-bars" data-testid="cap-bars" data-state=${cap.state}>
      <p class="muted">Monthly caps for ${month} (UTC) · <span class=${`badge ${cap.state === 'exceeded' ? 'status-error' : cap.state === 'warning' ? 'status-pending' : 'status-success'}`} data-testid="cap-state">${stateText[cap.state] ?? cap.state}</span></p>
      ${measures.map((m) => {
        const percent = (m.used / m.limit) * 100;
        return html`<div class=${`cap-bar cap-${percent >= 100 ? 'exceeded' : percent >= WARNING_PERCENT ? 'warning' : 'ok'}`} key=${m.key} data-testid="cap-bar" data-measure=${m.key} data-percent=${percent.toFixed(1)}>
          <div class="cap-bar-label"><span>${m.label}</span> <span class="muted">${m.format(m.used)} of ${m.format(m.limit)} (${formatNumber(percent, 1)} %)</span></div>
          <div class="cap-bar-track" role="progressbar" aria-label=${`${m.label}: share of the monthly cap`} aria-valuemin="0" aria-valuemax="100" aria-valuenow=${Math.min(100, Math.round(percent))}>
            <div class="cap-bar-fill" style=${{ width: `${Math.min(100, percent)}%` }}></div>
            <div class="cap-bar-mark" style=${{ left: `${WARNING_PERCENT}%` }} title=${`${WARNING_PERCENT} %: a warning event`}></div>
          </div>
        </div>`;
      })}
    </div>`;
}

/** Operations of each hour of the range (hours without any drawn at 0), as one uPlot line. */
function OperationsChart({ reading }) {
  const { hourly, fromMs, toMs } = reading;
  const byHour = new Map(hourly.groups.map((g) => [Date.parse(g.start), g.operations]));
  const times = [];
  const values = [];
  for (let at = fromMs; at <= toMs; at += HOUR_MS) {
    times.push(at / 1_000);
    values.push(byHour.get(at) ?? 0);
  }
  const points = hourly.groups.length;
  return html`<figure class="chart" data-metric="operations" data-points=${points}>
    <figcaption><span>Operations</span> <span class="muted">${formatNumber(hourly.totals.operations, 0)} in this range · ${formatBytes(hourly.totals.bytesOut)} sent</span></figcaption>
    ${points === 0
      ? html`<p class="muted chart-none">No operations in this range: usage is what clients send through the proxy.</p>`
      : html`<${TimeChart} label="Operations" times=${times} values=${values} window=${[fromMs / 1_000, toMs / 1_000]} format=${(v) => formatNumber(v, 0)} />`}
  </figure>`;
}

function InstanceTable({ report }) {
  if (report.groups.length === 0) return html`<${Empty} testid="usage-no-instances">Nothing used this month yet.</${Empty}>`;
  return html`<div class="table-wrap"><table class="grid" data-testid="usage-table">
    <thead><tr><th>Instance</th><th class="num">Operations</th><th class="num">Bytes in</th><th class="num">Bytes out</th><th class="num">Connected</th><th class="num">Compute</th><th class="num">Storage</th></tr></thead>
    <tbody>${report.groups.map((g) => html`<tr key=${g.instanceId} data-instance-id=${g.instanceId}>
      <td>${g.instanceName ?? g.instanceId}</td>
      <td class="num">${formatNumber(g.operations, 0)}</td>
      <td class="num">${formatBytes(g.bytesIn)}</td>
      <td class="num">${formatBytes(g.bytesOut)}</td>
      <td class="num">${formatDuration(g.connectionMs)}</td>
      <td class="num">${formatDuration(g.computeMs)}</td>
      <td class="num">${formatBytes(g.storageBytes)}</td>
    </tr>`)}</tbody>
  </table></div>
  <p class="muted">From ${formatTime(report.from)} to ${formatTime(report.to)}.</p>`;
}
