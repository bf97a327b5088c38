// The last lines of an instance's server log, read from the end of the file (bounded, however
// large the log has grown).

import { open } from 'node:fs/promises';

/** At most this many lines per call: a page for a person, a bounded answer for the API. */
export const MAX_LOG_TAIL_LINES = 10_000;
/** At most this much of the file's end is read (10,000 lines of ~100 bytes fit). */
const MAX_LOG_TAIL_BYTES = 1024 * 1024;

/** The last `lines` lines of `file` (fewer when the file is shorter); [] when it does not exist. */
export async function readTail(file: string, lines: number): Promise<string[]> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, MAX_LOG_TAIL_BYTES);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    const all = buffer.toString('utf8').split('\n');
    // Started mid-file: the first line is a fragment.
    if (length < size) all.shift();
    if (all.at(-1) === '') all.pop();
    return all.slice(-lines);
  } finally {
    await handle.close();
  }
}
