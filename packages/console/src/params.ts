// Turning query strings and JSON bodies into the arguments of Strata's management calls, with a
// 400 that says what to fix for anything malformed.

import type { ListWorkflowsOptions, WorkflowStatusName } from '@strata/transact';
import { ConsoleRequestError } from './errors.js';

/** Every status a workflow row can have (`strata.workflows.status`). */
export const WORKFLOW_STATUSES: readonly WorkflowStatusName[] = ['ENQUEUED', 'PENDING', 'SUCCESS', 'ERROR', 'CANCELLED'];

/** Rows per page the API accepts, as `workflows.list` does. */
export const PAGE_LIMIT_MAX = 1_000;

/** `attr.<key>=<value>` narrows by an attribute; as many as `StartOptions.attributes` allows. */
const ATTRIBUTE_PREFIX = 'attr.';
const ATTRIBUTE_FILTERS_MAX = 32;

/** Longest workflow ID, name, filter or attribute Strata stores (transact's identifier limit): a longer one cannot match anything. */
export const TEXT_LENGTH_MAX = 512;

/** Longest cursor: a `nextCursor` is base64 of a time and a workflow ID, well under 1 KiB. */
const CURSOR_LENGTH_MAX = 2_048;

/** Filters given as plain strings, under the names of {@link ListWorkflowsOptions}. */
const STRING_FILTERS = ['name', 'queue', 'executorId', 'appVersion', 'workflowIdPrefix', 'parentWorkflowId', 'cursor'] as const;
const DATE_FILTERS = ['createdAfter', 'createdBefore'] as const;
const KNOWN_PARAMETERS = ['status', ...STRING_FILTERS, ...DATE_FILTERS, 'limit', 'order'];

/**
 * The `workflows.list` request a query string asks for:
 * `status` (one or a comma list, or repeated), `name`, `queue`, `executorId`, `appVersion`,
 * `workflowIdPrefix`, `parentWorkflowId`, `createdAfter` / `createdBefore` (ISO 8601 or epoch ms),
 * `attr.<key>=<value>`, `limit` (1–1,000), `cursor` and `order` (`newest` | `oldest`). Empty values
 * count as absent (a submitted form sends them).
 *
 * @throws {ConsoleRequestError} 400 for an unknown parameter or a malformed value.
 *
 * @example
 * parseListQuery(new URLSearchParams('status=ERROR,CANCELLED&limit=50'));
 * // { status: ['ERROR', 'CANCELLED'], limit: 50 }
 */
export function parseListQuery(query: URLSearchParams): ListWorkflowsOptions {
  const options: Record<string, unknown> = {};
  const attributes: Record<string, string> = {};
  for (const key of new Set(query.keys())) {
    const values = query.getAll(key).filter((value) => value !== '');
    if (key.startsWith(ATTRIBUTE_PREFIX) && key.length > ATTRIBUTE_PREFIX.length) {
      if (values.length > 1) throw invalid(`give attribute ${quoted(key)} once, not ${values.length} times`);
      const name = checkIdentifier(key.slice(ATTRIBUTE_PREFIX.length), `attribute key ${quoted(key)}`);
      if (values[0] !== undefined) attributes[name] = checkText(values[0], `attribute ${quoted(key)}`);
      continue;
    }
    if (!KNOWN_PARAMETERS.includes(key)) {
      throw invalid(`unknown query parameter ${JSON.stringify(key.slice(0, 64))}; use ${KNOWN_PARAMETERS.join(', ')} or attr.<key>=<value>`);
    }
    if (values.length === 0) continue;
    if (key === 'status') {
      options.status = parseStatuses(values);
      continue;
    }
    if (values.length > 1) throw invalid(`give "${key}" once, not ${values.length} times`);
    const value = values[0]!;
    if (key === 'limit') options.limit = parseLimit(value);
    else if (key === 'order') options.order = parseOrder(value);
    else if ((DATE_FILTERS as readonly string[]).includes(key)) options[key] = parseDate(key, value);
    else if (key === 'cursor') options[key] = checkText(value, 'cursor', CURSOR_LENGTH_MAX);
    else options[key] = checkIdentifier(value, key);
  }
  const attributeCount = Object.keys(attributes).length;
  if (attributeCount > ATTRIBUTE_FILTERS_MAX) throw invalid(`filter by at most ${ATTRIBUTE_FILTERS_MAX} attributes, not ${attributeCount}`);
  if (attributeCount > 0) options.attributes = attributes;
  const after = options.createdAfter as Date | undefined;
  const before = options.createdBefore as Date | undefined;
  if (after !== undefined && before !== undefined && after.getTime() >= before.getTime()) {
    throw invalid(`createdAfter (${after.toISOString()}) must be earlier than createdBefore (${before.toISOString()})`);
  }
  return options as ListWorkflowsOptions;
}

function parseStatuses(values: readonly string[]): WorkflowStatusName[] {
  const statuses = values.flatMap((value) => value.split(',')).map((status) => status.trim().toUpperCase()).filter((status) => status !== '');
  for (const status of statuses) {
    if (!(WORKFLOW_STATUSES as readonly string[]).includes(status)) {
      throw invalid(`status ${JSON.stringify(status.slice(0, 64))} does not exist; use one or a comma list of ${WORKFLOW_STATUSES.join(', ')}`);
    }
  }
  return [...new Set(statuses)] as WorkflowStatusName[];
}

function parseLimit(value: string): number {
  const limit = /^\d{1,7}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(limit) || limit < 1 || limit > PAGE_LIMIT_MAX) {
    throw invalid(`limit must be a whole number from 1 to ${PAGE_LIMIT_MAX}, got ${quoted(value)}`);
  }
  return limit;
}

function parseOrder(value: string): 'newest' | 'oldest' {
  if (value !== 'newest' && value !== 'oldest') throw invalid(`order must be "newest" or "oldest", got ${quoted(value)}`);
  return value;
}

/** An ISO 8601 date or date-time; a time without a zone is UTC. */
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?$/i;

/** ISO 8601 (`2026-01-31`, `2026-01-31T12:00:00Z`) or epoch milliseconds, within the dates both JavaScript and PostgreSQL hold. */
function parseDate(key: string, value: string): Date {
  const iso = ISO_TIME.exec(value);
  let date: Date | undefined;
  if (/^\d{1,15}$/.test(value)) {
    date = new Date(Number(value));
  } else if (iso) {
    const [, year, month, day, hour, , , zone] = iso;
    const parsed = new Date(hour === undefined || zone !== undefined ? value : `${value}Z`);
    // Date rolls 2026-02-31 over to March; a calendar date must survive the round trip.
    const sameDay = zone !== undefined || parsed.toISOString().startsWith(`${year}-${month}-${day}`);
    if (!Number.isNaN(parsed.getTime()) && sameDay) date = parsed;
  }
  if (date === undefined || Number.isNaN(date.getTime())) {
    throw invalid(`${key} must be an ISO 8601 date or time (2026-01-31, 2026-01-31T12:00:00Z; UTC unless a zone is given) or epoch milliseconds, got ${quoted(value)}`);
  }
  return date;
}

/**
 * `value` if PostgreSQL can store it and it is not longer than Strata stores: no NUL (text cannot
 * hold it), no lone UTF-16 surrogate (UTF-8 cannot encode it), at most `lengthMax` characters.
 *
 * @throws {ConsoleRequestError} 400 `CONSOLE_INVALID_PARAMETER` naming what to fix.
 *
 * @example
 * checkText('checkout', 'name');   // 'checkout'
 * checkText('a\u0000b', 'name');   // throws: name contains NUL (U+0000) at position 1 …
 */
export function checkText(value: string, what: string, lengthMax: number = TEXT_LENGTH_MAX): string {
  if (value.length > lengthMax) throw invalid(`${what} is ${value.length} characters long; the limit is ${lengthMax}`);
  for (let index = 0; index < value.length; index += 1) {
    const unit = value.charCodeAt(index);
    if (unit === 0) throw invalid(`${what} contains NUL (U+0000) at position ${index}, which no stored text can hold; remove it`);
    if (unit >= 0xd800 && unit <= 0xdfff) {
      const next = value.charCodeAt(index + 1);
      if (unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) index += 1;
      else throw invalid(`${what} contains a lone UTF-16 surrogate (U+${unit.toString(16).toUpperCase()}) at position ${index}, which UTF-8 cannot encode; send well-formed text`);
    }
  }
  return value;
}

/**
 * `value` if it could be a workflow ID, name, queue, executor ID, app version or attribute key as
 * Strata stores them: {@link checkText}, and no other C0 control character either (transact
 * refuses them in identifiers, so no row has one; and an escape sequence in a filter is an attack,
 * not a search).
 *
 * @throws {ConsoleRequestError} 400 `CONSOLE_INVALID_PARAMETER` naming the character and where it is.
 *
 * @example
 * checkIdentifier('order-42', 'workflow ID');      // 'order-42'
 * checkIdentifier('a\u001b[2J', 'workflow ID');    // throws: … control character U+001B at position 1 …
 */
export function checkIdentifier(value: string, what: string): string {
  checkText(value, what);
  for (let index = 0; index < value.length; index += 1) {
    const unit = value.charCodeAt(index);
    if (unit < 0x20) {
      throw invalid(`${what} contains the control character U+${unit.toString(16).toUpperCase().padStart(4, '0')} at position ${index}, which no workflow ID, name or queue holds; send printable text (encodeURIComponent the value in URLs)`);
    }
  }
  return value;
}

/** `{ "token": "…" }` of `POST /api/login`. */
export function parseLoginBody(body: Record<string, unknown>): { token: string } {
  rejectUnknownFields(body, ['token']);
  const { token } = body;
  if (typeof token !== 'string' || token === '' || token.length > LOGIN_TOKEN_LENGTH_MAX) {
    throw new ConsoleRequestError(400, 'CONSOLE_INVALID_BODY', `token must be the console's token as a non-empty string of at most ${LOGIN_TOKEN_LENGTH_MAX} characters, e.g. {"token": "…"}`);
  }
  return { token };
}

/** Longest token a login takes: far above any real token or API key, and bounded before hashing. */
const LOGIN_TOKEN_LENGTH_MAX = 4_096;

/** A value quoted for an error message, cut short and with NUL and other controls escaped. */
function quoted(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}

/** The options object of a POST body; an empty body is `{}`. */
export function parseBodyObject(text: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new ConsoleRequestError(400, 'CONSOLE_INVALID_BODY', `the request body is not valid JSON (${(error as Error).message}); send e.g. {"fromStep": 2}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ConsoleRequestError(400, 'CONSOLE_INVALID_BODY', 'the request body must be a JSON object, e.g. {"fromStep": 2}');
  }
  return body as Record<string, unknown>;
}

/** `{ "fromStep": N, "workflowId"?: "…" }` of a fork. */
export function parseForkBody(body: Record<string, unknown>): { fromStep: number; workflowId?: string } {
  rejectUnknownFields(body, ['fromStep', 'workflowId']);
  const { fromStep } = body;
  if (typeof fromStep !== 'number' || !Number.isSafeInteger(fromStep) || fromStep < 0) {
    throw new ConsoleRequestError(400, 'CONSOLE_INVALID_BODY', `fromStep must be a whole number ≥ 0 (the first step to run again), got ${JSON.stringify(fromStep) ?? 'nothing'}`);
  }
  return { fromStep, ...newWorkflowId(body) };
}

/** `{ "workflowId"?: "…" }` of a restart. */
export function parseRestartBody(body: Record<string, unknown>): { workflowId?: string } {
  rejectUnknownFields(body, ['workflowId']);
  return newWorkflowId(body);
}

function newWorkflowId(body: Record<string, unknown>): { workflowId?: string } {
  const { workflowId } = body;
  if (workflowId === undefined) return {};
  if (typeof workflowId !== 'string' || workflowId === '') {
    throw new ConsoleRequestError(400, 'CONSOLE_INVALID_BODY', `workflowId must be a non-empty string (the new workflow's ID), got ${JSON.stringify(workflowId)}`);
  }
  try {
    return { workflowId: checkIdentifier(workflowId, 'workflowId') };
  } catch (error) {
    throw new ConsoleRequestError(400, 'CONSOLE_INVALID_BODY', (error as Error).message);
  }
}

function rejectUnknownFields(body: Record<string, unknown>, known: readonly string[]): void {
  const unknown = Object.keys(body).filter((key) => !known.includes(key));
  if (unknown.length > 0) {
    throw new ConsoleRequestError(400, 'CONSOLE_INVALID_BODY', `unknown field(s) ${unknown.slice(0, 5).map((key) => quoted(key)).join(', ')}; this request takes ${known.map((key) => `"${key}"`).join(', ')}`);
  }
}

function invalid(message: string): ConsoleRequestError {
  return new ConsoleRequestError(400, 'CONSOLE_INVALID_PARAMETER', message);
}
