// Statement analysis with PostgreSQL's real parser (libpg-query): reads, writes and other
// statements of many shapes, strata:cache hints (and text that only looks like one), and rules.

import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  analyzeStatement,
  loadSqlParser,
  MAX_CACHE_TAGS,
  MAX_PARSE_TREE_DEPTH,
  ProxyCacheError,
  resolveCachePolicy,
  validateCacheRules,
  type CacheRule,
  type StatementAnalysis,
} from '../src/cache/index.js';

before(async () => {
  await loadSqlParser();
});

type Expected = Partial<Pick<StatementAnalysis, 'kind' | 'readTables' | 'writtenTables' | 'cacheable' | 'writesUnknownTables' | 'changesSessionState'>>;

function assertAnalysis(sql: string, expected: Expected): StatementAnalysis {
  const analysis = analyzeStatement(sql);
  const actual = Object.fromEntries(Object.keys(expected).map((field) => [field, analysis[field as keyof StatementAnalysis]]));
  assert.deepEqual(actual, expected, `${sql}\n→ ${JSON.stringify(analysis)}`);
  return analysis;
}

function assertBadHint(sql: string, messagePart: RegExp): void {
  assert.throws(
    () => analyzeStatement(sql),
    (error: unknown) => {
      assert.ok(error instanceof ProxyCacheError, `${sql}: ${String(error)}`);
      assert.equal(error.code, 'STRATA_PROXY_BAD_CACHE_HINT');
      assert.equal(error.severity, 'ERROR');
      assert.match(error.message, messagePart);
      return true;
    },
  );
}

describe('analyzeStatement: reads', () => {
  const reads: readonly (readonly [string, readonly string[]])[] = [
    ['select * from products', ['public.products']],
    ['SELECT * FROM Products', ['public.products']],
    ['select * from shop.products p join public.categories c on c.id = p.category_id', ['public.categories', 'shop.products']],
    ['select * from "Shop"."Products"', ['Shop.Products']],
    ['select * from a left join b using (id) cross join lateral (select * from c where c.id = a.id) l', ['public.a', 'public.b', 'public.c']],
    ['select * from a where id in (select a_id from b) and exists (select 1 from c)', ['public.a', 'public.b', 'public.c']],
    ['select (select max(x) from b) from (select * from a) sub', ['public.a', 'public.b']],
    ['select id from a union select id from b except select id from c', ['public.a', 'public.b', 'public.c']],
    ['(with x as (select * from a) select * from x) union all select * from b', ['public.a', 'public.b']],
    ['with recent as (select * from orders where at > $1) select * from recent join customers using (customer_id)', ['public.customers', 'public.orders']],
    // A non-recursive WITH query does not see itself: the inner t is the table.
    ['with t as (select * from t) select * from t', ['public.t']],
    // A recursive one does; a qualified name is always a table.
    ['with recursive t(n) as (select 1 union all select n + 1 from t join public.t pt on true) select * from t', ['public.t']],
    ['with a as (select * from x), b as (select * from a) select * from b', ['public.x']],
    ['select count(*) from orders group by status having count(*) > (select count(*) from refunds)', ['public.orders', 'public.refunds']],
    ['select * from mydb.shop.products', ['shop.products']],
  ];
  for (const [sql, readTables] of reads) {
    test(`${sql} reads ${readTables.join(', ')} and is cacheable`, () => {
      assertAnalysis(sql, { kind: 'read', readTables: [...readTables], writtenTables: [], cacheable: true, writesUnknownTables: false });
    });
  }

  test('several SELECT statements in one string are one read of the union of their tables', () => {
    assertAnalysis('select * from a; select * from b where id = 1;', { kind: 'read', readTables: ['public.a', 'public.b'], cacheable: true });
  });

  test('SELECT … FOR UPDATE / FOR SHARE is a read that is not cacheable (it takes locks)', () => {
    for (const sql of ['select * from t for update', 'select * from t for share of t skip locked', 'select * from (select * from t for no key update) s']) {
      const analysis = assertAnalysis(sql, { kind: 'read', readTables: ['public.t'], cacheable: false });
      assert.match(analysis.reason ?? '', /FOR UPDATE\/SHARE/);
    }
  });

  test('a read calling a volatile or session-dependent function is not cacheable, and the reason names it', () => {
    const calls = [
      ['nextval(\'s\')', 'nextval()'],
      ['setval(\'s\', 1)', 'setval()'],
      ['now()', 'now()'],
      ['current_timestamp', 'current_timestamp'],
      ['clock_timestamp()', 'clock_timestamp()'],
      ['random()', 'random()'],
      ['pg_catalog.random()', 'random()'],
      ['gen_random_uuid()', 'gen_random_uuid()'],
      ['pg_advisory_lock(1)', 'pg_advisory_lock()'],
      ['pg_try_advisory_xact_lock(1)', 'pg_try_advisory_xact_lock()'],
      ['txid_current()', 'txid_current()'],
      ['set_config(\'a.b\', \'1\', false)', 'set_config()'],
      ['current_setting(\'app.tenant\')', 'current_setting()'],
      ['current_user', 'current_user'],
      ['session_user', 'session_user'],
      ['current_date', 'current_date'],
    ] as const;
    for (const [call, named] of calls) {
      const analysis = assertAnalysis(`select ${call}, id from t`, { kind: 'read', readTables: ['public.t'], cacheable: false });
      assert.ok(analysis.reason?.includes(named), `${call}: ${analysis.reason}`);
    }
    // Deep inside a subquery or a WHERE clause too.
    assertAnalysis('select * from t where created_at > (select now() - interval \'1 day\')', { kind: 'read', cacheable: false });
    assertAnalysis('select * from t tablesample bernoulli (10)', { kind: 'read', cacheable: false });
    assertAnalysis('select * from t tablesample bernoulli (10) repeatable (42)', { kind: 'read', cacheable: true });
  });

  test('a read of no table is cacheable only with a hint (no write would ever invalidate it)', () => {
    const plain = assertAnalysis('select 1', { kind: 'read', readTables: [], cacheable: false });
    assert.match(plain.reason ?? '', /strata:cache/);
    assertAnalysis('/* strata:cache ttl=60 */ select 1 + 1', { kind: 'read', readTables: [], cacheable: true });
    // A WITH query is not a table.
    assertAnalysis('with x as (select 1) select * from x', { kind: 'read', readTables: [], cacheable: false });
  });

  test('answers are memoized by SQL text and frozen', () => {
    const sql = 'select * from memo_probe where id = $1';
    const first = analyzeStatement(sql);
    assert.equal(analyzeStatement(sql), first);
    assert.ok(Object.isFrozen(first) && Object.isFrozen(first.readTables));
  });
});

describe('analyzeStatement: writes and other statements', () => {
  const writes: readonly (readonly [string, readonly string[], readonly string[]])[] = [
    ['insert into orders (id) values (1)', ['public.orders'], []],
    ['insert into archive select * from orders where done', ['public.archive'], ['public.orders']],
    ['insert into t values (1) on conflict (id) do update set n = t.n + 1', ['public.t'], []],
    ['update shop.products set price = price * 2 from sales s where s.id = products.id', ['shop.products'], ['public.sales']],
    ['delete from t using u where u.id = t.id', ['public.t'], ['public.u']],
    ['merge into stock s using deliveries d on s.item = d.item when matched then update set qty = s.qty + d.qty when not matched then insert values (d.item, d.qty)', ['public.stock'], ['public.deliveries']],
    ['truncate a, s.b', ['public.a', 's.b'], []],
    ['copy t from stdin', ['public.t'], []],
    ['alter table t add column c int', ['public.t'], []],
    ['alter table t rename to u', ['public.t'], []],
    ['alter table child inherit parent', ['public.child', 'public.parent'], []],
    ['drop table a, s.b', ['public.a', 's.b'], []],
    ['drop view if exists v', ['public.v'], []],
    ['drop policy p on s.t', ['s.t'], []],
    ['create table x as select * from y', ['public.x'], ['public.y']],
    ['create materialized view mv as select * from y', ['public.mv'], ['public.y']],
    ['create or replace view v as select * from y', ['public.v'], ['public.y']],
    ['refresh materialized view concurrently mv', ['public.mv'], []],
    ['select * into t2 from t1', ['public.t2'], ['public.t1']],
    ['create policy p on t using (owner = current_user)', ['public.t'], []],
    ['revoke select on t, s.u from bob', ['public.t', 's.u'], []],
    ['explain analyze delete from t', ['public.t'], []],
  ];
  for (const [sql, writtenTables, readTables] of writes) {
    test(`${sql} writes ${writtenTables.join(', ')}`, () => {
      const analysis = assertAnalysis(sql, { kind: 'write', writtenTables: [...writtenTables], readTables: [...readTables], cacheable: false });
      assert.match(analysis.reason ?? '', /only reads are cached/);
    });
  }

  test('a data-modifying WITH query makes the whole statement a write', () => {
    assertAnalysis('with moved as (delete from inbox where done returning *) insert into archive select * from moved', {
      kind: 'write',
      writtenTables: ['public.archive', 'public.inbox'],
      readTables: [],
      cacheable: false,
    });
    assertAnalysis('with n as (update counters set v = v + 1 returning v) select * from n join labels using (v)', {
      kind: 'write',
      writtenTables: ['public.counters'],
      readTables: ['public.labels'],
      cacheable: false,
    });
  });

  test('one write among several statements makes the string a write', () => {
    assertAnalysis('select * from a; update b set x = 1; select * from c', {
      kind: 'write',
      readTables: ['public.a', 'public.c'],
      writtenTables: ['public.b'],
      cacheable: false,
    });
  });

  test('statements whose writes the parser cannot name say so (the proxy invalidates the whole instance)', () => {
    for (const sql of ['call refresh_all()', 'do $$ begin delete from t; end $$', 'execute prepared_plan(1)', 'grant admin to bob', 'drop schema app cascade', 'drop function f(int)', 'revoke all on all tables in schema public from bob', 'create or replace function f() returns int language sql as $$ select 1 $$', 'alter role bob set search_path = other']) {
      assertAnalysis(sql, { kind: 'write', writesUnknownTables: true, cacheable: false });
    }
  });

  test('statements that change the session say so (the session stops using the cache)', () => {
    for (const sql of ['set search_path = tenant_a', 'set role reporting', 'reset all', 'discard all', 'set local app.tenant_id = 7']) {
      assertAnalysis(sql, { kind: 'other', changesSessionState: true, cacheable: false });
    }
    assertAnalysis("select set_config('app.tenant_id', '7', false)", { kind: 'read', changesSessionState: true, cacheable: false });
    assertAnalysis('create temp table scratch (id int)', { kind: 'write', changesSessionState: true, writtenTables: ['public.scratch'] });
    assertAnalysis('select * from t', { changesSessionState: false });
  });

  test('transaction control, plain EXPLAIN and DDL that changes no results are other', () => {
    for (const sql of ['begin', 'commit', 'rollback', 'show search_path', 'listen jobs', "notify jobs, 'x'", 'create index on t (a)', 'vacuum t', 'explain select * from t', 'prepare p as insert into t values ($1)', 'lock table t in share mode']) {
      assertAnalysis(sql, { kind: 'other', writtenTables: [], writesUnknownTables: false, cacheable: false });
    }
    assertAnalysis('begin; select * from t; commit', { kind: 'other', readTables: ['public.t'], cacheable: false });
  });

  test('a statement nested too deep to follow is taken as a write of unknown tables (too much invalidation, never too little)', () => {
    const nested = (levels: number) => 'select * from t where a in ' + '(select a from u where a in '.repeat(levels) + '(1)' + ')'.repeat(levels);
    assertAnalysis(nested(20), { kind: 'read', readTables: ['public.t', 'public.u'], cacheable: true });
    const deep = assertAnalysis(nested(1_000), { kind: 'write', writesUnknownTables: true, cacheable: false });
    assert.match(deep.reason ?? '', new RegExp(`deeper than ${MAX_PARSE_TREE_DEPTH} levels`));
    assertAnalysis(`update t set x = 1 where id in ${nested(1_000).slice('select * from t where a in '.length)}`, { kind: 'write', writesUnknownTables: true, cacheable: false });
  });

  test('SQL the parser rejects is other, not cacheable, with the parser\'s message', () => {
    const analysis = assertAnalysis('selec * from t', { kind: 'other', readTables: [], writtenTables: [], cacheable: false });
    assert.match(analysis.reason ?? '', /syntax error at or near "selec"/);
    assertAnalysis("select 'unterminated", { kind: 'other', cacheable: false });
    assertAnalysis('', { kind: 'other', cacheable: false });
    assertAnalysis(' ; -- nothing', { kind: 'other', cacheable: false });
  });
});

describe('strata:cache hints', () => {
  test('a block comment anywhere gives ttl, swr and tags', () => {
    const { hint } = assertAnalysis('select * from products /* strata:cache ttl=60 swr=30 tags=products,featured */ where id = $1', { kind: 'read', cacheable: true });
    assert.deepEqual(hint, { ttlMs: 60_000, swrMs: 30_000, tags: ['products', 'featured'] });
    assert.deepEqual(analyzeStatement('/* strata:cache ttl=5 */ select * from products').hint, { ttlMs: 5000, swrMs: 0, tags: [] });
    assert.deepEqual(analyzeStatement('/*strata:cache ttl=5 tags=a:b.c-d_e,a:b.c-d_e*/ select * from products').hint, { ttlMs: 5000, swrMs: 0, tags: ['a:b.c-d_e'] });
  });

  test('a line comment works too', () => {
    assert.deepEqual(analyzeStatement('select * from products -- strata:cache ttl=10\n where id = 1').hint, { ttlMs: 10_000, swrMs: 0, tags: [] });
  });

  test('the same text inside a string literal, a dollar-quoted string or a quoted identifier is not a hint', () => {
    for (const sql of [
      "select * from notes where body = '/* strata:cache ttl=60 */'",
      'select * from notes where body = $tag$ /* strata:cache ttl=60 */ $tag$',
      'select "/* strata:cache ttl=60 */" from notes',
      "select * from notes where body = '-- strata:cache ttl=60'",
    ]) {
      const analysis = analyzeStatement(sql);
      assert.equal(analysis.hint, undefined, sql);
    }
    // Nor is it a bad hint: the literal's text is never read as one.
    assert.equal(analyzeStatement("select * from notes where body = '/* strata:cache ttl=never */'").hint, undefined);
  });

  test('other comments, and words that only start like the hint, are not hints', () => {
    assert.equal(analyzeStatement('/* app:orders */ select * from t').hint, undefined);
    assert.equal(analyzeStatement('/* strata:cached ttl=zz */ select * from t').hint, undefined);
  });

  test('ttl=0 turns caching off for the statement', () => {
    const analysis = assertAnalysis('/* strata:cache ttl=0 */ select * from products', { kind: 'read', cacheable: false });
    assert.match(analysis.reason ?? '', /ttl=0/);
  });

  test('bad hints throw ProxyCacheError STRATA_PROXY_BAD_CACHE_HINT with what to fix', () => {
    assertBadHint('/* strata:cache */ select 1', /needs ttl=<seconds>/);
    assertBadHint('/* strata:cache swr=10 */ select 1', /needs ttl=<seconds>/);
    assertBadHint('/* strata:cache ttl=soon */ select 1', /ttl=soon: ttl is a whole number of seconds from 0 to 86400/);
    assertBadHint('/* strata:cache ttl=-1 */ select 1', /whole number of seconds/);
    assertBadHint('/* strata:cache ttl=1.5 */ select 1', /whole number of seconds/);
    assertBadHint('/* strata:cache ttl=86401 */ select 1', /from 0 to 86400/);
    assertBadHint('/* strata:cache ttl=60 swr=x */ select 1', /swr=x: swr is a whole number/);
    assertBadHint('/* strata:cache ttl=60 ttl=30 */ select 1', /ttl is given twice/);
    assertBadHint('/* strata:cache ttl=60 maxage=3 */ select 1', /unknown setting "maxage"; a hint takes ttl=<seconds>, swr=<seconds> and tags=<a,b>/);
    assertBadHint('/* strata:cache ttl */ select 1', /ttl needs a value/);
    assertBadHint('/* strata:cache ttl=60 tags= */ select 1', /tags= is empty/);
    assertBadHint('/* strata:cache ttl=60 tags=Products */ select 1', /tag "Products" is not a tag name/);
    assertBadHint('/* strata:cache ttl=60 tags=a,,b */ select 1', /tag "" is not a tag name/);
    assertBadHint(`/* strata:cache ttl=60 tags=${'x'.repeat(65)} */ select 1`, /is not a tag name/);
    const tooMany = Array.from({ length: MAX_CACHE_TAGS + 1 }, (_, i) => `t${i}`).join(',');
    assertBadHint(`/* strata:cache ttl=60 tags=${tooMany} */ select 1`, new RegExp(`${MAX_CACHE_TAGS + 1} tags; at most ${MAX_CACHE_TAGS}`));
    assertBadHint('/* strata:cache ttl=60 */ select 1 /* strata:cache ttl=5 */', /more than one strata:cache comment/);
  });

  test('a bad hint throws every time, not only the first (errors are memoized too)', () => {
    const sql = '/* strata:cache ttl=later */ select * from t';
    assertBadHint(sql, /ttl=later/);
    assertBadHint(sql, /ttl=later/);
  });

  test('a hint on a write or a locking read does not make it cacheable', () => {
    assertAnalysis('/* strata:cache ttl=60 */ update t set a = 1', { kind: 'write', cacheable: false });
    assertAnalysis('/* strata:cache ttl=60 */ select * from t for update', { kind: 'read', cacheable: false });
    assertAnalysis('/* strata:cache ttl=60 */ select now()', { kind: 'read', cacheable: false });
  });
});

describe('cache rules', () => {
  const rules = validateCacheRules([
    { tables: ['products', 'public.categories'], ttlMs: 30_000, swrMs: 60_000, tags: ['catalog'] },
    { tables: ['reporting.*'], ttlMs: 5_000, swrMs: 0 },
    { tables: ['products', 'orders'], ttlMs: 1_000, swrMs: 0 },
  ]);

  test('a cacheable read whose tables one rule covers gets that rule, the first one that covers it', () => {
    assert.deepEqual(resolveCachePolicy(analyzeStatement('select * from products join categories using (category_id)'), rules), {
      ttlMs: 30_000,
      swrMs: 60_000,
      tags: ['catalog'],
      source: 'rule',
    });
    assert.deepEqual(resolveCachePolicy(analyzeStatement('select * from products join orders using (product_id)'), rules), {
      ttlMs: 1_000,
      swrMs: 0,
      tags: [],
      source: 'rule',
    });
  });

  test('schema.* covers every table of the schema, and only of it', () => {
    assert.equal(resolveCachePolicy(analyzeStatement('select * from reporting.daily d join reporting.monthly m using (day)'), rules)?.ttlMs, 5_000);
    assert.equal(resolveCachePolicy(analyzeStatement('select * from reporting.daily join public.orders using (day)'), rules), undefined);
    assert.equal(resolveCachePolicy(analyzeStatement('select * from reportingx.daily'), rules), undefined);
  });

  test('no rule covers a read whose tables span rules, and * covers all', () => {
    assert.equal(resolveCachePolicy(analyzeStatement('select * from categories join orders using (id)'), rules), undefined);
    assert.equal(resolveCachePolicy(analyzeStatement('select * from anything'), validateCacheRules([{ tables: ['*'], ttlMs: 100, swrMs: 0 }]))?.ttlMs, 100);
  });

  test('a hint wins over rules, and ttl=0 turns a covering rule off', () => {
    assert.deepEqual(resolveCachePolicy(analyzeStatement('/* strata:cache ttl=9 tags=hot */ select * from products'), rules), {
      ttlMs: 9_000,
      swrMs: 0,
      tags: ['hot'],
      source: 'hint',
    });
    assert.equal(resolveCachePolicy(analyzeStatement('/* strata:cache ttl=0 */ select * from products'), rules), undefined);
  });

  test('what is not cacheable gets no policy, whatever the rules', () => {
    for (const sql of ['select * from products for update', 'select now(), * from products', 'update products set price = 1', 'select 1']) {
      assert.equal(resolveCachePolicy(analyzeStatement(sql), validateCacheRules([{ tables: ['*'], ttlMs: 1000, swrMs: 0 }])), undefined, sql);
    }
  });

  test('validateCacheRules puts unqualified tables in public and refuses bad rules with what to fix', () => {
    assert.deepEqual(validateCacheRules([{ tables: ['a', 's.b', 's.*', '*'], ttlMs: 1, swrMs: 0, tags: ['x', 'x'] }]), [
      { tables: ['public.a', 's.b', 's.*', '*'], ttlMs: 1, swrMs: 0, tags: ['x'] },
    ]);
    const bad: readonly (readonly [CacheRule, RegExp])[] = [
      [{ tables: [], ttlMs: 1000, swrMs: 0 }, /cache rule 1: tables is empty/],
      [{ tables: ['a b'], ttlMs: 1000, swrMs: 0 }, /"a b" is not a table name/],
      [{ tables: ['a'], ttlMs: 0, swrMs: 0 }, /ttlMs is 0; it must be a whole number of milliseconds from 1/],
      [{ tables: ['a'], ttlMs: 1000, swrMs: -1 }, /swrMs is -1/],
      [{ tables: ['a'], ttlMs: 1000, swrMs: 0, tags: ['Bad'] }, /cache rule 1: tag "Bad" is not a tag name/],
    ];
    for (const [rule, message] of bad) {
      assert.throws(() => validateCacheRules([rule]), (error: unknown) => error instanceof ProxyCacheError && error.code === 'STRATA_PROXY_BAD_CACHE_RULE' && message.test(error.message));
    }
  });
});
