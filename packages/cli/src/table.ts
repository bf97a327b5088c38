/**
 * Plain aligned text tables: a header row, then one line per row, columns separated by two
 * spaces. Easy to read in a terminal and to cut with `awk`. Cells and values show control
 * characters as escapes (`\r`, `\x1b`), so what a workflow stored cannot act on the terminal.
 */
import { visible } from './format.js';

/** How a column lines up. */
export type Align = 'left' | 'right';

/** One column: its header and alignment. */
export interface Column {
  readonly header: string;
  readonly align?: Align;
}

/** Longest cell, in characters; longer values are cut with an ellipsis so one cell cannot push the others off screen. */
export const CELL_WIDTH_MAX = 80;

/**
 * Renders rows under headers, each column as wide as its widest cell.
 *
 * @example
 * renderTable([{ header: 'NAME' }, { header: 'RUNNING', align: 'right' }], [['emails', '3']]);
 * // NAME    RUNNING
 * // emails        3
 */
export function renderTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const cells = rows.map((row) => columns.map((_, i) => cell(row[i] ?? '')));
  const widths = columns.map((column, i) => Math.max(column.header.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: readonly string[]) =>
    values
      .map((value, i) => (columns[i]!.align === 'right' ? value.padStart(widths[i]!) : value.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((column) => column.header)), ...cells.map(line)].join('\n') + '\n';
}

/** One line, at most {@link CELL_WIDTH_MAX} characters; newlines and other controls shown as escapes. */
function cell(value: string): string {
  return abbreviate(visible(value), CELL_WIDTH_MAX);
}

/** `value` cut to `widthMax` characters, ending in `…` when cut. */
export function abbreviate(value: string, widthMax: number): string {
  return value.length <= widthMax ? value : `${value.slice(0, Math.max(0, widthMax - 1))}…`;
}

/**
 * Renders labelled values one per line, labels padded to one width.
 *
 * @example
 * renderFields([['name', 'emails'], ['concurrency', '4']]);
 * // name         emails
 * // concurrency  4
 */
export function renderFields(fields: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...fields.map(([label]) => label.length));
  return fields.map(([label, value]) => `${visible(label).padEnd(width)}  ${visible(value)}`.trimEnd()).join('\n') + '\n';
}
