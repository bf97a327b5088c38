// Reading and rewriting the extended-query messages whose statement names transaction pooling
// changes: Parse, Bind, Describe and Close (a client's names become the proxy's names on servers).

import { cstring, message } from './messages.js';

/** A Parse message's parts. */
export interface ParseParts {
  readonly name: string;
  readonly query: string;
  /** The parameter type OIDs, as the raw bytes after the query (int16 count and int32s). */
  readonly types: Buffer;
}

/** Reads a Parse ('P') payload; undefined when malformed. */
export function readParse(payload: Buffer): ParseParts | undefined {
  const nameEnd = payload.indexOf(0);
  if (nameEnd < 0) return undefined;
  const queryEnd = payload.indexOf(0, nameEnd + 1);
  if (queryEnd < 0) return undefined;
  return { name: payload.toString('utf8', 0, nameEnd), query: payload.toString('utf8', nameEnd + 1, queryEnd), types: payload.subarray(queryEnd + 1) };
}

/** A Parse message naming the statement `name`. */
export function buildParse(name: string, query: string, types: Buffer): Buffer {
  return message('P', Buffer.concat([cstring(name), cstring(query), types]));
}

/** Reads a Bind ('B') payload's portal and statement names and where the rest starts. */
export function readBind(payload: Buffer): { portal: string; statement: string; restAt: number } | undefined {
  const portalEnd = payload.indexOf(0);
  if (portalEnd < 0) return undefined;
  const statementEnd = payload.indexOf(0, portalEnd + 1);
  if (statementEnd < 0) return undefined;
  return { portal: payload.toString('utf8', 0, portalEnd), statement: payload.toString('utf8', portalEnd + 1, statementEnd), restAt: statementEnd + 1 };
}

/** The Bind with its statement renamed. */
export function renameBind(payload: Buffer, statement: string): Buffer {
  const bind = readBind(payload)!;
  return message('B', Buffer.concat([cstring(bind.portal), cstring(statement), payload.subarray(bind.restAt)]));
}

/** Reads a Describe ('D') or Close ('C') payload: 'S' statement or 'P' portal, and the name. */
export function readTarget(payload: Buffer): { kind: 'S' | 'P'; name: string } | undefined {
  const kind = String.fromCharCode(payload[0] ?? 0);
  if (kind !== 'S' && kind !== 'P') return undefined;
  const end = payload.indexOf(0, 1);
  if (end < 0) return undefined;
  return { kind, name: payload.toString('utf8', 1, end) };
}

/** A Describe or Close of statement `name`. */
export function buildTarget(type: 'D' | 'C', kind: 'S' | 'P', name: string): Buffer {
  return message(type, Buffer.concat([Buffer.from(kind), cstring(name)]));
}

/** The SQL text of a Query ('Q') payload. */
export function readQuery(payload: Buffer): string {
  const end = payload.indexOf(0);
  return payload.toString('utf8', 0, end < 0 ? payload.length : end);
}
