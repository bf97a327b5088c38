// splitStatements (migrations one statement at a time, on the portable profile) against
// PostgreSQL's own parser: libpg-query's statement boundaries for every migration in the repo,
// and for scripts written to hide semicolons in every place the lexer knows.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { loadModule, parseSync } from 'libpg-query';
import { splitStatements } from '@strata/store';
import { REPO_ROOT } from './helpers.js';

/** The statements as PostgreSQL's parser delimits them, trimmed (the parser's lengths exclude the `;`). */
function parserStatements(script: string): string[] {
  const parsed = parseSync(script) as { stmts?: Array<{ stmt_location?: number; stmt_len?: number }> };
  const bytes = Buffer.from(script, 'utf8');
  return (parsed.stmts ?? []).map(({ stmt_location = 0, stmt_len }) =>
    bytes.subarray(stmt_location, stmt_len === undefined || stmt_len === 0 ? bytes.length : stmt_location + stmt_len).toString('utf8').replace(/;\s*$/, '').trim(),
  );
}

/** What the parser keeps of a statement: its text without leading comments (they belong to no statement). */
function withoutLeadingComments(statement: string): string {
  let text = statement.trimStart();
  for (;;) {
    if (text.startsWith('--')) {
      const newline = text.indexOf('\n');
      text = newline < 0 ? '' : text.slice(newline + 1).trimStart();
    } else if (text.startsWith('/*')) {
      let depth = 0;
      let i = 0;
      do {
        if (text.startsWith('/*', i)) (depth++, (i += 2));
        else if (text.startsWith('*/', i)) (depth--, (i += 2));
        else i++;
      } while (depth > 0 && i < text.length);
      text = text.slice(i).trimStart();
    } else {
      return text;
    }
  }
}

function migrationFiles(): string[] {
  const files: string[] = [];
  for (const pkg of readdirSync(join(REPO_ROOT, 'packages'))) {
    for (const folder of ['migrations', 'app-migrations']) {
      const dir = join(REPO_ROOT, 'packages', pkg, folder);
      try {
        for (const file of readdirSync(dir)) if (file.endsWith('.sql')) files.push(join(dir, file));
      } catch {
        // no such folder
      }
    }
  }
  return files;
}

before(async () => {
  await loadModule();
});

test('every migration of the repository splits where PostgreSQL parser splits it', () => {
  const files = migrationFiles();
  assert.ok(files.length > 20, `found only ${files.length} migration files`);
  for (const file of files) {
    const script = readFileSync(file, 'utf8');
    assert.deepEqual(splitStatements(script).map(withoutLeadingComments), parserStatements(script), file);
  }
});

test('semicolons inside strings, identifiers, comments and dollar quotes do not split', () => {
  const script = [
    "create table \"we;ird\" (s text default 'it''s; fine', e text default E'back\\\\slash\\'; quote')",
    '/* a; /* nested; */ comment */ insert into "we;ird" values ($$a;b$$, $tag$ $$; $tag$)',
    "create function f() returns int language plpgsql as $body$ begin return 1; end; $body$",
    '-- only a comment; here',
    'select 1 -- trailing; comment\n',
  ].join(';\n');
  const ours = splitStatements(script).map(withoutLeadingComments);
  assert.equal(ours.length, 4);
  assert.deepEqual(ours, parserStatements(script));
});
