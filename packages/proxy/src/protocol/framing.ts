// Splitting a byte stream of typed protocol messages (type byte, int32 length counting itself,
// payload): MessageReader yields whole messages (zero-copy when a message lies inside one chunk);
// MessageScanner only follows the headers of a stream that is forwarded as it came, so a
// spliced session costs a few comparisons per message and no copies.

import { ProxyError } from '../errors.js';

/** One whole message: its type and the bytes of the whole message, header included. */
export interface Frame {
  readonly type: number;
  /** Type byte, length and payload, as received. */
  readonly bytes: Buffer;
}

/** The payload of a frame (after its 5-byte header). */
export function payloadOf(frame: Frame): Buffer {
  return frame.bytes.subarray(5);
}

/**
 * Buffers a stream of messages and yields each whole one. A length below 4 or above
 * `maxMessageBytes` is a protocol violation: the stream cannot be followed past it.
 *
 * @example
 * ```ts
 * const reader = new MessageReader(64 << 20);
 * socket.on('data', (chunk) => { for (const frame of reader.push(chunk)) handle(frame); });
 * ```
 */
export class MessageReader {
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(private readonly maxMessageBytes: number) {}

  /** Bytes received but not yet part of a whole message. */
  get buffered(): number {
    return this.#pendingBytes;
  }

  /**
   * Takes the bytes of the message still arriving (for the next reader of the stream to start
   * with); the reader is empty after.
   *
   * @example
   * ```ts
   * const reader = new MessageReader(8192);
   * reader.push(Buffer.from([0x51, 0, 0, 0, 9, 0x73])); // [] — a Query cut short
   * reader.takeBuffered();                             // <51 00 00 00 09 73>
   * ```
   */
  takeBuffered(): Buffer {
    const out = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    return out;
  }

  /** Adds a chunk and returns the messages it completed, in order. @throws {ProxyError} on a bad length. */
  push(chunk: Buffer): Frame[] {
    let data = chunk;
    if (this.#pendingBytes > 0) {
      this.#pending.push(chunk);
      data = Buffer.concat(this.#pending, this.#pendingBytes + chunk.length);
      this.#pending = [];
      this.#pendingBytes = 0;
    }
    const frames: Frame[] = [];
    let offset = 0;
    while (data.length - offset >= 5) {
      const length = data.readInt32BE(offset + 1);
      if (length < 4 || length > this.maxMessageBytes) {
        throw new ProxyError('STRATA_PROXY_PROTOCOL', '08P01', `invalid message length ${length} for message type ${JSON.stringify(String.fromCharCode(data[offset]!))} (at most ${this.maxMessageBytes} bytes are accepted)`);
      }
      if (data.length - offset < length + 1) break;
      frames.push({ type: data[offset]!, bytes: data.subarray(offset, offset + length + 1) });
      offset += length + 1;
    }
    if (offset < data.length) {
      // Copy the tail: the caller may reuse or keep the chunk's memory.
      const rest = Buffer.from(data.subarray(offset));
      this.#pending.push(rest);
      this.#pendingBytes = rest.length;
    }
    return frames;
  }
}

/**
 * Follows message boundaries of a forwarded stream without buffering it. `onMessage(type, head, at)`
 * is called once per message with up to `peekBytes` of its payload (enough to read
 * ReadyForQuery's status), when those bytes have arrived; `at` is the offset in the current
 * chunk just after them.
 *
 * @example
 * ```ts
 * const scanner = new MessageScanner(1, (type, head) => { if (type === 0x5a) status = head[0]; });
 * server.on('data', (chunk) => { scanner.scan(chunk); client.write(chunk); });
 * ```
 */
export class MessageScanner {
  /** Header bytes of the current message seen so far (a header may span chunks). */
  #header = Buffer.alloc(5);
  #headerBytes = 0;
  /** Payload bytes of the current message still to come. */
  #remaining = 0;
  #type = 0;
  #peek: Buffer;
  #peeked = 0;
  #peekWanted = 0;

  constructor(
    private readonly peekBytes: number,
    private readonly onMessage: (type: number, head: Buffer, at: number) => void,
    private readonly maxMessageBytes = 0x3fffffff,
  ) {
    this.#peek = Buffer.alloc(peekBytes);
  }

  /** Follows one chunk. @throws {ProxyError} on a bad length. */
  scan(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#remaining === 0 && this.#peekWanted === 0) {
        // Reading a header.
        const take = Math.min(5 - this.#headerBytes, chunk.length - offset);
        chunk.copy(this.#header, this.#headerBytes, offset, offset + take);
        this.#headerBytes += take;
        offset += take;
        if (this.#headerBytes < 5) return;
        this.#headerBytes = 0;
        this.#type = this.#header[0]!;
        const length = this.#header.readInt32BE(1);
        if (length < 4 || length > this.maxMessageBytes) {
          throw new ProxyError('STRATA_PROXY_PROTOCOL', '08P01', `invalid message length ${length} for message type ${JSON.stringify(String.fromCharCode(this.#type))}`);
        }
        this.#remaining = length - 4;
        this.#peekWanted = Math.min(this.peekBytes, this.#remaining);
        this.#peeked = 0;
        if (this.#peekWanted === 0) this.onMessage(this.#type, this.#peek.subarray(0, 0), offset);
        continue;
      }
      if (this.#peekWanted > this.#peeked) {
        const take = Math.min(this.#peekWanted - this.#peeked, chunk.length - offset);
        chunk.copy(this.#peek, this.#peeked, offset, offset + take);
        this.#peeked += take;
        this.#remaining -= take;
        offset += take;
        if (this.#peeked < this.#peekWanted) return;
        this.#peekWanted = 0;
        this.onMessage(this.#type, this.#peek.subarray(0, this.#peeked), offset);
        continue;
      }
      const skip = Math.min(this.#remaining, chunk.length - offset);
      this.#remaining -= skip;
      offset += skip;
    }
  }
}
