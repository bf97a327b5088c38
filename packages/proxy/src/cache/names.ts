// Names the cache compares: tags (from hints and rules) and table names (from the parser and rules).

import { ProxyCacheError, type ProxyCacheErrorCode } from './errors.js';
import { MAX_CACHE_TAGS } from './limits.js';

// A tag is an invalidation handle typed by people and programs: one short lower-case word.
const TAG_PATTERN = /^[a-z0-9_:.-]{1,64}$/;

/**
 * Checks a list of tags (names of `[a-z0-9_:.-]`, 1 to 64 characters, at most
 * {@link MAX_CACHE_TAGS}) and returns it without duplicates; throws a {@link ProxyCacheError}
 * with `code` and the start of its message (`where`) otherwise.
 *
 * @example
 * ```ts
 * checkTags(['products', 'products', 'home'], 'STRATA_PROXY_BAD_CACHE_HINT', 'strata:cache hint'); // ['products', 'home']
 * ```
 */
export function checkTags(tags: readonly string[], code: ProxyCacheErrorCode, where: string): readonly string[] {
  const unique = [...new Set(tags)];
  for (const tag of unique) {
    if (!TAG_PATTERN.test(tag)) {
      throw new ProxyCacheError(code, `${where}: tag ${JSON.stringify(tag)} is not a tag name; use 1 to 64 of a-z, 0-9, _ : . - (e.g. products or catalog:featured)`);
    }
  }
  if (unique.length > MAX_CACHE_TAGS) {
    throw new ProxyCacheError(code, `${where}: ${unique.length} tags; at most ${MAX_CACHE_TAGS} are allowed, so group related data under fewer tags`);
  }
  return unique;
}

/**
 * A table's cache name, `schema.table`, from the parser's (already case-folded) parts. Unqualified
 * names are taken to be in `public` (the default search_path). Names are joined, not quoted: two
 * tables whose names only differ by where a dot sits share a name, which can only cause an extra
 * invalidation, never a missed one.
 *
 * @example
 * ```ts
 * tableName(undefined, 'orders'); // 'public.orders'
 * tableName('Shop', 'Items');     // 'Shop.Items' (from "Shop"."Items")
 * ```
 */
export function tableName(schema: string | undefined, table: string): string {
  return `${schema ?? 'public'}.${table}`;
}

/**
 * A rule's table pattern as the cache compares it: `table` → `public.table`; `schema.table`,
 * `schema.*` and `*` as they are.
 *
 * @example
 * ```ts
 * ruleTableName('products'); // 'public.products'
 * ruleTableName('shop.*');   // 'shop.*'
 * ```
 */
export function ruleTableName(pattern: string): string {
  return pattern === '*' || pattern.includes('.') ? pattern : tableName(undefined, pattern);
}
