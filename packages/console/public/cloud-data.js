// Reading the database service's API from a page section: loaded now, again on every change the
// console hears of and every few seconds; a slow answer for an older request never overwrites a newer one.
import { useEffect, useRef, useState } from 'preact/hooks';
import { useLiveRefresh } from './live.js';

/**
 * `{ data, error, notFound }` of `fetch()`, kept up to date; `deps` restart it (another instance).
 * A failed refresh keeps the last data and sets `error`.
 */
export function useCloudData(fetch, deps = []) {
  const [state, setState] = useState({ data: null, error: null, notFound: false });
  const generation = useRef(0);
  const load = () => {
    const mine = generation.current;
    return fetch().then(
      (data) => mine === generation.current && setState({ data, error: null, notFound: false }),
      (error) => mine === generation.current && setState((current) => ({ ...current, error, notFound: error.status === 404 })),
    );
  };
  useEffect(() => {
    generation.current += 1;
    setState({ data: null, error: null, notFound: false });
    load();
  }, deps);
  useLiveRefresh(load);
  return state;
}
