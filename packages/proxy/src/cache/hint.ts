// The `strata:cache` hint: a comment in the SQL that asks for its result to be cached, found with
// PostgreSQL's scanner so that the same text inside a string literal is not a hint.

import { ProxyCacheError } from './errors.js';
import type { CacheHint } from './interfaces.js';
import { MAX_CACHE_TTL_MS } from './limits.js';
import { checkTags } from './names.js';
import { scanComments } from './sql-parser.js';

const HINT_PREFIX = 'strata:cache';
const HINT_EXAMPLE = '/* strata:cache ttl=60 swr=30 tags=products,featured */';
const WHERE = 'strata:cache hint';
const SETTINGS = ['ttl', 'swr', 'tags'] as const;
type Setting = (typeof SETTINGS)[number];

function bad(message: string): ProxyCacheError {
  return new ProxyCacheError('STRATA_PROXY_BAD_CACHE_HINT', `${WHERE}: ${message}`);
}

function isSetting(name: string): name is Setting {
  return (SETTINGS as readonly string[]).includes(name);
}

function seconds(name: 'ttl' | 'swr', value: string): number {
  const maxSeconds = MAX_CACHE_TTL_MS / 1000;
  const parsed = /^[0-9]{1,6}$/.test(value) ? Number(value) : Number.NaN;
  if (!(parsed <= maxSeconds)) {
    throw bad(`${name}=${value}: ${name} is a whole number of seconds from 0 to ${maxSeconds}, e.g. ${name}=60`);
  }
  return parsed * 1000;
}

function parseSettings(body: string): CacheHint {
  const values = new Map<Setting, string>();
  for (const word of body.split(/\s+/)) {
    if (word === '') continue;
    const equals = word.indexOf('=');
    const name = equals > 0 ? word.slice(0, equals) : word;
    if (!isSetting(name)) {
      throw bad(`unknown setting ${JSON.stringify(name)}; a hint takes ttl=<seconds>, swr=<seconds> and tags=<a,b>, e.g. ${HINT_EXAMPLE}`);
    }
    if (equals < 0) throw bad(`${name} needs a value, e.g. ${HINT_EXAMPLE}`);
    if (values.has(name)) throw bad(`${name} is given twice; give each setting once`);
    values.set(name, word.slice(equals + 1));
  }
  const ttl = values.get('ttl');
  if (ttl === undefined) throw bad(`a hint needs ttl=<seconds> (how long the result is served fresh), e.g. ${HINT_EXAMPLE}`);
  const swr = values.get('swr');
  const tags = values.get('tags');
  if (tags === '') throw bad(`tags= is empty; list tag names separated by commas, or leave tags out`);
  return {
    ttlMs: seconds('ttl', ttl),
    swrMs: swr === undefined ? 0 : seconds('swr', swr),
    tags: tags === undefined ? [] : checkTags(tags.split(','), 'STRATA_PROXY_BAD_CACHE_HINT', WHERE),
  };
}

/**
 * The `strata:cache` hint of a SQL string: a block or line comment anywhere in it whose text
 * starts with `strata:cache`, followed by `ttl=<seconds>` and optionally `swr=<seconds>` and
 * `tags=<a,b,…>`. `ttl=0` asks for no caching (it also overrides an instance's rules).
 * Returns `undefined` without a hint; throws {@link ProxyCacheError}
 * (`STRATA_PROXY_BAD_CACHE_HINT`) for a malformed one or for two hints.
 *
 * @example
 * ```ts
 * parseCacheHint('select * from products /* strata:cache ttl=60 swr=30 tags=products *' + '/');
 * // { ttlMs: 60_000, swrMs: 30_000, tags: ['products'] }
 * parseCacheHint("select '/* strata:cache ttl=60 *" + "/'"); // undefined: that is a string literal
 * ```
 */
export function parseCacheHint(sql: string): CacheHint | undefined {
  // When the scanner rejects the text, so will the parser: the statement fails, hint or not.
  const comments = scanComments(sql) ?? [];
  let hint: CacheHint | undefined;
  for (const comment of comments) {
    const body = (comment.block ? comment.text.slice(2, -2) : comment.text.slice(2)).trim();
    if (!body.startsWith(HINT_PREFIX)) continue;
    const rest = body.slice(HINT_PREFIX.length);
    // `strata:cached` or `strata:cache-x` is some other comment, not a hint.
    if (rest !== '' && !/^\s/.test(rest)) continue;
    if (hint !== undefined) throw bad('the SQL has more than one strata:cache comment; keep one');
    hint = parseSettings(rest);
  }
  return hint;
}
