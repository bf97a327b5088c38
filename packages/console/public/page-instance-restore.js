// "Restore to a point in time": a new instance from this one's backups and archived WAL, as of its
// latest state, the end of a chosen backup, a moment, or a restore point. The control plane checks
// the target (a moment must be inside the restore window); its typed error is shown as it is.
import { useState } from 'preact/hooks';
import { InstanceStatus, cloudApi, instanceHref, itemOf } from './cloud-api.js';
import { useCloudData } from './cloud-data.js';
import { ErrorBanner, Link } from './components.js';
import { formatTime, isoSeconds } from './format.js';
import { html } from './html.js';

const TARGETS = [
  { id: 'latest', label: 'Its latest state' },
  { id: 'time', label: 'A moment (point in time)' },
  { id: 'backup', label: 'The end of a backup' },
  { id: 'restorePoint', label: 'A restore point' },
];

/** The request body for the chosen target (none given: the latest archived state). */
function restoreBody({ name, target, time, backup, restorePoint }) {
  const body = { name: name.trim() };
  if (target === 'time') body.time = time.trim();
  if (target === 'backup') body.backup = backup;
  if (target === 'restorePoint') body.restorePoint = restorePoint;
  return body;
}

export function RestoreForm({ instance, backups, restorePoints, restorableFrom }) {
  const completed = backups.filter((b) => b.status === 'COMPLETED');
  const created = restorePoints.filter((p) => p.status === 'CREATED');
  const [form, setForm] = useState({ name: '', target: 'latest', time: '', backup: '', restorePoint: '' });
  const [submitting, setSubmitting] = useState(false);
  const [error, setError] = useState(null);
  const [restored, setRestored] = useState(null);
  const set = (field) => (event) => setForm({ ...form, [field]: event.currentTarget.value });
  // A choice made before the lists loaded (or one that went away) falls back to the newest.
  const backup = completed.some((b) => b.id === form.backup) ? form.backup : (completed[0]?.id ?? '');
  const restorePoint = created.some((p) => p.name === form.restorePoint) ? form.restorePoint : (created[0]?.name ?? '');
  const ready = form.name.trim() !== '' && !submitting
    && (form.target !== 'time' || form.time.trim() !== '')
    && (form.target !== 'backup' || backup !== '')
    && (form.target !== 'restorePoint' || restorePoint !== '');

  const chooseTarget = (event) => {
    const target = event.currentTarget.value;
    // A moment starts as now (UTC, to the second): the newest a restore can reach.
    setForm({ ...form, target, time: target === 'time' && form.time === '' ? isoSeconds(new Date()) : form.time });
  };
  const submit = async (event) => {
    event.preventDefault();
    setSubmitting(true);
    setError(null);
    try {
      setRestored(itemOf(await cloudApi.restore(instance.id, restoreBody({ ...form, backup, restorePoint })), 'instance'));
    } catch (failure) {
      setError(failure);
    } finally {
      setSubmitting(false);
    }
  };

  return html`
    <h3 class="subhead" id="restore">Restore to a point in time</h3>
    <form class="restore-form" data-testid="restore-form" onSubmit=${submit}>
      <p class="muted">Restores into a <strong>new</strong> instance; ${instance.name} is left as it is.</p>
      <div class="fields">
        <label><span>Restore to</span>
          <select value=${form.target} onChange=${chooseTarget} data-testid="restore-target">
            ${TARGETS.map((t) => html`<option value=${t.id}>${t.label}</option>`)}
          </select>
        </label>
        ${form.target === 'time' && html`<label><span>Moment (ISO 8601 with a zone)</span>
          <input type="text" value=${form.time} onInput=${set('time')} placeholder="2026-12-06T10:15:00Z" spellcheck="false" data-testid="restore-time" />
        </label>`}
        ${form.target === 'backup' && html`<label><span>Backup</span>
          ${completed.length === 0
            ? html`<span class="muted">No completed backup yet.</span>`
            : html`<select value=${backup} onChange=${set('backup')} data-testid="restore-backup">
                ${completed.map((b) => html`<option value=${b.id}>${formatTime(b.stoppedAt)} · ${b.type} · ${b.id}</option>`)}
              </select>`}
        </label>`}
        ${form.target === 'restorePoint' && html`<label><span>Restore point</span>
          ${created.length === 0
            ? html`<span class="muted">No restore point yet.</span>`
            : html`<select value=${restorePoint} onChange=${set('restorePoint')} data-testid="restore-point">
                ${created.map((p) => html`<option value=${p.name}>${p.name} · ${formatTime(p.madeAt)}</option>`)}
              </select>`}
        </label>`}
        <label><span>New instance name</span>
          <input type="text" value=${form.name} onInput=${set('name')} placeholder=${`${instance.name}-restored`} autocomplete="off" spellcheck="false" data-testid="restore-name" />
        </label>
        <button type="submit" disabled=${!ready} data-testid="restore-submit">${submitting ? 'Restoring…' : 'Restore'}</button>
      </div>
      ${form.target === 'time' && html`<p class="muted hint">${restorableFrom
        ? html`Any moment from <code>${restorableFrom}</code> until now; every transaction committed at or before it comes back.`
        : 'No completed backup yet, so no moment can be restored.'}</p>`}
      <${ErrorBanner} error=${error} />
      ${restored && html`<${RestoredInstance} key=${restored.id} created=${restored} />`}
    </form>`;
}

/** The new instance, its status followed live until it is ACTIVE (or failed). */
function RestoredInstance({ created }) {
  const { data } = useCloudData(async () => itemOf(await cloudApi.instance(created.id), 'instance'), [created.id]);
  const shown = data ?? created;
  return html`<p class="restored" data-testid="restore-result" data-instance-id=${created.id}>
    ${shown.status === 'ACTIVE' ? 'Restored into' : 'Restoring into'} <${Link} href=${instanceHref(created.id)} data-testid="restored-instance">${created.name}</${Link}>
    ${' '}<${InstanceStatus} status=${shown.status} testid="restored-status" />
    ${shown.currentOperation ? html` <span class="muted">(${shown.currentOperation.kind} running)</span>` : null}
  </p>`;
}
