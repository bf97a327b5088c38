// Small pieces shared by the pages.
import { html } from './html.js';
import { followLink } from './router.js';

export function Link({ href, children, ...rest }) {
  return html`<a href=${href} onClick=${followLink} ...${rest}>${children}</a>`;
}

export function StatusBadge({ status, testid }) {
  return html`<span class="badge status-${String(status).toLowerCase()}" data-status=${status} data-testid=${testid}>${status}</span>`;
}

export function ErrorBanner({ error, onDismiss }) {
  if (!error) return null;
  return html`<div class="error-banner" role="alert" data-testid="error-banner">
    <strong>${error.code ?? 'Error'}</strong> ${error.message}
    ${onDismiss && html`<button class="link" onClick=${onDismiss} aria-label="Dismiss">×</button>`}
  </div>`;
}

export function workflowHref(workflowId) {
  return `/workflows/${encodeURIComponent(workflowId)}`;
}

export function Empty({ children, testid }) {
  return html`<div class="empty" data-testid=${testid ?? 'empty'}>${children}</div>`;
}
