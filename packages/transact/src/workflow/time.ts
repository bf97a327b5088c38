// Durable time and randomness: ctx.sleep (a recorded wake-up time), ctx.now, ctx.random and ctx.uuid (recorded values).
import { randomUUID } from 'node:crypto';
import { abortableDelay } from '../timers.js';
import { assertDuration } from '../validate.js';
import type { Recorder } from './recorder.js';

/** `ctx.sleep`: the wake-up time is recorded, so a recovered workflow sleeps only what is left. */
export async function sleep(rec: Recorder, durationMs: number): Promise<void> {
  assertDuration(durationMs, 'sleep durationMs');
  const wakeAtMs = await rec.durableTime('sleep', durationMs);
  if (rec.replaying) return; // replay: the recorded wake-up time is all that matters
  rec.progressed();
  await abortableDelay(wakeAtMs - Date.now(), rec.waitSignal);
}

export function now(rec: Recorder): Promise<number> {
  return rec.recordFresh('now', () => Date.now());
}

export function random(rec: Recorder): Promise<number> {
  return rec.recordFresh('random', () => Math.random());
}

export function uuid(rec: Recorder): Promise<string> {
  return rec.recordFresh('uuid', () => randomUUID());
}
