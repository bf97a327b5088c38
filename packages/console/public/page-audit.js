// The tenant's audit log: every state-changing API call (who, what, on what, the result), newest
// first, and whether its hash chain is intact — checked by the control plane on every visit.
import { useEffect, useState } from 'preact/hooks';
import { CloudGate, cloudApi, listOf } from './cloud-api.js';
import { Empty, ErrorBanner } from './components.js';
import { formatTime } from './format.js';
import { html } from './html.js';
import { useLiveRefresh } from './live.js';

export function AuditPage() {
  return html`<section class="page" data-testid="audit-page">
    <div class="page-head"><h1>Audit log</h1></div>
    <${CloudGate}><${AuditLog} /></${CloudGate}>
  </section>`;
}

function AuditLog() {
  const [rows, setRows] = useState(null);
  const [error, setError] = useState(null);
  const [verify, setVerify] = useState(null);
  const [verifying, setVerifying] = useState(false);

  const load = () => cloudApi.audit().then((body) => { setRows(listOf(body, 'entries')); setError(null); }, setError);
  const check = async () => {
    setVerifying(true);
    try {
      setVerify({ result: await cloudApi.verifyAudit(), error: null });
    } catch (failure) {
      setVerify({ result: null, error: failure });
    } finally {
      setVerifying(false);
    }
  };
  useEffect(() => {
    load();
    check();
  }, []);
  useLiveRefresh(load);

  return html`
    <${ErrorBanner} error=${error} />
    <div class="page-head">
      <${VerifyResult} verify=${verify} />
      <span class="spacer"></span>
      <button onClick=${() => { load(); check(); }} disabled=${verifying} data-testid="verify-audit">${verifying ? 'Checking…' : 'Check the chain again'}</button>
    </div>
    ${rows && (rows.length === 0
      ? html`<${Empty} testid="empty-audit">No audit rows yet: every state-changing API call adds one.</${Empty}>`
      : html`<div class="table-wrap"><table class="grid" data-testid="audit-table">
          <thead><tr><th>When</th><th>Key</th><th>Action</th><th>Target</th><th>Result</th><th>Request</th></tr></thead>
          <tbody>${rows.map((r, index) => html`<tr key=${r.id ?? r.seq ?? index} data-action=${r.action}>
            <td class="when">${formatTime(r.at ?? r.createdAt)}</td>
            <td class="mono">${r.keyId ?? '—'}</td>
            <td class="mono">${r.action}</td>
            <td class="mono">${r.target ?? '—'}</td>
            <td><span class=${`badge ${r.result === 'ok' ? 'status-success' : 'status-error'}`} data-testid="audit-result">${r.result ?? '—'}</span></td>
            <td class="mono muted">${r.requestId ?? '—'}</td>
          </tr>`)}</tbody>
        </table></div>`)}`;
}

function VerifyResult({ verify }) {
  if (verify === null) return html`<span class="muted" data-testid="audit-verify">Checking the hash chain…</span>`;
  if (verify.error) return html`<span class="badge status-error" data-testid="audit-verify" data-intact="unknown">Could not check the chain: ${verify.error.message}</span>`;
  const result = verify.result ?? {};
  const intact = result.ok === true;
  const checked = result.rowsChecked;
  const bad = result.firstBadRow;
  return intact
    ? html`<span class="badge status-success" data-testid="audit-verify" data-intact="true">Hash chain intact${checked !== undefined ? ` · ${checked} rows checked` : ''}</span>`
    : html`<span class="badge status-error" data-testid="audit-verify" data-intact="false">Hash chain BROKEN${bad ? ` at row ${bad.id} (${bad.fault})` : ''}: a row was changed, removed or inserted</span>`;
}
