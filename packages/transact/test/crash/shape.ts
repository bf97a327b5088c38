// The shape of the crash test's workflow, shared by the worker (which runs it) and the test
// (which checks what it left in the database).

/** Plain steps `s0..s5`, each followed by a transaction `t0..t5`. */
export const STEP_PAIRS = 6;
/** The durable sleep comes after this pair, so recovery has to cross it halfway through. */
export const SLEEP_AFTER_PAIR = 2;
/** The sleep's duration: short, but long enough for a kill to land inside it. */
export const SLEEP_MS = 20;

/** The checkpoints one finished workflow has, in step-number order. */
export function expectedSteps(): Array<{ name: string; kind: 'step' | 'transaction' | 'sleep' }> {
  const steps: Array<{ name: string; kind: 'step' | 'transaction' | 'sleep' }> = [];
  for (let i = 0; i < STEP_PAIRS; i++) {
    steps.push({ name: `s${i}`, kind: 'step' }, { name: `t${i}`, kind: 'transaction' });
    if (i === SLEEP_AFTER_PAIR) steps.push({ name: 'sleep', kind: 'sleep' });
  }
  return steps;
}
