// Awaitable reads of a connection's first packets (startup, SASL), before it is handed to a pool
// that reads with callbacks. Bounded: a read never buffers more than one packet's limit, what a
// client sends ahead is held back by TCP (the socket is paused), and nothing is read once the
// handshake failed or the proxy ended its side.

import type { Socket } from 'node:net';
import { ProxyError } from '../errors.js';
import { MessageReader, type Frame } from '../protocol/framing.js';
import { startupPacketLength } from '../protocol/startup.js';

/** Longest typed message accepted during the handshake (SASL messages are ~100 bytes). */
const MAX_HANDSHAKE_MESSAGE_BYTES = 8_192;
/**
 * Bytes a client may send ahead of what the handshake has read (it may pipeline its first
 * queries behind its password while the instance wakes); beyond it the socket is paused.
 */
const MAX_READ_AHEAD_BYTES = 64 * 1024;

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
  #frameBytes = 0;
  #frameReader: MessageReader | undefined;
  #wake: (() => void) | undefined;
  #failure: Error | undefined;
  /** The socket the connection was accepted on: its end is the connection's end, with or without TLS. */
  readonly #raw: Socket;
  #socket: Socket;

  constructor(socket: Socket) {
    this.#raw = socket;
    this.#socket = socket;
    this.#attach(socket);
  }

  /** Bytes received beyond what was read (must be none when TLS starts). */
  get pendingBytes(): number {
    return this.#buffer.length + (this.#frameReader?.buffered ?? 0) + this.#frameBytes;
  }

  /** Reads from `socket` from now on (after a TLS upgrade); the end of the raw socket still counts. */
  switchTo(socket: Socket): void {
    this.#socket.removeListener('data', this.#onData);
    if (this.#socket !== this.#raw) this.#unwatchEnd(this.#socket);
    this.#socket = socket;
    socket.on('data', this.#onData);
    this.#watchEnd(socket);
  }

  /**
   * Stops reading; returns what arrived after the last message read, in order: whole frames,
   * then the bytes of a message still arriving. The socket may be paused: the pool resumes it
   * once its own listener is on.
   */
  detach(): { frames: Frame[]; rest: Buffer } {
    this.#detach();
    const frames = this.#frames.splice(0);
    this.#frameBytes = 0;
    const rest = this.#frameReader ? this.#frameReader.takeBuffered() : this.#buffer;
    this.#buffer = Buffer.alloc(0);
    return { frames, rest };
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
      if (initial.length > 0) this.#addFrames(this.#frameReader.push(initial));
    }
    for (;;) {
      const frame = this.#frames.shift();
      if (frame) {
        this.#frameBytes -= frame.bytes.length;
        return frame;
      }
      await this.#more();
    }
  }

  #addFrames(frames: Frame[]): void {
    for (const frame of frames) {
      this.#frames.push(frame);
      this.#frameBytes += frame.bytes.length;
    }
  }

  readonly #onData = (chunk: Buffer) => {
    // After a failure the connection is over: what the client still sends is dropped, not kept.
    if (this.#failure) return;
    try {
      if (this.#frameReader) this.#addFrames(this.#frameReader.push(chunk));
      else {
        this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
        // Fails fast on a bad length instead of waiting for a packet that will never be whole.
        startupPacketLength(this.#buffer);
      }
    } catch (error) {
      this.#fail(error as Error);
    }
    if (this.pendingBytes > MAX_READ_AHEAD_BYTES) this.#socket.pause();
    this.#wake?.();
  };

  readonly #onEnd = () => {
    this.#fail(new ProxyError('STRATA_PROXY_PROTOCOL', '08006', 'the client closed the connection during startup'));
    this.#wake?.();
  };

  /**
   * The proxy ended its side (it sent a FATAL, or answered a CancelRequest): the handshake is
   * over, and the connection is closed rather than left half-open for as long as the client
   * likes (such connections are no longer counted as unauthenticated).
   */
  readonly #onFinish = () => {
    this.#fail(new ProxyError('STRATA_PROXY_PROTOCOL', '08006', 'the proxy closed the connection during startup'));
    this.#wake?.();
    this.#socket.destroy();
    this.#raw.destroy();
  };

  #fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    this.#buffer = Buffer.alloc(0);
    this.#frames = [];
    this.#frameBytes = 0;
  }

  #attach(socket: Socket): void {
    socket.on('data', this.#onData);
    this.#watchEnd(socket);
  }

  #watchEnd(socket: Socket): void {
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onEnd);
    socket.on('finish', this.#onFinish);
  }

  #unwatchEnd(socket: Socket): void {
    socket.removeListener('end', this.#onEnd);
    socket.removeListener('close', this.#onEnd);
    socket.removeListener('finish', this.#onFinish);
  }

  #detach(): void {
    this.#socket.removeListener('data', this.#onData);
    this.#unwatchEnd(this.#socket);
    if (this.#socket !== this.#raw) this.#unwatchEnd(this.#raw);
  }

  #more(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    // The handshake wants more than was read ahead: let the client's bytes in again.
    this.#socket.resume();
    return new Promise<void>((resolve, reject) => {
      this.#wake = () => {
        this.#wake = undefined;
        if (this.#failure) reject(this.#failure);
        else resolve();
      };
    });
  }
}
