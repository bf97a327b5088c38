// PostgreSQL parameters a tenant may set when creating an instance: a conservative allowlist with types and ranges.
//
// Configuration groups (src/instance-admin/) validate against the server's own catalogue
// (pg_settings); at create time no server exists yet, so create accepts this subset, whose
// ranges are those of PostgreSQL 15's pg_settings (or tighter where a larger value would let one
// instance starve the node).

/** The type and range of one allowed parameter. */
type ParameterRule =
  | { readonly type: 'integer'; readonly min: number; readonly max: number; readonly unit?: 'kB' | 'ms' }
  | { readonly type: 'real'; readonly min: number; readonly max: number }
  | { readonly type: 'enum'; readonly values: readonly string[] }
  | { readonly type: 'bool' };

/** Parameters a create may set. Memory and connection settings come from the flavor and are not here. */
export const CREATE_PARAMETERS: Readonly<Record<string, ParameterRule>> = {
  work_mem: { type: 'integer', min: 64, max: 1_048_576, unit: 'kB' },
  maintenance_work_mem: { type: 'integer', min: 1_024, max: 2_097_152, unit: 'kB' },
  statement_timeout: { type: 'integer', min: 0, max: 2_147_483_647, unit: 'ms' },
  lock_timeout: { type: 'integer', min: 0, max: 2_147_483_647, unit: 'ms' },
  idle_in_transaction_session_timeout: { type: 'integer', min: 0, max: 2_147_483_647, unit: 'ms' },
  log_min_duration_statement: { type: 'integer', min: -1, max: 2_147_483_647, unit: 'ms' },
  default_statistics_target: { type: 'integer', min: 1, max: 10_000 },
  max_parallel_workers_per_gather: { type: 'integer', min: 0, max: 8 },
  random_page_cost: { type: 'real', min: 0, max: 1_000 },
  seq_page_cost: { type: 'real', min: 0, max: 1_000 },
  jit: { type: 'bool' },
  log_statement: { type: 'enum', values: ['none', 'ddl', 'mod', 'all'] },
  default_transaction_isolation: { type: 'enum', values: ['serializable', 'repeatable read', 'read committed', 'read uncommitted'] },
};

const UNIT_FACTORS: Record<'kB' | 'ms', Record<string, number>> = {
  kB: { '': 1, kB: 1, MB: 1_024, GB: 1_048_576 },
  ms: { '': 1, ms: 1, s: 1_000, min: 60_000, h: 3_600_000 },
};

/** One parameter's problem: the parameter and what to fix. */
export interface ParameterProblem {
  readonly name: string;
  readonly code: 'unknown_parameter' | 'invalid_parameter';
  readonly message: string;
}

/**
 * The problems of a create's parameters (empty when they are fine).
 *
 * @example
 * parameterProblems({ work_mem: '8MB' });        // []
 * parameterProblems({ shared_buffers: '1GB' });  // [{ name: 'shared_buffers', code: 'unknown_parameter', … }]
 */
export function parameterProblems(parameters: Readonly<Record<string, string>>): ParameterProblem[] {
  const problems: ParameterProblem[] = [];
  for (const [name, value] of Object.entries(parameters)) {
    const rule = CREATE_PARAMETERS[name];
    if (rule === undefined) {
      problems.push({
        name,
        code: 'unknown_parameter',
        message: `parameter "${name}" cannot be set at create (memory and connections come from the flavor); settable: ${Object.keys(CREATE_PARAMETERS).join(', ')}`,
      });
      continue;
    }
    const problem = valueProblem(rule, value);
    if (problem !== undefined) problems.push({ name, code: 'invalid_parameter', message: `parameter "${name}" = ${JSON.stringify(value)}: ${problem}` });
  }
  return problems;
}

function valueProblem(rule: ParameterRule, value: string): string | undefined {
  switch (rule.type) {
    case 'bool':
      return /^(on|off|true|false)$/i.test(value) ? undefined : 'use on or off';
    case 'enum':
      return rule.values.includes(value) ? undefined : `use one of ${rule.values.join(', ')}`;
    case 'real': {
      const number = Number(value);
      if (value.trim() === '' || !Number.isFinite(number)) return 'use a number';
      return number < rule.min || number > rule.max ? `use a number from ${rule.min} to ${rule.max}` : undefined;
    }
    case 'integer': {
      const match = /^(-?\d+)\s*([a-zA-Z]*)$/.exec(value.trim());
      const factors = rule.unit ? UNIT_FACTORS[rule.unit] : { '': 1 };
      const factor = match ? factors[match[2] ?? ''] : undefined;
      if (!match || factor === undefined) return `use a whole number${rule.unit ? ` with an optional unit (${Object.keys(factors).filter(Boolean).join(', ')})` : ''}`;
      const number = Number(match[1]) * factor;
      const unit = rule.unit ?? '';
      return number < rule.min || number > rule.max ? `out of range: use ${rule.min}${unit} to ${rule.max}${unit}` : undefined;
    }
  }
}
