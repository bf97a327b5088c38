// The shape of the crash test's workflow, shared by the worker (which runs it) and the test
// (which checks what it left in the database).

/**
 * Plain steps `s0..s5`, each followed by a transaction `t0..t5` and a message exchange with the
 * partner workflow (wf-0 with wf-1, wf-2 with wf-3, …): an even one sends, then receives the
 * reply; an odd one receives, then replies (its reply records its recv in the same commit).
 */
export const STEP_PAIRS = 6;
/** The topic of the exchanged messages. */
export const MESSAGE_TOPIC = 'x';

/** The partner of workflow `wf-<index>` in the message exchange. */
export function partnerOf(index: number): number {
  return index % 2 === 0 ? index + 1 : index - 1;
}

/** The message `wf-<from>` sends after pair `pair`. */
export function exchangedMessage(from: number, pair: number): { from: string; pair: number } {
  return { from: `wf-${from}`, pair };
}
/** The durable sleep comes after this pair, so recovery has to cross it halfway through. */
export const SLEEP_AFTER_PAIR = 2;
/** The sleep's duration: short, but long enough for a kill to land inside it. */
export const SLEEP_MS = 20;

/** The checkpoints finished workflow `wf-<index>` has, in step-number order. */
export function expectedSteps(index: number): Array<{ name: string; kind: 'step' | 'transaction' | 'sleep' | 'send' | 'recv' }> {
  const steps: Array<{ name: string; kind: 'step' | 'transaction' | 'sleep' | 'send' | 'recv' }> = [];
  const send = { name: MESSAGE_TOPIC, kind: 'send' } as const;
  const recv = { name: MESSAGE_TOPIC, kind: 'recv' } as const;
  for (let i = 0; i < STEP_PAIRS; i++) {
    steps.push({ name: `s${i}`, kind: 'step' }, { name: `t${i}`, kind: 'transaction' });
    steps.push(...(index % 2 === 0 ? [send, recv] : [recv, send]));
    if (i === SLEEP_AFTER_PAIR) steps.push({ name: 'sleep', kind: 'sleep' });
  }
  return steps;
}
