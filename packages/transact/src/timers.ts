// Timers and abortable waits: delays longer than Node's timer limit, waits that end on an AbortSignal or a timeout.
import { WaitTimeoutError } from './errors.js';

/** Longest delay Node's setTimeout keeps (2^31 − 1 ms, about 24.8 days); a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      cancel();
      reject(signal.reason);
    };
    const cancel = setLongTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * `setTimeout` for any delay: Node fires a timer of more than 2^31 − 1 ms (24.8 days) at once,
 * so a longer one re-arms until it is due. Returns the function that cancels it. Unref'd when
 * `unref` is set.
 *
 * @example
 * const cancel = setLongTimeout(() => expire(id), 30 * 24 * 3_600_000);
 */
export function setLongTimeout(fn: () => void, ms: number, unref = false): () => void {
  const dueAt = Date.now() + ms;
  let timer: NodeJS.Timeout | undefined;
  const arm = (leftMs: number) => {
    timer = setTimeout(() => {
      if (leftMs > MAX_TIMER_MS) return arm(dueAt - Date.now());
      fn();
    }, Math.min(Math.max(0, leftMs), MAX_TIMER_MS));
    if (unref) timer.unref();
  };
  arm(ms);
  return () => clearTimeout(timer);
}

/** Races `promise` against the signal's abort. */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** Rejects with a {@link WaitTimeoutError} naming `what` unless `promise` settles within `timeoutMs` (Infinity: never). */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  if (!Number.isFinite(timeoutMs)) return promise;
  return new Promise<T>((resolve, reject) => {
    const cancel = setLongTimeout(() => reject(new WaitTimeoutError(what, timeoutMs)), timeoutMs);
    promise.then(
      (value) => {
        cancel();
        resolve(value);
      },
      (error) => {
        cancel();
        reject(error);
      },
    );
  });
}
