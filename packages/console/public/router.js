// Client-side routing over the History API: the server answers every page path with index.html.
import { useEffect, useState } from 'preact/hooks';

const listeners = new Set();

/** Goes to `path` (with its query) without reloading. */
export function navigate(path, { replace = false } = {}) {
  if (path === location.pathname + location.search) return;
  history[replace ? 'replaceState' : 'pushState'](null, '', path);
  for (const listener of listeners) listener();
}

addEventListener('popstate', () => {
  for (const listener of listeners) listener();
});

/** The current `{ path, query }`, re-rendering on navigation. */
export function useLocation() {
  const read = () => ({ path: location.pathname, query: new URLSearchParams(location.search) });
  const [current, setCurrent] = useState(read);
  useEffect(() => {
    const update = () => setCurrent(read());
    listeners.add(update);
    return () => listeners.delete(update);
  }, []);
  return current;
}

/** onClick for in-app links: plain clicks navigate in place; modified clicks open tabs as usual. */
export function followLink(event) {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const href = event.currentTarget.getAttribute('href');
  if (!href || !href.startsWith('/')) return;
  event.preventDefault();
  navigate(href);
}
