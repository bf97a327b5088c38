// "Something changed": pushed by the server over Server-Sent Events (/api/events) when Strata
// signals a change; polled every 2 s while that stream is down. Pages also re-read every
// SAFETY_REFRESH_MS, since a workflow started directly (not through a queue) signals nothing
// until it finishes.
import { useEffect, useRef, useState } from 'preact/hooks';

const POLL_INTERVAL_MS = 2_000;
const SAFETY_REFRESH_MS = 5_000;

const listeners = new Set();
const connectionListeners = new Set();
let connected = false;
let pollTimer;

function setConnected(value) {
  connected = value;
  clearInterval(pollTimer);
  if (!value) pollTimer = setInterval(notify, POLL_INTERVAL_MS);
  for (const listener of connectionListeners) listener(value);
}

function notify() {
  for (const listener of listeners) listener();
}

let events;

/** Opens the stream on first use, so a page that shows no data (the login page) opens none. */
function start() {
  if (events) return;
  events = new EventSource('/api/events');
  events.addEventListener('ready', () => setConnected(true));
  events.addEventListener('changed', notify);
  events.addEventListener('error', () => setConnected(false)); // EventSource reconnects by itself
  setConnected(false);
}

/** Calls `refresh` on every change (and every few seconds as a safety net) while mounted. */
export function useLiveRefresh(refresh) {
  const latest = useRef(refresh);
  latest.current = refresh;
  useEffect(() => {
    start();
    const run = () => latest.current();
    listeners.add(run);
    const timer = setInterval(run, SAFETY_REFRESH_MS);
    return () => {
      listeners.delete(run);
      clearInterval(timer);
    };
  }, []);
}

/** Whether the live stream is up (else the pages poll). */
export function useLiveConnection() {
  const [state, setState] = useState(connected);
  useEffect(() => {
    start();
    connectionListeners.add(setState);
    setState(connected);
    return () => connectionListeners.delete(setState);
  }, []);
  return state;
}
