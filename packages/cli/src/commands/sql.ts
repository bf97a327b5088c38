/**
 * `strata sql "<statements>"`: SQL on the database as given, writes included; each statement's
 * rows as a table (or JSON). Several statements run in order in one transaction, like `psql -c`.
 */
import type { Command } from 'commander';
import type { QueryResult } from '@strata/store';
import { CliError, ExitCode, SQLSTATE, UsageError } from '../errors.js';
import { formatValue } from '../format.js';
import type { Host } from '../host.js';
import type { Session } from '../session.js';
import { splitStatements } from '../sql-script.js';
import { renderTable } from '../table.js';

const SQL_HELP = `
Statements run as given, with the rights of the database user: writes and DDL included, and
nothing asks first. One statement runs on its own (VACUUM and CREATE INDEX CONCURRENTLY work).
Several, separated by semicolons, run in order in one transaction and print one result each;
if one fails, none of them takes effect. A failing statement prints PostgreSQL's message and
SQLSTATE and exits 1.`;

/** Words that open or end a transaction; a script of several statements already runs in one. */
const TRANSACTION_CONTROL = /^(?:begin|start|commit|end|abort|rollback(?!\s+(?:work\s+|transaction\s+)?to\b)|prepare\s+transaction)\b/i;

export function registerSqlCommand(program: Command, host: Host): void {
  program
    .command('sql')
    .description('run SQL on the database as given (writes included) and print each statement\'s rows; Strata keeps its tables and views in the strata schema')
    .argument('<statements>', 'e.g. "select status, count(*) from strata.workflows group by status"; several separated by ; run in one transaction')
    .addHelpText('after', SQL_HELP)
    .action(
      host.run(async (session, script: string) => {
        const statements = splitStatements(script);
        if (statements.length === 0) throw new UsageError('no SQL statement given; pass one, e.g. strata sql "select count(*) from strata.workflows"');
        const db = await session.database();
        if (statements.length === 1) return printResults(session, [await db.query(statements[0]!).catch((error: unknown) => rethrow(error, 1, 1))]);
        const control = statements.findIndex((statement) => TRANSACTION_CONTROL.test(statement.replace(/^(?:\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)+/, '')));
        if (control !== -1) {
          throw new UsageError(
            `statement ${control + 1} of ${statements.length} (${JSON.stringify(statements[control]!.slice(0, 40))}) controls the transaction; several statements already run in one transaction, so leave out BEGIN, COMMIT and ROLLBACK`,
          );
        }
        let failed = 0;
        const results = await db
          .transaction(async (tx) => {
            const done: QueryResult[] = [];
            for (const [index, statement] of statements.entries()) {
              failed = index + 1;
              done.push(await tx.query(statement));
            }
            return done;
          })
          // The error stays the driver's inside the transaction, so conflicts and deadlocks are retried.
          .catch((error: unknown) => rethrow(error, failed, statements.length));
        printResults(session, results);
      }),
    );
}

/** A database error of statement `number` of `count` as one line with its SQLSTATE; other errors as they are. */
function rethrow(error: unknown, number: number, count: number): never {
  const sqlState = sqlStateOf(error);
  if (sqlState === undefined) throw error;
  const where = count === 1 ? '' : `statement ${number} of ${count} failed, so none of them took effect: `;
  throw new CliError(`${where}${describePostgresError(error as Error, sqlState)}`, ExitCode.failed);
}

function printResults(session: Session, results: readonly QueryResult[]): void {
  if (session.json) {
    if (results.length === 1) return session.printJson(results[0]!.rows);
    return session.printJson(results.map((result, index) => ({ statement: index + 1, rows: result.rows, rowCount: result.rowCount })));
  }
  results.forEach((result, index) => {
    if (index > 0) session.print('\n');
    session.print(resultText(result));
  });
}

function resultText(result: QueryResult): string {
  if (result.rows.length === 0) return result.rowCount > 0 ? `(${result.rowCount} row${result.rowCount === 1 ? '' : 's'} affected)\n` : '(0 rows)\n';
  const columns = Object.keys(result.rows[0]!);
  const table = renderTable(
    columns.map((header) => ({ header })),
    result.rows.map((row) => columns.map((column) => formatValue(row[column]))),
  );
  return `${table}(${result.rows.length} row${result.rows.length === 1 ? '' : 's'})\n`;
}

/** The SQLSTATE of a PostgreSQL or PGlite error, here or in its causes. */
export function sqlStateOf(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && typeof current === 'object' && depth < 5; current = (current as { cause?: unknown }).cause, depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && SQLSTATE.test(code)) return code;
  }
  return undefined;
}

/** `relation "nope" does not exist (SQLSTATE 42P01, at character 15)`, with PostgreSQL's detail and hint. */
function describePostgresError(error: Error, sqlState: string): string {
  const source = findWithCode(error, sqlState) as { message?: string; position?: string; detail?: string; hint?: string };
  const where = source.position ? `, at character ${source.position}` : '';
  const detail = source.detail ? `; ${source.detail}` : '';
  const hint = source.hint ? `; hint: ${source.hint}` : '';
  return `${source.message ?? error.message} (SQLSTATE ${sqlState}${where})${detail}${hint}`;
}

function findWithCode(error: unknown, code: string): object {
  for (let current = error, depth = 0; current && typeof current === 'object' && depth < 5; current = (current as { cause?: unknown }).cause, depth += 1) {
    if ((current as { code?: unknown }).code === code) return current;
  }
  return error as object;
}
