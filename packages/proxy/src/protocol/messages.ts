// The few backend messages the proxy writes itself (errors, authentication, ReadyForQuery, cached
// results' framing) and readers of the frontend messages it looks into. Messages to and from the
// instance are parsed and serialized with node-postgres's pg-protocol (see backend/connect.ts);
// pg-protocol has no server side, so these small builders are ours.

/** The protocol version of a StartupMessage (3.0). */
export const PROTOCOL_V3 = 196608;
/** Magic "versions" of the special startup packets. */
export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;

/** One backend message: a type byte, a length that counts itself, the payload. */
export function message(type: string, payload: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.allocUnsafe(5 + payload.length);
  out[0] = type.charCodeAt(0);
  out.writeInt32BE(4 + payload.length, 1);
  payload.copy(out, 5);
  return out;
}

/** A NUL-terminated string as the protocol writes it. */
export function cstring(text: string): Buffer {
  return Buffer.from(`${text}\0`, 'utf8');
}

function int32(value: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  out.writeInt32BE(value, 0);
  return out;
}

/** Fields of an ErrorResponse or NoticeResponse. */
export interface ErrorFields {
  readonly severity: 'FATAL' | 'ERROR' | 'NOTICE' | 'WARNING';
  readonly sqlstate: string;
  readonly message: string;
  readonly detail?: string;
  readonly hint?: string;
}

/** An ErrorResponse ('E'): what libpq, pg and psql show as the error. */
export function errorResponse(fields: ErrorFields): Buffer {
  const parts = [Buffer.from('S'), cstring(fields.severity), Buffer.from('V'), cstring(fields.severity), Buffer.from('C'), cstring(fields.sqlstate), Buffer.from('M'), cstring(fields.message)];
  if (fields.detail !== undefined) parts.push(Buffer.from('D'), cstring(fields.detail));
  if (fields.hint !== undefined) parts.push(Buffer.from('H'), cstring(fields.hint));
  parts.push(Buffer.from([0]));
  return message('E', Buffer.concat(parts));
}

/** AuthenticationSASL: the mechanisms offered (only SCRAM-SHA-256: no channel binding). */
export function authenticationSasl(mechanisms: readonly string[]): Buffer {
  return message('R', Buffer.concat([int32(10), ...mechanisms.map(cstring), Buffer.from([0])]));
}

/** AuthenticationSASLContinue with the server-first-message. */
export function authenticationSaslContinue(data: string): Buffer {
  return message('R', Buffer.concat([int32(11), Buffer.from(data, 'utf8')]));
}

/** AuthenticationSASLFinal with the server-final-message. */
export function authenticationSaslFinal(data: string): Buffer {
  return message('R', Buffer.concat([int32(12), Buffer.from(data, 'utf8')]));
}

/** AuthenticationOk. */
export function authenticationOk(): Buffer {
  return message('R', int32(0));
}

/** ParameterStatus ('S'). */
export function parameterStatus(name: string, value: string): Buffer {
  return message('S', Buffer.concat([cstring(name), cstring(value)]));
}

/** BackendKeyData ('K'): what a client sends back in a CancelRequest. */
export function backendKeyData(processId: number, secretKey: number): Buffer {
  return message('K', Buffer.concat([int32(processId), int32(secretKey)]));
}

/** ReadyForQuery ('Z') with the transaction status: I idle, T in a transaction, E failed transaction. */
export function readyForQuery(status: 'I' | 'T' | 'E'): Buffer {
  return message('Z', Buffer.from(status));
}

/** ParseComplete ('1'), BindComplete ('2') and CloseComplete ('3') have no payload. */
export const PARSE_COMPLETE = message('1');
export const CLOSE_COMPLETE = message('3');

/** Reads NUL-terminated strings and integers from a message payload, bounded by its end. */
export class PayloadReader {
  #offset = 0;
  constructor(private readonly payload: Buffer) {}

  get offset(): number {
    return this.#offset;
  }

  get remaining(): number {
    return this.payload.length - this.#offset;
  }

  /** The next NUL-terminated string, or undefined when no NUL is left (a malformed message). */
  cstring(): string | undefined {
    const end = this.payload.indexOf(0, this.#offset);
    if (end < 0) return undefined;
    const text = this.payload.toString('utf8', this.#offset, end);
    this.#offset = end + 1;
    return text;
  }

  int16(): number | undefined {
    if (this.remaining < 2) return undefined;
    const value = this.payload.readInt16BE(this.#offset);
    this.#offset += 2;
    return value;
  }

  int32(): number | undefined {
    if (this.remaining < 4) return undefined;
    const value = this.payload.readInt32BE(this.#offset);
    this.#offset += 4;
    return value;
  }

  bytes(count: number): Buffer | undefined {
    if (count < 0 || this.remaining < count) return undefined;
    const out = this.payload.subarray(this.#offset, this.#offset + count);
    this.#offset += count;
    return out;
  }

  rest(): Buffer {
    const out = this.payload.subarray(this.#offset);
    this.#offset = this.payload.length;
    return out;
  }
}
