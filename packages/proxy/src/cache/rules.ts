// An instance's standing cache rules, and the choice between a statement's hint and those rules.

import { ProxyCacheError } from './errors.js';
import type { CachePolicy, CacheRule, StatementAnalysis } from './interfaces.js';
import { MAX_CACHE_TTL_MS } from './limits.js';
import { checkTags, ruleTableName } from './names.js';

function bad(index: number, message: string): ProxyCacheError {
  return new ProxyCacheError('STRATA_PROXY_BAD_CACHE_RULE', `cache rule ${index + 1}: ${message}`);
}

function checkMs(index: number, name: 'ttlMs' | 'swrMs', value: number, min: number): void {
  if (!(Number.isSafeInteger(value) && value >= min && value <= MAX_CACHE_TTL_MS)) {
    throw bad(index, `${name} is ${value}; it must be a whole number of milliseconds from ${min} to ${MAX_CACHE_TTL_MS} (one day)`);
  }
}

/**
 * Checks an instance's cache rules and returns them normalized (unqualified tables in `public`,
 * tags without duplicates). Throws {@link ProxyCacheError} (`STRATA_PROXY_BAD_CACHE_RULE`) naming
 * the rule and what to fix. Call it where rules enter the system (the instance's settings).
 *
 * @example
 * ```ts
 * validateCacheRules([{ tables: ['products', 'shop.*'], ttlMs: 30_000, swrMs: 0 }]);
 * // [{ tables: ['public.products', 'shop.*'], ttlMs: 30000, swrMs: 0, tags: [] }]
 * validateCacheRules([{ tables: [], ttlMs: 1000, swrMs: 0 }]); // throws: list at least one table
 * ```
 */
export function validateCacheRules(rules: readonly CacheRule[]): readonly CacheRule[] {
  return rules.map((rule, index) => {
    if (rule.tables.length === 0) throw bad(index, 'tables is empty; list at least one table (schema.table, table, schema.* or *)');
    for (const table of rule.tables) {
      if (table === '' || /\s/.test(table) || table.startsWith('.') || table.endsWith('.')) {
        throw bad(index, `table ${JSON.stringify(table)} is not a table name; write schema.table, table, schema.* or *`);
      }
    }
    checkMs(index, 'ttlMs', rule.ttlMs, 1);
    checkMs(index, 'swrMs', rule.swrMs, 0);
    const tags = checkTags(rule.tags ?? [], 'STRATA_PROXY_BAD_CACHE_RULE', `cache rule ${index + 1}`);
    return { tables: rule.tables.map(ruleTableName), ttlMs: rule.ttlMs, swrMs: rule.swrMs, tags };
  });
}

function covers(patterns: readonly string[], table: string): boolean {
  return patterns.some((pattern) => {
    const name = ruleTableName(pattern);
    return name === '*' || name === table || (name.endsWith('.*') && table.startsWith(name.slice(0, -1)));
  });
}

/**
 * How a statement's result is cached, or `undefined` when it is not: its hint if it has one
 * (a hint wins over rules, and `ttl=0` turns caching off), else the first rule that covers every
 * table it reads. Only a cacheable analysis (see {@link StatementAnalysis.cacheable}) gets a policy.
 *
 * @example
 * ```ts
 * const rules = validateCacheRules([{ tables: ['products', 'categories'], ttlMs: 30_000, swrMs: 60_000 }]);
 * resolveCachePolicy(analyzeStatement('select * from products join categories using (category_id)'), rules);
 * // { ttlMs: 30000, swrMs: 60000, tags: [], source: 'rule' }
 * resolveCachePolicy(analyzeStatement('select * from orders'), rules); // undefined: no rule covers orders
 * ```
 */
export function resolveCachePolicy(analysis: StatementAnalysis, rules: readonly CacheRule[] = []): CachePolicy | undefined {
  if (!analysis.cacheable) return undefined;
  if (analysis.hint !== undefined) return { ...analysis.hint, source: 'hint' };
  if (analysis.readTables.length === 0) return undefined;
  const rule = rules.find((candidate) => analysis.readTables.every((table) => covers(candidate.tables, table)));
  return rule === undefined ? undefined : { ttlMs: rule.ttlMs, swrMs: rule.swrMs, tags: rule.tags ?? [], source: 'rule' };
}
