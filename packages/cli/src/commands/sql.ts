/**
 * `strata sql "<statement>"`: one SQL statement on the database, rows as a table or JSON.
 */
import type { Command } from 'commander';
import { formatValue } from '../format.js';
import type { Host } from '../host.js';
import { renderTable } from '../table.js';

export function registerSqlCommand(program: Command, host: Host): void {
  program
    .command('sql')
    .description('run one SQL statement on the database and print its rows (Strata keeps its tables and views in the strata schema)')
    .argument('<statement>', "e.g. \"select status, count(*) from strata.workflows group by status\"")
    .action(
      host.run(async (session, statement: string) => {
        const result = await (await session.database()).query(statement);
        if (session.json) return session.printJson(result.rows);
        if (result.rows.length === 0) return session.print(result.rowCount > 0 ? `(${result.rowCount} row${result.rowCount === 1 ? '' : 's'} affected)\n` : '(0 rows)\n');
        const columns = Object.keys(result.rows[0]!);
        session.print(
          renderTable(
            columns.map((header) => ({ header })),
            result.rows.map((row) => columns.map((column) => formatValue(row[column]))),
          ),
        );
        session.print(`(${result.rows.length} row${result.rows.length === 1 ? '' : 's'})\n`);
      }),
    );
}
