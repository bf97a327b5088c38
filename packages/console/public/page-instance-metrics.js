// An instance's Metrics section: what its node agent samples (connections, transactions/s, cache
// hit ratio, database size, replication lag) as charts over the last hour, 6 hours or day.
import { useEffect, useRef, useState } from 'preact/hooks';
import { TimeChart } from './chart.js';
import { cloudApi } from './cloud-api.js';
import { Empty, ErrorBanner } from './components.js';
import { formatBytes, formatDuration, formatNumber, formatTime } from './format.js';
import { html } from './html.js';

const HOUR_MS = 3_600_000;
const RANGES = [
  { id: '1h', label: '1 h', ms: HOUR_MS },
  { id: '6h', label: '6 h', ms: 6 * HOUR_MS },
  { id: '24h', label: '24 h', ms: 24 * HOUR_MS },
];
/** The API's most samples per call (MAX_METRICS_POINTS of the control plane's monitoring routes). */
const PAGE_SAMPLES_MAX = 2_000;
/** Calls per reading, newest first: a day at the agents' default 15 s is 3; 6 cover a day at 7.2 s. */
const PAGES_MAX = 6;
/** A reading every range/720 (an hour: every 5 s), within these bounds: a day's is up to 6 calls. */
const REFRESH_MS_MIN = 5_000;
const REFRESH_MS_MAX = 60_000;

const CHARTS = [
  { key: 'connections', label: 'Connections', format: (v) => formatNumber(v, 0) },
  { key: 'transactionsPerSecond', label: 'Transactions/s', format: (v) => formatNumber(v, 1) },
  { key: 'cacheHitRatio', label: 'Cache hit ratio', format: (v) => `${formatNumber(v * 100, 1)} %`, range: [0, 1.05] },
  // Charted in MiB, so the axis steps are round numbers of MiB rather than of bytes.
  { key: 'databaseBytes', label: 'Database size', scale: 1 / 1_048_576, format: (v) => `${formatNumber(v, 1)} MiB` },
  // A primary's: its replicas' largest; a replica's: how far its replay trails its primary.
  { key: 'replicationLagSeconds', label: 'Replication lag', format: (v) => formatDuration(v * 1_000), none: 'No replica streams from this instance, so there is no lag to show.', noneOnReplica: 'No lag sampled yet: its primary measures it once the replica streams.' },
];

/**
 * The samples of `[fromMs, toMs]`, oldest first: the API returns the newest `limit` of a range, so
 * a range with more is read backwards, call by call, up to {@link PAGES_MAX} calls.
 */
async function readSamples(instance, fromMs, toMs) {
  const pages = [];
  let toIso = new Date(toMs).toISOString();
  let first;
  let truncated = false;
  for (let page = 1; ; page++) {
    const body = await cloudApi.metrics(instance, new Date(fromMs).toISOString(), toIso, PAGE_SAMPLES_MAX);
    first ??= body;
    pages.unshift(body.samples);
    if (body.samples.length < PAGE_SAMPLES_MAX) break;
    if (page === PAGES_MAX) {
      truncated = true;
      break;
    }
    // The next call ends just before the oldest sample of this one.
    toIso = new Date(Date.parse(body.samples[0].at) - 1).toISOString();
  }
  return { samples: pages.flat(), storageBytes: first.storageBytes, lastBackupAt: first.lastBackupAt, truncated };
}

export function MetricsSection({ instance, replica = false }) {
  const [rangeId, setRangeId] = useState('1h');
  const [state, setState] = useState({ reading: null, error: null });
  const generation = useRef(0);
  const range = RANGES.find((r) => r.id === rangeId);

  useEffect(() => {
    const mine = ++generation.current;
    let inFlight = false;
    const read = () => {
      if (inFlight) return; // a slow day's reading is not stacked up behind itself
      inFlight = true;
      const toMs = Date.now();
      const fromMs = toMs - range.ms;
      readSamples(instance, fromMs, toMs).then(
        (reading) => mine === generation.current && setState({ reading: { ...reading, fromMs, toMs, rangeId }, error: null }),
        (error) => mine === generation.current && setState((current) => ({ ...current, error })),
      ).finally(() => { inFlight = false; });
    };
    setState({ reading: null, error: null });
    read();
    const timer = setInterval(read, Math.min(REFRESH_MS_MAX, Math.max(REFRESH_MS_MIN, range.ms / 720)));
    return () => clearInterval(timer);
  }, [instance, rangeId]);

  const { reading, error } = state;
  return html`
    <section class="instance-section" data-testid="metrics-section" data-range=${rangeId}>
      <div class="section-head">
        <h2 id="metrics">Metrics</h2>
        <div class="range-picker" role="group" aria-label="Time range">
          ${RANGES.map((r) => html`<button type="button" class="chip" aria-pressed=${r.id === rangeId ? 'true' : 'false'} data-range=${r.id} onClick=${() => setRangeId(r.id)}>${r.label}</button>`)}
        </div>
      </div>
      ${error?.status === 404 && reading === null
        ? html`<${Empty} testid="metrics-unavailable">This control plane keeps no metrics (it runs without its monitoring module).</${Empty}>`
        : html`<${ErrorBanner} error=${error} />`}
      ${reading === null ? (error ? null : html`<p class="muted">Loading…</p>`) : html`<${Charts} reading=${reading} replica=${replica} />`}
    </section>`;
}

function Charts({ reading, replica }) {
  const { samples, fromMs, toMs, storageBytes, lastBackupAt, truncated } = reading;
  const times = samples.map((s) => Date.parse(s.at) / 1_000);
  const window = [fromMs / 1_000, toMs / 1_000];
  const newest = samples[samples.length - 1];
  return html`
    <p class="muted" data-testid="metrics-note">
      ${samples.length === 0
        ? 'No samples in this range yet: the node agent samples every running instance (every 15 s by default).'
        : `${samples.length} samples, the newest at ${formatTime(newest.at)}.`}
      ${' '}Storage allowed by the flavor: ${formatBytes(storageBytes)}. Last completed backup: ${formatTime(lastBackupAt)}.
      ${truncated ? ` Showing the newest ${samples.length} samples of the range.` : ''}
    </p>
    <div class="charts">
      ${CHARTS.map((chart) => {
        const values = samples.map((s) => (s[chart.key] === null || s[chart.key] === undefined ? null : s[chart.key] * (chart.scale ?? 1)));
        const points = values.filter((v) => v !== null).length;
        const latest = [...values].reverse().find((v) => v !== null);
        return html`<figure class="chart" key=${chart.key} data-metric=${chart.key} data-points=${points}>
          <figcaption><span>${chart.label}</span> <span class="muted">${latest === undefined ? '—' : `${chart.format(latest)} now`}</span></figcaption>
          ${points === 0
            ? html`<p class="muted chart-none">${(samples.length > 0 && (replica ? chart.noneOnReplica : chart.none)) || 'No samples in this range.'}</p>`
            : html`<${TimeChart} label=${chart.label} times=${times} values=${values} window=${window} format=${chart.format} range=${chart.range} />`}
        </figure>`;
      })}
    </div>`;
}
