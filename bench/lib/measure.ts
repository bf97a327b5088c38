// Timing helpers shared by every system, so each measures the same way.

/** The p-th percentile of ascending `sorted` (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new Error('percentile of no samples');
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** p50 and p99 of `samples` (any order) under `prefix.p50` / `prefix.p99`. */
export function p50p99(prefix: string, samples: readonly number[]): Record<string, number> {
  const sorted = [...samples].sort((a, b) => a - b);
  return { [`${prefix}.p50`]: percentile(sorted, 50), [`${prefix}.p99`]: percentile(sorted, 99) };
}

/** Runs `fn(0…count−1)` one after another; returns each call's duration in ms. */
export async function timeEach(count: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await fn(i);
    samples.push(performance.now() - start);
  }
  return samples;
}

/**
 * Runs `fn(0…count−1)` with `width` calls in flight (a new one starts as soon as one ends);
 * returns the wall time in ms and each call's duration.
 */
export async function inFlight(count: number, width: number, fn: (i: number) => Promise<unknown>): Promise<{ wallMs: number; samples: number[] }> {
  let next = 0;
  const samples: number[] = [];
  const start = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(width, count) }, async () => {
      while (next < count) {
        const i = next++;
        const t0 = performance.now();
        await fn(i);
        samples.push(performance.now() - t0);
      }
    }),
  );
  return { wallMs: performance.now() - start, samples };
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Polls `count()` every `intervalMs` until it returns at least `target`; returns when it did.
 * Throws after `timeoutMs` with what it last saw.
 */
export async function waitForCount(count: () => Promise<number>, target: number, what: string, timeoutMs = 600_000, intervalMs = 5): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen = 0;
  while ((seen = await count()) < target) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${seen} of ${target}`);
    await sleep(intervalMs);
  }
}

/**
 * The pause between two idle-queue latency samples: 5 ms, so the queue is idle again, plus a
 * random part up to one second. A polled queue (DBOS polls about once a second) would otherwise
 * lock onto the sampling loop and see every enqueue at the same point of its cycle; the random
 * part spreads the enqueues over it, as an application's arrive. Both systems use it.
 */
export function idleGap(): Promise<void> {
  return sleep(5 + Math.random() * 1000);
}

/**
 * recovery-park's end, the same for every system: once every workflow is parked, checks the
 * sleeps have not ended yet, tells the orchestrator (PARKED line) and waits to be SIGKILLed.
 */
export async function reportParkedAndWait(wakeAt: number, parkedPrefix: string): Promise<never> {
  if (Date.now() >= wakeAt) throw new Error('parking took longer than the sleep: raise --park-budget-ms');
  process.stdout.write(`${parkedPrefix}${JSON.stringify({ parkedAt: Date.now(), wakeAt })}\n`);
  return new Promise<never>(() => {}); // killed here by the orchestrator
}

/**
 * recovery-resume's measurement, the same for every system: times `launch()` and then until
 * `succeeded()` (counted on a connection of the system's own, so polling never queues behind its
 * pool) reaches `count`, from just before the launch.
 */
export async function timeRecovery(launch: () => Promise<unknown>, succeeded: () => Promise<number>, count: number): Promise<Record<string, number>> {
  const t0 = performance.now();
  await launch();
  const launchMs = performance.now() - t0;
  await waitForCount(succeeded, count, 'recovered sleepers');
  return { 'recovery.launch.ms': launchMs, 'recovery.ms': performance.now() - t0 };
}

/**
 * What a child's workflows record from inside, the same for every system: one per child
 * process, filled by the workflow bodies and read by the workload.
 */
export class InWorkflowTimers {
  /** Per-step durations, timed inside the workflow around each step call. */
  readonly steps: number[] = [];
  /** Per-transaction durations, timed inside the workflow around the call. */
  readonly transactions: number[] = [];
  /** Round trips timed inside the ping workflow. */
  readonly roundTrips: number[] = [];
  /** Resolvers of "workflow <id> ran its first line", for the idle-queue latency. */
  readonly started = new Map<string, (at: number) => void>();
  /** Resolvers of "workflow <id> ran its last line", so the next sample finds the queue idle. */
  readonly ended = new Map<string, () => void>();
  /** Whether the timers record (not during the warm-up). */
  recording = false;
}
