// The console's shell: navigation, the live indicator, and the page for the current path.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { Empty, Link } from './components.js';
import { html } from './html.js';
import { useLiveConnection } from './live.js';
import { LoginPage } from './login.js';
import { AuditPage } from './page-audit.js';
import { InstancePage, InstancesPage } from './page-instances.js';
import { ExecutorsPage, QueuesPage, SchedulesPage } from './pages-system.js';
import { useLocation } from './router.js';
import { UsagePage } from './page-usage.js';
import { WorkflowPage } from './page-workflow.js';
import { WorkflowsPage } from './page-workflows.js';

const SECTIONS = [
  { href: '/', label: 'Workflows', matches: (path) => path === '/' || path.startsWith('/workflows') },
  { href: '/queues', label: 'Queues', matches: (path) => path === '/queues' },
  { href: '/schedules', label: 'Schedules', matches: (path) => path === '/schedules' },
  { href: '/executors', label: 'Executors', matches: (path) => path === '/executors' },
  { href: '/instances', label: 'Instances', matches: (path) => path.startsWith('/instances') },
  { href: '/usage', label: 'Usage', matches: (path) => path === '/usage' },
  { href: '/audit', label: 'Audit', matches: (path) => path === '/audit' },
];

function page({ path, query }) {
  const workflow = /^\/workflows\/(.+)$/.exec(path);
  if (workflow) return html`<${WorkflowPage} workflowId=${decodeURIComponent(workflow[1])} />`;
  if (path === '/queues') return html`<${QueuesPage} />`;
  if (path === '/schedules') return html`<${SchedulesPage} />`;
  if (path === '/executors') return html`<${ExecutorsPage} />`;
  const instance = /^\/instances\/(.+)$/.exec(path);
  if (instance) return html`<${InstancePage} instance=${decodeURIComponent(instance[1])} />`;
  if (path === '/instances') return html`<${InstancesPage} />`;
  if (path === '/usage') return html`<${UsagePage} />`;
  if (path === '/audit') return html`<${AuditPage} />`;
  if (path === '/' || path === '/workflows') return html`<${WorkflowsPage} query=${query} />`;
  return html`<${NotFoundPage} path=${path} />`;
}

/** Any path the console has no page for (the server answers those with this page and a 404). */
function NotFoundPage({ path }) {
  return html`<section class="page" data-testid="not-found-page"><h1>Page not found</h1>
    <${Empty}>The console has no page at <code>${path}</code>. <${Link} href="/">All workflows</${Link}></${Empty}></section>`;
}

function App() {
  const location = useLocation();
  if (location.path === '/login') return html`<main><${LoginPage} /></main>`;
  return html`<${Shell} location=${location} />`;
}

function Shell({ location }) {
  const live = useLiveConnection();
  const [info, setInfo] = useState(null);
  useEffect(() => {
    api.info().then(setInfo, () => {});
  }, []);
  return html`
    <header class="top">
      <${Link} href="/" class="brand">Strata</${Link}>
      <nav>
        ${SECTIONS.map((section) => html`<${Link} href=${section.href} class=${section.matches(location.path) ? 'active' : ''}>${section.label}</${Link}>`)}
      </nav>
      <span class="spacer"></span>
      ${info && html`<span class="muted db" title="system database">${info.engine} · ${info.database}</span>`}
      <span class=${`live ${live ? 'on' : 'off'}`} data-testid="live" title=${live ? 'live updates from the database' : 'reconnecting; polling every 2 s'}>
        ${live ? 'live' : 'polling'}
      </span>
    </header>
    <main>${page(location)}</main>
  `;
}

render(html`<${App} />`, document.getElementById('app'));
