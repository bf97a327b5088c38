// The browsable API reference at /v1/docs: the OpenAPI document rendered to one self-contained
// HTML page on the server (no script, no CDN), so it works offline and under a strict CSP.

/** The Content-Security-Policy of the docs page: its own inline styles, nothing else. */
export const DOCS_CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

type Json = Record<string, unknown>;

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

/**
 * The HTML of the docs page for an OpenAPI 3.1 document: every operation grouped by tag, with its
 * parameters, request body schema and responses.
 *
 * @example
 * const html = renderDocsPage(app.getOpenAPI31Document({ openapi: '3.1.0', info: { title: 'API', version: '1' } }));
 */
export function renderDocsPage(document: Json): string {
  const info = (document.info ?? {}) as Json;
  const paths = (document.paths ?? {}) as Record<string, Json>;
  const components = (document.components ?? {}) as Json;
  const byTag = new Map<string, string[]>();
  const toc: string[] = [];
  for (const [path, item] of Object.entries(paths)) {
    for (const method of METHODS) {
      const operation = item[method] as Json | undefined;
      if (operation === undefined) continue;
      const tag = ((operation.tags as string[] | undefined) ?? ['other'])[0] ?? 'other';
      const anchor = `${method}-${path}`.replace(/[^a-zA-Z0-9]+/g, '-');
      toc.push(`<li><a href="#${anchor}"><code class="m ${method}">${method.toUpperCase()}</code> ${escapeHtml(path)}</a></li>`);
      const list = byTag.get(tag) ?? [];
      list.push(renderOperation(anchor, method, path, operation));
      byTag.set(tag, list);
    }
  }
  const sections = [...byTag].map(([tag, operations]) => `<section><h2>${escapeHtml(tag)}</h2>${operations.join('')}</section>`).join('');
  const schemas = Object.entries((components.schemas ?? {}) as Json)
    .map(([name, schema]) => `<h3 id="schema-${escapeHtml(name)}">${escapeHtml(name)}</h3>${pre(schema)}`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(String(info.title ?? 'API'))} — reference</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:1000px;padding:1rem 2rem;color:#1b1f24}
code,pre{font:13px/1.4 ui-monospace,monospace}pre{background:#f4f5f7;padding:.6rem;overflow:auto;border-radius:4px}
.op{border:1px solid #d7dbe0;border-radius:6px;padding:.4rem 1rem;margin:1rem 0}.m{font-weight:bold;padding:0 .3rem;border-radius:3px;color:#fff}
.get{background:#2f6fbd}.post{background:#2b8a3e}.put,.patch{background:#b7791f}.delete{background:#c92a2a}
table{border-collapse:collapse}td,th{border-bottom:1px solid #e3e6ea;padding:.2rem .6rem;text-align:left;vertical-align:top}
</style></head><body>
<h1>${escapeHtml(String(info.title ?? 'API'))} <small>${escapeHtml(String(info.version ?? ''))}</small></h1>
<p>${escapeHtml(String(info.description ?? ''))}</p>
<p>Machine-readable: <a href="/v1/openapi.json">/v1/openapi.json</a> (OpenAPI ${escapeHtml(String(document.openapi ?? ''))}). Every route but this page and the document needs <code>Authorization: Bearer sk_…</code>.</p>
<h2>Operations</h2><ul>${toc.join('')}</ul>
${sections}
<section><h2>Schemas</h2>${schemas}</section>
</body></html>`;
}

function renderOperation(anchor: string, method: string, path: string, operation: Json): string {
  const parameters = (operation.parameters ?? []) as Json[];
  const parameterRows = parameters
    .map((p) => `<tr><td><code>${escapeHtml(String(p.name))}</code></td><td>${escapeHtml(String(p.in))}</td><td>${p.required === true ? 'required' : ''}</td><td><code>${escapeHtml(JSON.stringify(p.schema ?? {}))}</code></td><td>${escapeHtml(String(p.description ?? ''))}</td></tr>`)
    .join('');
  const body = ((operation.requestBody as Json | undefined)?.content as Json | undefined)?.['application/json'] as Json | undefined;
  const responses = Object.entries((operation.responses ?? {}) as Record<string, Json>)
    .map(([status, response]) => `<tr><td>${escapeHtml(status)}</td><td>${escapeHtml(String(response.description ?? ''))}</td></tr>`)
    .join('');
  return `<div class="op" id="${anchor}">
<h3><code class="m ${method}">${method.toUpperCase()}</code> <code>${escapeHtml(path)}</code></h3>
<p>${escapeHtml(String(operation.summary ?? ''))}</p>${operation.description === undefined ? '' : `<p>${escapeHtml(String(operation.description))}</p>`}
${parameterRows === '' ? '' : `<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th></th><th>schema</th><th></th></tr>${parameterRows}</table>`}
${body === undefined ? '' : `<h4>Request body (JSON)</h4>${pre(body.schema)}`}
<h4>Responses</h4><table>${responses}</table></div>`;
}

function pre(value: unknown): string {
  return `<pre>${escapeHtml(JSON.stringify(value, null, 2))}</pre>`;
}

/** Text made safe for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] ?? ch);
}
