// The database service's API, as the Instances and Audit pages use it: calls go to the console's own
// /api/cloud/v1/… routes, which pass them to the control plane with the API key the person entered
// once (kept in sessionStorage: it lives as long as this tab, and no other site can read it).
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from './api.js';
import { Empty, ErrorBanner } from './components.js';
import { html } from './html.js';

const KEY_STORAGE = 'strata.cloud.apiKey';
const keyListeners = new Set();

export function storedApiKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

function setApiKey(key) {
  if (key === null) sessionStorage.removeItem(KEY_STORAGE);
  else sessionStorage.setItem(KEY_STORAGE, key);
  for (const listener of keyListeners) listener(key);
}

/** Calls the API through the console; errors carry the API's status, code and message. */
export async function cloudCall(method, path, body) {
  const key = storedApiKey();
  const headers = { Accept: 'application/json', ...(key ? { 'X-Strata-Api-Key': key } : {}), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) };
  let response;
  try {
    response = await fetch(`/api/cloud${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  } catch {
    throw new ApiError(0, 'CONSOLE_UNREACHABLE', 'the console server does not answer; is it still running?');
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = data?.error ?? {};
    const code = error.code ?? `HTTP_${response.status}`;
    if (code === 'CONSOLE_UNAUTHENTICATED' && location.pathname !== '/login') location.assign('/login');
    // The control plane refused the key (unknown or revoked): ask for another.
    else if (response.status === 401) setApiKey(null);
    throw new ApiError(response.status, code, error.message ?? `${method} ${path} failed with HTTP ${response.status}`);
  }
  return data;
}

const enc = encodeURIComponent;

export const cloudApi = {
  instances: () => cloudCall('GET', '/v1/instances'),
  instance: (instance) => cloudCall('GET', `/v1/instances/${enc(instance)}`),
  operations: (instance) => cloudCall('GET', `/v1/instances/${enc(instance)}/operations`),
  databases: (instance) => cloudCall('GET', `/v1/instances/${enc(instance)}/databases`),
  users: (instance) => cloudCall('GET', `/v1/instances/${enc(instance)}/users`),
  /** Samples of `[from, to]` (ISO 8601), at most `limit` — the newest of the range. */
  metrics: (instance, from, to, limit) => cloudCall('GET', `/v1/instances/${enc(instance)}/metrics?from=${enc(from)}&to=${enc(to)}&limit=${limit}`),
  backups: (instance) => cloudCall('GET', `/v1/instances/${enc(instance)}/backups`),
  restorePoints: (instance) => cloudCall('GET', `/v1/instances/${enc(instance)}/restore-points`),
  backupPolicy: (instance) => cloudCall('GET', `/v1/instances/${enc(instance)}/backup-policy`),
  /** A new instance from `instance`'s backups: body `{ name, backup? | time? | restorePoint? }` (none: the latest state). */
  restore: (instance, body) => cloudCall('POST', `/v1/instances/${enc(instance)}/restore`, body),
  replicas: (instance) => cloudCall('GET', `/v1/instances/${enc(instance)}/replicas`),
  alerts: (limit = 200) => cloudCall('GET', `/v1/alerts?limit=${limit}`),
  alertRules: () => cloudCall('GET', '/v1/alerts/rules'),
  audit: (limit = 200) => cloudCall('GET', `/v1/audit?limit=${limit}`),
  verifyAudit: () => cloudCall('POST', '/v1/audit/verify'),
};

/** The console's page of an instance (by ID or name). */
export function instanceHref(instance) {
  return `/instances/${encodeURIComponent(instance)}`;
}

/** The array of a list answer: the answer itself, or its `key` (or `items`) field. */
export function listOf(body, key) {
  if (Array.isArray(body)) return body;
  const value = body?.[key] ?? body?.items ?? body?.data;
  return Array.isArray(value) ? value : [];
}

/** The object of an answer: `{ key: {...} }` unwrapped, else the answer. */
export function itemOf(body, key) {
  const value = body?.[key];
  return value && typeof value === 'object' && !Array.isArray(value) ? value : body;
}

/**
 * Shows `children` once the console is connected to a control plane and an API key is entered;
 * before that, says how to connect it, or asks for the key.
 */
export function CloudGate({ children }) {
  const [configured, setConfigured] = useState(null);
  const [key, setKey] = useState(storedApiKey);
  const [error, setError] = useState(null);
  useEffect(() => {
    fetch('/api/cloud', { headers: { Accept: 'application/json' } })
      .then((response) => (response.ok ? response.json() : Promise.reject(new ApiError(response.status, `HTTP_${response.status}`, 'the console could not say whether it has a control plane'))))
      .then((data) => setConfigured(data.configured === true), setError);
    keyListeners.add(setKey);
    return () => keyListeners.delete(setKey);
  }, []);
  if (error) return html`<${ErrorBanner} error=${error} />`;
  if (configured === null) return html`<p class="muted">Loading…</p>`;
  if (!configured) {
    return html`<${Empty} testid="cloud-not-configured">This console is not connected to a control plane. Start it with <code>strata console --api-url http://127.0.0.1:7070</code> (or <code>startConsole({ cloud: { apiUrl } })</code>).</${Empty}>`;
  }
  if (!key) return html`<${ApiKeyForm} />`;
  return html`${children}
    <p class="muted key-note">Using the API key entered in this tab. <button class="link" data-testid="forget-api-key" onClick=${() => setApiKey(null)}>Forget it</button></p>`;
}

function ApiKeyForm() {
  const [value, setValue] = useState('');
  return html`
    <div class="login" data-testid="api-key-form">
      <p class="muted">The database service needs an API key. It is kept in this tab only (sessionStorage) and sent through the console to the control plane. <code>strata keys create</code> makes one.</p>
      <form class="login-form" onSubmit=${(event) => { event.preventDefault(); if (value.trim()) setApiKey(value.trim()); }}>
        <label><span>API key</span>
          <input type="password" autocomplete="off" value=${value} onInput=${(event) => setValue(event.currentTarget.value)} data-testid="api-key-input" />
        </label>
        <button type="submit" disabled=${!value.trim()} data-testid="api-key-submit">Use this key</button>
      </form>
    </div>`;
}

/** ACTIVE green, the passing states amber, STOPPED/DELETED/FENCED grey, ERROR/UNKNOWN red. */
const STATUS_CLASSES = {
  ACTIVE: 'status-success',
  BUILD: 'status-pending',
  RESIZE: 'status-pending',
  RESTART_REQUIRED: 'status-pending',
  RESTORING: 'status-pending',
  STOPPED: 'status-cancelled',
  DELETED: 'status-cancelled',
  FENCED: 'status-cancelled',
  ERROR: 'status-error',
  UNKNOWN: 'status-error',
};

export function InstanceStatus({ status, testid }) {
  return html`<span class=${`badge ${STATUS_CLASSES[status] ?? 'status-enqueued'}`} data-status=${status} data-testid=${testid}>${status}</span>`;
}
