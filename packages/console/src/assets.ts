// The web UI is plain ES modules: the console's own files from public/, and Preact, htm and uPlot
// straight from node_modules, mapped to bare names by the import map in index.html. No build
// step: what is in the repository is what the browser runs.

import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One file the console serves, held in memory (the whole UI is a few hundred KiB). */
export interface Asset {
  readonly body: Uint8Array;
  readonly contentType: string;
  /** Strong validator for `If-None-Match`: the content's hash. */
  readonly etag: string;
}

/** The console's own files, served under `/assets/`. */
const PUBLIC_DIR = new URL('../public/', import.meta.url);

/**
 * Third-party files, served under `/vendor/` under the names index.html uses (its import map and
 * stylesheet links). uPlot's package has no `exports`, so its ES module and CSS are named by path.
 */
const VENDOR_MODULES: Readonly<Record<string, string>> = {
  'preact.mjs': 'preact',
  'preact-hooks.mjs': 'preact/hooks',
  'htm.mjs': 'htm',
  'uplot.mjs': 'uplot/dist/uPlot.esm.js',
  'uplot.css': 'uplot/dist/uPlot.min.css',
};

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Where index.html wants the `<link rel="modulepreload">` of every module. */
const PRELOAD_MARKER = /^[ \t]*<!-- modulepreload:[^>]*-->$/m;

/** Everything the UI needs, by URL path: `/` (index.html), `/assets/<file>`, `/vendor/<module>`. */
export async function loadAssets(): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  let indexHtml: string | undefined;
  for (const entry of await readdir(PUBLIC_DIR, { withFileTypes: true })) {
    if (!entry.isFile() || CONTENT_TYPES[extname(entry.name)] === undefined) continue;
    const body = await readFile(new URL(entry.name, PUBLIC_DIR));
    if (entry.name === 'index.html') indexHtml = body.toString('utf8');
    else assets.set(`/assets/${entry.name}`, toAsset(body, entry.name));
  }
  for (const [file, specifier] of Object.entries(VENDOR_MODULES)) {
    // Resolved as Node resolves an import, so the "import" condition of each package's exports picks its ES module.
    const path = fileURLToPath(import.meta.resolve(specifier));
    assets.set(`/vendor/${file}`, toAsset(await readFile(path), file));
  }
  if (indexHtml === undefined) throw new Error(`the console's index.html is missing from ${fileURLToPath(PUBLIC_DIR)}`);
  // Without these, the browser discovers the modules one import level at a time.
  const modules = [...assets.keys()].filter((path) => /\.m?js$/.test(path));
  const preloads = modules.map((path) => `  <link rel="modulepreload" href="${path}">`).join('\n');
  assets.set('/', toAsset(Buffer.from(indexHtml.replace(PRELOAD_MARKER, preloads), 'utf8'), 'index.html'));
  return assets;
}

function toAsset(body: Uint8Array, name: string): Asset {
  return {
    body,
    contentType: CONTENT_TYPES[extname(name)]!,
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
  };
}
