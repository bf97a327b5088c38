// One workflow: its status and values, the step timeline, and what can be done to it.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';
import { Empty, ErrorBanner, Link, StatusBadge, workflowHref } from './components.js';
import { formatDuration, formatTime, formatValue, workflowDurationMs } from './format.js';
import { html } from './html.js';
import { useLiveRefresh } from './live.js';
import { navigate } from './router.js';

/** Steps drawn at first; a workflow with more shows them on request (each row is a DOM subtree). */
const STEPS_SHOWN_INITIALLY = 500;
const UNFINISHED = ['PENDING', 'ENQUEUED'];
const FINISHED = ['SUCCESS', 'ERROR', 'CANCELLED'];

export function WorkflowPage({ workflowId }) {
  const [workflow, setWorkflow] = useState(null);
  const [steps, setSteps] = useState(null);
  const [events, setEvents] = useState([]);
  const [attempts, setAttempts] = useState([]);
  const [history, setHistory] = useState([]);
  const [error, setError] = useState(null);
  const [notFound, setNotFound] = useState(false);
  const [selected, setSelected] = useState(null);
  const [busy, setBusy] = useState(null);
  /** The action waiting for "Really …?" (cancel, delete): a second, in-page click confirms. */
  const [confirming, setConfirming] = useState(null);
  const current = useRef(workflowId);
  current.current = workflowId;

  const load = async () => {
    const id = workflowId;
    try {
      const [details, stepList, eventList, attemptList, actionList] = await Promise.all([
        api.getWorkflow(id), api.steps(id), api.events(id), api.attempts(id), api.actions(id),
      ]);
      if (current.current !== id) return;
      setWorkflow(details);
      setSteps(stepList.steps);
      setEvents(eventList.events);
      setAttempts(attemptList.attempts);
      setHistory(actionList.actions);
      setNotFound(false);
      setError(null);
    } catch (failure) {
      if (current.current !== id) return;
      if (failure.status === 404) setNotFound(true);
      else setError(failure);
    }
  };

  useEffect(() => {
    setWorkflow(null);
    setSteps(null);
    setEvents([]);
    setAttempts([]);
    setHistory([]);
    setSelected(null);
    setNotFound(false);
    setConfirming(null);
    load();
  }, [workflowId]);
  useLiveRefresh(() => {
    if (!notFound) load();
  });

  const act = async (name, action) => {
    setConfirming(null);
    setBusy(name);
    setError(null);
    try {
      const result = await action();
      if (result?.newWorkflowId) navigate(workflowHref(result.newWorkflowId));
      else if (!result?.left) await load();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(null);
    }
  };

  if (notFound) {
    return html`<section class="page"><h1>Workflow not found</h1>
      <${Empty}>No workflow with ID <code>${workflowId}</code> exists (it may have been deleted). <${Link} href="/">All workflows</${Link}></${Empty}></section>`;
  }
  if (!workflow) {
    return html`<section class="page"><h1 class="mono">${workflowId}</h1><${ErrorBanner} error=${error} /><p class="muted">Loading…</p></section>`;
  }

  const status = workflow.status;
  const actions = [
    UNFINISHED.includes(status) && {
      name: 'cancel', label: 'Cancel', confirm: { label: 'Really cancel', keep: 'Keep running', note: 'stops it at its next step; Resume continues it later' },
      run: () => api.cancel(workflowId),
    },
    (status === 'CANCELLED' || status === 'ERROR') && { name: 'resume', label: 'Resume', run: () => api.resume(workflowId) },
    { name: 'restart', label: 'Restart', title: 'Start a new workflow with the same inputs, from scratch', run: async () => ({ newWorkflowId: (await api.restart(workflowId)).workflowId }) },
    FINISHED.includes(status) && {
      name: 'delete', label: 'Delete', danger: true, confirm: { label: 'Really delete', keep: 'Keep', note: 'removes it and its steps for good' },
      run: async () => { await api.remove(workflowId); navigate('/'); return { left: true }; },
    },
  ].filter(Boolean);
  const pending = actions.find((action) => action.name === confirming);

  return html`
    <section class="page workflow" data-testid="workflow-page" data-workflow-id=${workflowId}>
      <div class="page-head">
        <h1 class="mono">${workflowId}</h1>
        <${StatusBadge} status=${status} testid="workflow-status" />
        <span class="spacer"></span>
        <div class="actions">
          ${pending
            ? html`<div class="confirm" role="alertdialog" aria-label=${`${pending.label} ${workflowId}?`} data-testid="confirm">
                <span>${pending.confirm.label} <code>${workflowId}</code>? <span class="muted">It ${pending.confirm.note}.</span></span>
                <button class="danger" data-testid=${`action-${pending.name}-confirm`} disabled=${busy !== null} onClick=${() => act(pending.name, pending.run)}>${pending.confirm.label}</button>
                <button class="link" data-testid=${`action-${pending.name}-keep`} onClick=${() => setConfirming(null)}>${pending.confirm.keep}</button>
              </div>`
            : actions.map((action) => html`
              <button key=${action.name} class=${action.danger ? 'danger-outline' : ''} disabled=${busy !== null}
                      onClick=${() => (action.confirm ? setConfirming(action.name) : act(action.name, action.run))}
                      title=${action.title ?? ''} data-testid=${`action-${action.name}`}>${busy === action.name ? '…' : action.label}</button>`)}
        </div>
      </div>
      <${ErrorBanner} error=${error} onDismiss=${() => setError(null)} />
      <${Summary} workflow=${workflow} />
      <${Values} workflow=${workflow} />
      <${Events} events=${events} />
      <${Retrying} steps=${steps ?? []} attempts=${attempts} />
      <${Timeline} workflow=${workflow} steps=${steps ?? []} selected=${selected} setSelected=${setSelected}
        busy=${busy} onFork=${(stepId) => act('fork', async () => ({ newWorkflowId: (await api.fork(workflowId, stepId)).workflowId }))} />
      <${OperatorActions} actions=${history} />
    </section>
  `;
}

function Summary({ workflow: w }) {
  const attributes = Object.entries(w.attributes ?? {});
  const fields = [
    ['Name', w.name],
    ['Queue', w.queueName ? html`<${Link} href=${`/?queue=${encodeURIComponent(w.queueName)}`}>${w.queueName}</${Link}>${w.priority ? ` (priority ${w.priority})` : ''}${w.partitionKey ? ` · partition ${w.partitionKey}` : ''}` : null],
    ['Executor', w.executorId],
    ['App version', w.appVersion],
    ['Created', formatTime(w.createdAt)],
    ['Started', w.startedAt ? formatTime(w.startedAt) : null],
    ['Completed', w.completedAt ? formatTime(w.completedAt) : null],
    ['Duration', w.status === 'ENQUEUED' ? 'queued' : formatDuration(workflowDurationMs(w))],
    ['Parent', w.parentWorkflowId ? html`<${Link} href=${workflowHref(w.parentWorkflowId)} class="mono">${w.parentWorkflowId}</${Link}>` : null],
    [
      w.forkedFrom && w.forkedFrom.step === 0 ? 'Restart of' : 'Forked from',
      w.forkedFrom
        ? html`<span data-testid="forked-from"><${Link} href=${workflowHref(w.forkedFrom.workflowId)} class="mono">${w.forkedFrom.workflowId}</${Link}>${w.forkedFrom.step > 0 ? ` at step ${w.forkedFrom.step}` : ''}</span>`
        : null,
    ],
    ['Deadline', w.deadlineAt ? formatTime(w.deadlineAt) : null],
    ['Recoveries', w.recoveryAttempts ? String(w.recoveryAttempts) : null],
    ['Deduplication key', w.deduplicationKey],
    ['Attributes', attributes.length ? attributes.map(([k, v]) => html`<span class="tag">${k}=${v}</span>`) : null],
  ].filter(([, value]) => value !== null && value !== undefined && value !== '');
  return html`<dl class="summary">${fields.map(([label, value]) => html`<div><dt>${label}</dt><dd>${value}</dd></div>`)}</dl>`;
}

function Values({ workflow: w }) {
  return html`
    <div class="values">
      <div><h3>Inputs</h3><pre data-testid="workflow-inputs">${formatValue(w.inputs)}</pre></div>
      ${w.status === 'SUCCESS' && html`<div><h3>Output</h3><pre data-testid="workflow-output">${formatValue(w.output)}</pre></div>`}
      ${w.error && html`<div><h3>${w.status === 'CANCELLED' ? 'Reason' : 'Error'}</h3><${ErrorView} error=${w.error} testid="workflow-error" /></div>`}
    </div>
  `;
}

/** The values the workflow published with setEvent, latest per key. */
function Events({ events }) {
  if (events.length === 0) return null;
  return html`
    <h2>Events <span class="muted">(${events.length})</span></h2>
    <div class="table-wrap">
      <table class="grid events" data-testid="events">
        <thead><tr><th>Key</th><th>Value</th><th>Set</th></tr></thead>
        <tbody>
          ${events.map((event) => html`
            <tr key=${event.key} data-event-key=${event.key}>
              <td class="mono">${event.key}</td>
              <td><pre data-testid="event-value">${formatValue(event.value)}</pre></td>
              <td class="when">${formatTime(event.updatedAt)}</td>
            </tr>`)}
        </tbody>
      </table>
    </div>`;
}

/** The failed attempts of a retried step: attempt number, when, and the error of each. */
function FailedAttempts({ attempts }) {
  if (!attempts || attempts.length === 0) return null;
  return html`
    <div class="failed-attempts" data-testid="failed-attempts">
      <h4>Failed attempts <span class="muted">(${attempts.length})</span></h4>
      <ol>
        ${attempts.map((a) => html`
          <li key=${a.attempt} data-testid="failed-attempt" data-attempt=${a.attempt}>
            <span class="muted">attempt ${a.attempt} · ${formatTime(a.failedAt)}</span>
            <pre class="error">${a.error.name}${a.error.code ? ` [${a.error.code}]` : ''}: ${a.error.message}</pre>
          </li>`)}
      </ol>
    </div>`;
}

/** Failed attempts of a step that has no outcome yet: it is still being retried (or was, when the workflow stopped). */
function Retrying({ steps, attempts }) {
  const recorded = new Set(steps.map((step) => step.stepId));
  const open = attempts.filter((a) => !recorded.has(a.stepId));
  if (open.length === 0) return null;
  const byStep = new Map();
  for (const a of open) byStep.set(a.stepId, [...(byStep.get(a.stepId) ?? []), a]);
  return html`
    <h2>Retrying</h2>
    ${[...byStep.entries()].map(([stepId, list]) => html`
      <div key=${stepId} class="retrying" data-testid="retrying-step" data-step-id=${stepId}>
        <p>Step ${stepId} <span class="step-name">${list[0].stepName}</span> <span class="muted">has no outcome yet</span></p>
        <${FailedAttempts} attempts=${list} />
      </div>`)}`;
}

/** What an action's detail says, as a short sentence (links to the workflows it names). */
function actionDetail(action) {
  const d = action.detail ?? {};
  const link = (id) => html`<${Link} href=${workflowHref(id)} class="mono">${id}</${Link}>`;
  switch (action.action) {
    case 'cancel':
      if (d.via) return html`cancelled with its ancestor ${link(d.via)}`;
      return d.cancelledDescendants ? `with ${d.cancelledDescendants} unfinished descendant${d.cancelledDescendants === 1 ? '' : 's'}` : '';
    case 'resume': {
      const parts = [html`from ${d.from ?? '?'} onto queue <code>${d.queue ?? '?'}</code>`];
      if (d.keptQueue === false) parts.push(html` (${d.note ?? 'it was never on a queue'})`);
      if (d.forgottenStep) {
        const e = d.forgottenStep.error ?? {};
        parts.push(html`; step ${d.forgottenStep.stepId} <span class="step-name">${d.forgottenStep.name}</span> runs again — its error was
          <pre class="error" data-testid="forgotten-error">${e.name ?? 'Error'}${e.code ? ` [${e.code}]` : ''}: ${e.message ?? ''}</pre>`);
      }
      if (d.forgottenAttempts?.length) parts.push(html`<${FailedAttempts} attempts=${d.forgottenAttempts} />`);
      return parts;
    }
    case 'restart':
    case 'fork': {
      const from = action.action === 'fork' && d.fromStep > 0 ? ` from step ${d.fromStep}` : '';
      if (d.newWorkflowId) return html`started ${link(d.newWorkflowId)}${from} on queue <code>${d.queue}</code>`;
      if (d.sourceWorkflowId) return html`copy of ${link(d.sourceWorkflowId)}${from}`;
      return '';
    }
    case 'delete':
      return d.status ? `was ${d.status}` : '';
    default:
      return html`<code>${JSON.stringify(d)}</code>`;
  }
}

/** Who cancelled, resumed, restarted, forked or deleted this workflow, and when. */
function OperatorActions({ actions }) {
  return html`
    <h2>Operator actions <span class="muted">(${actions.length})</span></h2>
    ${actions.length === 0
      ? html`<${Empty} testid="no-actions">No one has cancelled, resumed, restarted, forked or deleted this workflow. The buttons above do, and each is recorded here with who did it.</${Empty}>`
      : html`<div class="table-wrap">
          <table class="grid actions-log" data-testid="operator-actions">
            <thead><tr><th>When</th><th>Who</th><th>Action</th><th>Detail</th></tr></thead>
            <tbody>
              ${actions.map((a) => html`
                <tr key=${a.id} data-testid="operator-action" data-action=${a.action}>
                  <td class="when">${formatTime(a.at)}</td>
                  <td class="mono" data-testid="action-actor">${a.actor}</td>
                  <td data-testid="action-name">${a.action}</td>
                  <td class="action-detail">${actionDetail(a)}</td>
                </tr>`)}
            </tbody>
          </table>
        </div>`}`;
}

/**
 * When a step's time ended. A durable sleep is recorded when it begins, with its wake-up time as
 * output, so its bar runs to that time (or to now, while it still sleeps).
 */
function stepEndMs(step) {
  const completedMs = new Date(step.completedAt).getTime();
  if (step.kind === 'sleep' && typeof step.output === 'number') return Math.max(completedMs, Math.min(step.output, Date.now()));
  return completedMs;
}

function forkExplanation(stepId) {
  if (stepId === 0) return 'runs every step again';
  const reused = stepId === 1 ? 'step 0' : `steps 0–${stepId - 1}`;
  return `reuses ${reused}, runs step ${stepId} onward again`;
}

function formatStepOutput(step) {
  if (step.kind === 'sleep' && typeof step.output === 'number') return `wakes up at ${formatTime(new Date(step.output).toISOString())}`;
  return formatValue(step.output);
}

/** An error's name, code and message; its stack folded away (a cancellation's stack is the canceller's). */
function ErrorView({ error, testid }) {
  const stack = error.stack ? error.stack.split('\n').slice(1).join('\n').trim() : '';
  return html`
    <div class="error-view">
      <pre class="error" data-testid=${testid}>${error.name}${error.code ? ` [${error.code}]` : ''}: ${error.message}</pre>
      ${stack && html`<details><summary class="muted">stack</summary><pre class="error stack">${stack}</pre></details>`}
    </div>`;
}

/** Steps as bars on the workflow's time axis: where each began and how long it took. */
function Timeline({ workflow, steps, selected, setSelected, busy, onFork }) {
  const [showAll, setShowAll] = useState(false);
  if (steps.length === 0) {
    return html`<h2>Steps</h2><${Empty}>No step has been recorded yet.</${Empty}>`;
  }
  // A fork's copied steps (below workflow.forkedFrom.step) keep the times of the run that recorded
  // them: they are marked "reused" and left off the time axis, which spans this workflow's own run.
  const reusedBelow = workflow.forkedFrom ? workflow.forkedFrom.step : 0;
  const isReused = (step) => step.stepId < reusedBelow;
  // Loops, not Math.min(...array): a workflow may have more steps than a call has arguments.
  let startMs = new Date(workflow.startedAt ?? workflow.createdAt).getTime();
  let endMs = workflow.completedAt ? new Date(workflow.completedAt).getTime() : 0;
  for (const step of steps) {
    if (isReused(step)) continue;
    startMs = Math.min(startMs, new Date(step.startedAt).getTime());
    endMs = Math.max(endMs, stepEndMs(step));
  }
  const spanMs = Math.max(endMs - startMs, 1);
  const shown = showAll ? steps : steps.slice(0, STEPS_SHOWN_INITIALLY);
  return html`
    <div class="timeline-head">
      <h2>Steps <span class="muted">(${steps.length})</span></h2>
      <span class="muted">Select a step to see its output, or to fork the workflow from it.</span>
    </div>
    <div class="timeline" data-testid="timeline" role="list">
      <div class="timeline-row header"><span>#</span><span>Step</span><span class="kind">Kind</span><span class="num">Tries</span><span class="num">Duration</span><span class="track-head">0 – ${formatDuration(spanMs)}</span></div>
      ${shown.map((step) => {
        const stepStartMs = new Date(step.startedAt).getTime();
        const durationMs = stepEndMs(step) - stepStartMs;
        const left = ((stepStartMs - startMs) / spanMs) * 100;
        const width = Math.max((durationMs / spanMs) * 100, 0.4);
        const isSelected = selected === step.stepId;
        const reused = isReused(step);
        return html`
          <div key=${step.stepId} role="listitem" class=${`timeline-row${isSelected ? ' selected' : ''}${step.error ? ' failed' : ''}${reused ? ' reused' : ''}`}
               data-testid="step" data-step-id=${step.stepId}>
            <button class="row-button" onClick=${() => setSelected(isSelected ? null : step.stepId)} aria-expanded=${isSelected}>
              <span class="muted">${step.stepId}</span>
              <span class="step-name">${step.name}</span>
              <span class="kind">${step.kind}</span>
              <span class=${`num${step.attempts > 1 ? ' retried' : ''}`} title=${step.attempts > 1 ? `${step.attempts - 1} retr${step.attempts === 2 ? 'y' : 'ies'}` : ''}>${step.attempts}</span>
              <span class="num">${formatDuration(durationMs)}</span>
              ${reused
                ? html`<span class="track reused-note" title=${`recorded ${formatTime(step.completedAt)}, before this workflow was created`}>reused from an earlier run</span>`
                : html`<span class="track"><span class=${`bar kind-${step.kind}`} style=${{ left: `${Math.min(left, 99.6)}%`, width: `${Math.min(width, 100 - Math.min(left, 99.6))}%` }}></span></span>`}
            </button>
            ${isSelected && html`
              <div class="step-detail" data-testid="step-detail">
                <div class="step-meta muted">
                  started ${formatTime(step.startedAt)} · completed ${formatTime(step.completedAt)}
                  ${step.childWorkflowId && html` · child <${Link} href=${workflowHref(step.childWorkflowId)} class="mono">${step.childWorkflowId}</${Link}>`}
                </div>
                ${step.error
                  ? html`<${ErrorView} error=${step.error} testid="step-error" />`
                  : html`<pre data-testid="step-output">${formatStepOutput(step)}</pre>`}
                <${FailedAttempts} attempts=${step.failedAttempts} />
                <div class="step-actions">
                  <button onClick=${() => onFork(step.stepId)} disabled=${busy !== null} data-testid="fork-here"
                          title=${`Start a new workflow that ${forkExplanation(step.stepId)}`}>
                    ${busy === 'fork' ? 'Forking…' : 'Fork from here'}
                  </button>
                  <span class="muted">${forkExplanation(step.stepId)}</span>
                </div>
              </div>`}
          </div>`;
      })}
    </div>
    ${steps.length > shown.length && html`<div class="more"><button onClick=${() => setShowAll(true)}>Show all ${steps.length} steps</button></div>`}
  `;
}
