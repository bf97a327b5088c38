/**
 * Splitting the text given to `strata sql` into statements, the way psql does: at semicolons
 * outside quotes, dollar quotes, comments and SQL-standard function bodies (`BEGIN ATOMIC … END`).
 */

/**
 * The statements of `script`, in order, without their separating semicolons; empty statements
 * (only spaces or comments) are left out. A quote or comment left open runs to the end, so the
 * server reports the syntax error.
 *
 * @example
 * splitStatements("insert into t values ('a;b'); select 1;"); // ["insert into t values ('a;b')", 'select 1']
 */
export function splitStatements(script: string): string[] {
  const statements: string[] = [];
  let start = 0;
  /** Depth of BEGIN/CASE … END inside a CREATE FUNCTION or PROCEDURE body. */
  let blockDepth = 0;
  let i = 0;
  const push = (end: number) => {
    const text = script.slice(start, end).trim();
    if (stripComments(text).trim() !== '') statements.push(text);
    start = end + 1;
    blockDepth = 0;
  };
  while (i < script.length) {
    const ch = script[i]!;
    const next = script[i + 1];
    if (ch === '-' && next === '-') {
      const end = script.indexOf('\n', i);
      i = end === -1 ? script.length : end + 1;
    } else if (ch === '/' && next === '*') {
      i = blockCommentEnd(script, i);
    } else if (ch === "'") {
      const escapes = /[eE]$/.test(script.slice(0, i)) && !/[\w$][eE]$/.test(script.slice(Math.max(0, i - 2), i));
      i = quotedEnd(script, i, "'", escapes);
    } else if (ch === '"') {
      i = quotedEnd(script, i, '"', false);
    } else if (ch === '$' && !/[\w$]/.test(script[i - 1] ?? ' ')) {
      const tag = /^\$(?:[A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*)?\$/.exec(script.slice(i));
      if (tag) {
        const close = script.indexOf(tag[0], i + tag[0].length);
        i = close === -1 ? script.length : close + tag[0].length;
      } else {
        i += 1;
      }
    } else if (/[A-Za-z_]/.test(ch) && !/[\w$]/.test(script[i - 1] ?? ' ')) {
      const word = /^[A-Za-z_][\w$]*/.exec(script.slice(i, i + 64))![0].toLowerCase();
      if (inRoutineDefinition(script.slice(start, i))) {
        if (word === 'begin' || word === 'case') blockDepth += 1;
        else if (word === 'end' && blockDepth > 0) blockDepth -= 1;
      }
      i += word.length;
    } else if (ch === ';' && blockDepth === 0) {
      push(i);
      i += 1;
    } else {
      i += 1;
    }
  }
  push(script.length);
  return statements;
}

/** A statement so far that creates a function or procedure, whose SQL-standard body may hold semicolons. */
function inRoutineDefinition(head: string): boolean {
  return /^\s*create\s+(?:or\s+replace\s+)?(?:function|procedure)\b/i.test(stripComments(head));
}

/** Index just past the quote that closes the one at `open`; a doubled quote is part of the text. */
function quotedEnd(script: string, open: number, quote: string, backslashEscapes: boolean): number {
  let i = open + 1;
  while (i < script.length) {
    const ch = script[i]!;
    if (backslashEscapes && ch === '\\') {
      i += 2;
    } else if (ch === quote) {
      if (script[i + 1] === quote) i += 2;
      else return i + 1;
    } else {
      i += 1;
    }
  }
  return script.length;
}

/** Index just past the end of the (nestable) block comment at `open`. */
function blockCommentEnd(script: string, open: number): number {
  let depth = 0;
  let i = open;
  while (i < script.length) {
    if (script[i] === '/' && script[i + 1] === '*') {
      depth += 1;
      i += 2;
    } else if (script[i] === '*' && script[i + 1] === '/') {
      depth -= 1;
      i += 2;
      if (depth === 0) return i;
    } else {
      i += 1;
    }
  }
  return script.length;
}

function stripComments(text: string): string {
  return text.replace(/--[^\n]*/g, ' ').replace(/\/\*[\s\S]*?\*\//g, ' ');
}
