// Splitting a SQL script into its top-level statements, for engines that run one DDL statement per transaction.

/**
 * The statements of `script`, each without its terminating `;`, trimmed, empty ones (and
 * comment-only ones) dropped. It reads PostgreSQL's lexical structure as far as a `;` can hide
 * in it: `--` and nested `/* *\/` comments, single-quoted strings (with `''`, and backslash
 * escapes in `E'…'`), quoted identifiers, and dollar-quoted bodies (`$$…$$`, `$tag$…$tag$`).
 * The store's tests check it against PostgreSQL's own parser (libpg-query) on every migration
 * of the repository.
 *
 * @example
 * splitStatements("create table t (s text default ';'); -- done;\ninsert into t values ($$a;b$$);");
 * // ["create table t (s text default ';')", 'insert into t values ($$a;b$$)']
 */
export function splitStatements(script: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let i = 0;
  const push = (end: number) => {
    const text = script.slice(start, end).trim();
    if (text !== '' && stripComments(text).trim() !== '') statements.push(text);
  };
  while (i < script.length) {
    const c = script[i]!;
    const next = script[i + 1];
    if (c === '-' && next === '-') {
      i = endOfLine(script, i);
    } else if (c === '/' && next === '*') {
      i = endOfBlockComment(script, i);
    } else if (c === "'") {
      const escapes = /[eE]/.test(script[i - 1] ?? '') && !/[\w$]/.test(script[i - 2] ?? '');
      i = endOfQuoted(script, i, "'", escapes);
    } else if (c === '"') {
      i = endOfQuoted(script, i, '"', false);
    } else if (c === '$' && !/[\w$]/.test(script[i - 1] ?? '')) {
      const tag = /^\$([A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*)?\$/.exec(script.slice(i))?.[0];
      if (tag === undefined) {
        i++; // a parameter ($1) or a lone $
      } else {
        const close = script.indexOf(tag, i + tag.length);
        i = close < 0 ? script.length : close + tag.length;
      }
    } else if (c === ';') {
      push(i);
      start = ++i;
    } else {
      i++;
    }
  }
  push(script.length);
  return statements;
}

function endOfLine(script: string, i: number): number {
  const newline = script.indexOf('\n', i);
  return newline < 0 ? script.length : newline + 1;
}

/** After the `*\/` that closes the comment opened at `i`; block comments nest in PostgreSQL. */
function endOfBlockComment(script: string, i: number): number {
  let depth = 0;
  while (i < script.length) {
    if (script[i] === '/' && script[i + 1] === '*') {
      depth++;
      i += 2;
    } else if (script[i] === '*' && script[i + 1] === '/') {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else {
      i++;
    }
  }
  return i;
}

/** After the quote that closes the one at `i`; a doubled quote is part of the text. */
function endOfQuoted(script: string, i: number, quote: string, backslashEscapes: boolean): number {
  i++;
  while (i < script.length) {
    const c = script[i];
    if (backslashEscapes && c === '\\') {
      i += 2;
    } else if (c === quote) {
      if (script[i + 1] === quote) i += 2;
      else return i + 1;
    } else {
      i++;
    }
  }
  return i;
}

/** `text` without its comments (outside strings), to tell a comment-only piece from a statement. */
function stripComments(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    if (text[i] === '-' && text[i + 1] === '-') i = endOfLine(text, i);
    else if (text[i] === '/' && text[i + 1] === '*') i = endOfBlockComment(text, i);
    else out += text[i++];
  }
  return out;
}
