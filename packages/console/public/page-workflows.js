// The workflow list: filters in the URL, server-side pages of PAGE_SIZE ("Load more"), live.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';
import { Empty, ErrorBanner, Link, StatusBadge, workflowHref } from './components.js';
import { STATUSES, formatDuration, formatRelative, formatTime, workflowDurationMs } from './format.js';
import { html } from './html.js';
import { useLiveRefresh } from './live.js';
import { navigate } from './router.js';

const PAGE_SIZE = 50;
/** The API's largest page: a live refresh re-reads at most this many loaded rows in one request. */
const REFRESH_ROWS_MAX = 1_000;
/** Typing in a text filter applies it after this pause. */
const TYPING_DEBOUNCE_MS = 350;

const TEXT_FILTERS = [
  { key: 'name', label: 'Name', placeholder: 'workflow name' },
  { key: 'queue', label: 'Queue', placeholder: 'queue name' },
  { key: 'workflowIdPrefix', label: 'ID prefix', placeholder: 'order-' },
];
const TIME_FILTERS = [
  { key: 'createdAfter', label: 'Created after' },
  { key: 'createdBefore', label: 'Created before' },
];
/** Filters that links from other pages set (an executor's workflows, a parent's children); shown as removable tags. */
const LINKED_FILTERS = [
  { key: 'executorId', label: 'executor' },
  { key: 'appVersion', label: 'app version' },
  { key: 'parentWorkflowId', label: 'parent' },
];
const FILTER_KEYS = ['status', ...TEXT_FILTERS.map((f) => f.key), ...TIME_FILTERS.map((f) => f.key), ...LINKED_FILTERS.map((f) => f.key)];

/** The filter part of the page's query string, in a stable order (the API takes the same names). */
function filterQuery(query) {
  const out = new URLSearchParams();
  for (const key of FILTER_KEYS) {
    const value = query.get(key);
    if (value) out.set(key, value);
  }
  return out;
}

/** ISO time → the value of a datetime-local input (local time), and back. */
function toLocalInput(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}
function fromLocalInput(value) {
  return value ? new Date(value).toISOString() : '';
}

export function WorkflowsPage({ query }) {
  const filters = filterQuery(query);
  const filterKey = filters.toString();
  const [rows, setRows] = useState([]);
  const [nextCursor, setNextCursor] = useState(null);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState(null);
  const [elapsedMs, setElapsedMs] = useState(null);
  const generation = useRef(0);
  const rowCount = useRef(0);
  rowCount.current = rows.length;

  const fetchPage = useCallback(async (limit, cursor) => {
    const params = new URLSearchParams(filterKey);
    params.set('limit', String(limit));
    if (cursor) params.set('cursor', cursor);
    const startedAt = performance.now();
    const page = await api.listWorkflows(params.toString());
    setElapsedMs(performance.now() - startedAt);
    return page;
  }, [filterKey]);

  // A new filter: start over from the first page.
  useEffect(() => {
    const mine = ++generation.current;
    setLoading(true);
    setRows([]);
    setNextCursor(null);
    fetchPage(PAGE_SIZE).then(
      (page) => {
        if (mine !== generation.current) return;
        setRows(page.workflows);
        setNextCursor(page.nextCursor);
        setError(null);
        setLoading(false);
      },
      (failure) => {
        if (mine !== generation.current) return;
        setError(failure);
        setLoading(false);
      },
    );
  }, [fetchPage]);

  // A change in the database: re-read the rows on screen (new ones appear at the top).
  const refreshing = useRef(false);
  useLiveRefresh(async () => {
    if (refreshing.current || loading || loadingMore) return;
    refreshing.current = true;
    const mine = generation.current;
    const loaded = rowCount.current;
    try {
      const page = await fetchPage(Math.min(Math.max(loaded, PAGE_SIZE), REFRESH_ROWS_MAX));
      if (mine !== generation.current) return;
      setRows((current) => {
        if (current.length <= REFRESH_ROWS_MAX) return page.workflows;
        const fresh = new Set(page.workflows.map((w) => w.workflowId));
        return [...page.workflows, ...current.slice(REFRESH_ROWS_MAX).filter((w) => !fresh.has(w.workflowId))];
      });
      if (loaded <= REFRESH_ROWS_MAX) setNextCursor(page.nextCursor);
      setError(null);
    } catch (failure) {
      if (mine === generation.current) setError(failure);
    } finally {
      refreshing.current = false;
    }
  });

  const loadMore = async () => {
    const mine = generation.current;
    setLoadingMore(true);
    try {
      const page = await fetchPage(PAGE_SIZE, nextCursor);
      if (mine !== generation.current) return;
      setRows((current) => {
        const seen = new Set(current.map((w) => w.workflowId));
        return [...current, ...page.workflows.filter((w) => !seen.has(w.workflowId))];
      });
      setNextCursor(page.nextCursor);
    } catch (failure) {
      setError(failure);
    } finally {
      setLoadingMore(false);
    }
  };

  const setFilter = (key, value) => {
    const next = new URLSearchParams(filterKey);
    if (value) next.set(key, value);
    else next.delete(key);
    const text = next.toString();
    navigate(text ? `/?${text}` : '/', { replace: true });
  };

  const nowMs = Date.now();
  return html`
    <section class="page">
      <div class="page-head">
        <h1>Workflows</h1>
        <span class="muted" data-testid="row-count">
          ${loading ? 'loading…' : `${rows.length}${nextCursor ? '+' : ''} shown`}${elapsedMs !== null && !loading ? ` · ${Math.round(elapsedMs)} ms` : ''}
        </span>
      </div>
      <${Filters} filters=${filters} setFilter=${setFilter} />
      <${ErrorBanner} error=${error} onDismiss=${() => setError(null)} />
      <div class="table-wrap">
      <table class="grid workflows" data-testid="workflow-table">
        <thead>
          <tr><th>Workflow ID</th><th>Name</th><th>Status</th><th>Queue</th><th>Created</th><th class="num">Duration</th><th>Executor</th></tr>
        </thead>
        <tbody>
          ${rows.map((w) => html`
            <tr key=${w.workflowId} data-workflow-id=${w.workflowId} data-status=${w.status}>
              <td class="mono"><${Link} href=${workflowHref(w.workflowId)}>${w.workflowId}</${Link}></td>
              <td>${w.name}</td>
              <td><${StatusBadge} status=${w.status} /></td>
              <td>${w.queueName ?? html`<span class="muted">—</span>`}</td>
              <td title=${formatTime(w.createdAt)}>${formatRelative(w.createdAt, nowMs)}</td>
              <td class="num">${w.status === 'ENQUEUED' ? html`<span class="muted">queued</span>` : formatDuration(workflowDurationMs(w, nowMs))}</td>
              <td class="muted">${w.executorId ?? '—'}</td>
            </tr>`)}
        </tbody>
      </table>
      </div>
      ${!loading && rows.length === 0 && !error && (filterKey
        ? html`<${Empty}>No workflows match these filters. <button type="button" class="link" onClick=${() => navigate('/', { replace: true })}>Clear filters</button></${Empty}>`
        : html`<${Empty} testid="empty-workflows">No workflows yet — define one with <code>strata.workflow('name', fn)</code> and start it with <code>.start(…)</code>, or enqueue it with <code>queue.enqueue(…)</code>. It shows here at once.</${Empty}>`)}
      ${nextCursor && html`
        <div class="more">
          <button onClick=${loadMore} disabled=${loadingMore} data-testid="load-more">${loadingMore ? 'Loading…' : `Load ${PAGE_SIZE} more`}</button>
        </div>`}
    </section>
  `;
}

function Filters({ filters, setFilter }) {
  const selected = new Set((filters.get('status') ?? '').split(',').filter(Boolean));
  const toggleStatus = (status) => {
    if (selected.has(status)) selected.delete(status);
    else selected.add(status);
    setFilter('status', STATUSES.filter((s) => selected.has(s)).join(','));
  };
  const anyFilter = [...filters.keys()].length > 0;
  return html`
    <form class="filters" onSubmit=${(event) => event.preventDefault()} data-testid="filters">
      <div class="status-filter" role="group" aria-label="Status">
        ${STATUSES.map((status) => html`
          <button type="button" class=${`chip chip-${status.toLowerCase()}`} aria-pressed=${selected.has(status)}
                  onClick=${() => toggleStatus(status)} data-testid=${`status-filter-${status}`}>${status}</button>`)}
      </div>
      ${TEXT_FILTERS.map((filter) => html`
        <${TextFilter} key=${filter.key} filter=${filter} value=${filters.get(filter.key) ?? ''} onApply=${(value) => setFilter(filter.key, value)} />`)}
      ${TIME_FILTERS.map((filter) => html`
        <label key=${filter.key}>
          <span>${filter.label}</span>
          <input type="datetime-local" value=${toLocalInput(filters.get(filter.key))} data-testid=${`filter-${filter.key}`}
                 onChange=${(event) => setFilter(filter.key, fromLocalInput(event.currentTarget.value))} />
        </label>`)}
      ${LINKED_FILTERS.filter((filter) => filters.get(filter.key)).map((filter) => html`
        <span key=${filter.key} class="tag removable">${filter.label}: ${filters.get(filter.key)}
          <button type="button" class="link" aria-label=${`remove ${filter.label} filter`} onClick=${() => setFilter(filter.key, '')}>×</button></span>`)}
      ${anyFilter && html`<button type="button" class="link" onClick=${() => navigate('/', { replace: true })}>Clear filters</button>`}
    </form>
  `;
}

function TextFilter({ filter, value, onApply }) {
  const [text, setText] = useState(value);
  const timer = useRef();
  useEffect(() => setText(value), [value]);
  useEffect(() => () => clearTimeout(timer.current), []);
  const onInput = (event) => {
    const next = event.currentTarget.value;
    setText(next);
    clearTimeout(timer.current);
    timer.current = setTimeout(() => onApply(next.trim()), TYPING_DEBOUNCE_MS);
  };
  const onKeyDown = (event) => {
    if (event.key !== 'Enter') return;
    clearTimeout(timer.current);
    onApply(text.trim());
  };
  return html`
    <label>
      <span>${filter.label}</span>
      <input type="search" value=${text} placeholder=${filter.placeholder} onInput=${onInput} onKeyDown=${onKeyDown}
             data-testid=${`filter-${filter.key}`} spellcheck="false" autocomplete="off" />
    </label>
  `;
}
