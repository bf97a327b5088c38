// Awaitable reads of a connection's first packets (startup, SASL), before it is handed to a pool
// that reads with callbacks. Bounded: a read never buffers more than one packet's limit.

import type { Socket } from 'node:net';
import { ProxyError } from '../errors.js';
import { MessageReader, type Frame } from '../protocol/framing.js';
import { startupPacketLength } from '../protocol/startup.js';

/** Longest typed message accepted during the handshake (SASL messages are ~100 bytes). */
const MAX_HANDSHAKE_MESSAGE_BYTES = 8_192;

/**
 * @example
 * ```ts
 * const reader = new HandshakeReader(socket);
 * const packet = await reader.startupPacket();
 * const password = await reader.message(); // { type: 0x70, bytes }
 * ```
 */
export class HandshakeReader {
  #buffer: Buffer = Buffer.alloc(0);
  #frames: Frame[] = [];
  #frameReader: MessageReader | undefined;
  #wake: (() => void) | undefined;
  #failure: Error | undefined;
  #socket: Socket;

  constructor(socket: Socket) {
    this.#socket = socket;
    this.#attach(socket);
  }

  /** Bytes received beyond what was read (must be none when TLS starts). */
  get pendingBytes(): number {
    return this.#buffer.length + (this.#frameReader?.buffered ?? 0) + this.#frames.length;
  }

  /** Reads from `socket` from now on (after a TLS upgrade). */
  switchTo(socket: Socket): void {
    this.#detach();
    this.#socket = socket;
    this.#attach(socket);
  }

  /** Stops reading; returns what arrived after the last message read (for the pool to handle). */
  detach(): { frames: Frame[]; rest: Buffer } {
    this.#detach();
    return { frames: this.#frames.splice(0), rest: this.#buffer };
  }

  /** The next untyped packet (startup, SSLRequest, CancelRequest). */
  async startupPacket(): Promise<Buffer> {
    for (;;) {
      const length = startupPacketLength(this.#buffer);
      if (length !== undefined && this.#buffer.length >= length) {
        const packet = this.#buffer.subarray(0, length);
        this.#buffer = this.#buffer.subarray(length);
        return packet;
      }
      await this.#more();
    }
  }

  /** The next typed message. */
  async message(): Promise<Frame> {
    if (!this.#frameReader) {
      this.#frameReader = new MessageReader(MAX_HANDSHAKE_MESSAGE_BYTES);
      const initial = this.#buffer;
      this.#buffer = Buffer.alloc(0);
      if (initial.length > 0) this.#frames.push(...this.#frameReader.push(initial));
    }
    for (;;) {
      const frame = this.#frames.shift();
      if (frame) return frame;
      await this.#more();
    }
  }

  readonly #onData = (chunk: Buffer) => {
    try {
      if (this.#frameReader) this.#frames.push(...this.#frameReader.push(chunk));
      else {
        this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
        // Fails fast on a bad length instead of waiting for a packet that will never be whole.
        startupPacketLength(this.#buffer);
      }
    } catch (error) {
      this.#failure = error as Error;
    }
    this.#wake?.();
  };

  readonly #onEnd = () => {
    this.#failure ??= new ProxyError('STRATA_PROXY_PROTOCOL', '08006', 'the client closed the connection during startup');
    this.#wake?.();
  };

  #attach(socket: Socket): void {
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onEnd);
  }

  #detach(): void {
    this.#socket.removeListener('data', this.#onData);
    this.#socket.removeListener('end', this.#onEnd);
    this.#socket.removeListener('close', this.#onEnd);
  }

  #more(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<void>((resolve, reject) => {
      this.#wake = () => {
        this.#wake = undefined;
        if (this.#failure) reject(this.#failure);
        else resolve();
      };
    });
  }
}
