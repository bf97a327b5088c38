// Configuration-group parameters checked against the server's own catalogue (pg_settings): name, type, unit, range, enum values.
import type { CatalogueSetting } from '@strata/agent';

/**
 * Parameters the platform sets itself (from the flavor, or to run and reach the instance):
 * a group that changed them would break the flavor's memory budget or cut the platform off.
 */
const PLATFORM_PARAMETERS: ReadonlySet<string> = new Set([
  'shared_buffers',
  'max_connections',
  'effective_cache_size',
  'port',
  'listen_addresses',
  'unix_socket_directories',
  'unix_socket_group',
  'unix_socket_permissions',
  'password_encryption',
  'ssl',
  'wal_level',
  'archive_mode',
]);

/**
 * Parameters that would let a tenant run programs or load code as the server's OS user, read or
 * write files outside its databases, or give up crash safety: never settable.
 */
const UNSAFE_PARAMETERS: ReadonlySet<string> = new Set([
  'archive_command',
  'archive_library',
  'restore_command',
  'archive_cleanup_command',
  'recovery_end_command',
  'ssl_passphrase_command',
  'shared_preload_libraries',
  'local_preload_libraries',
  'session_preload_libraries',
  'dynamic_library_path',
  'jit_provider',
  'data_directory',
  'config_file',
  'hba_file',
  'ident_file',
  'external_pid_file',
  'log_directory',
  'log_filename',
  'log_file_mode',
  'logging_collector',
  'log_destination',
  'fsync',
  'full_page_writes',
  'data_sync_retry',
  'allow_system_table_mods',
  'ignore_system_indexes',
  'ignore_checksum_failure',
  'ignore_invalid_pages',
  'zero_damaged_pages',
  'lo_compat_privileges',
]);

/**
 * String parameters a group may set. Every other string parameter is a path, a command or a
 * library list, which a tenant must not choose.
 */
const SETTABLE_STRING_PARAMETERS: ReadonlySet<string> = new Set([
  'application_name',
  'search_path',
  'timezone',
  'log_timezone',
  'datestyle',
  'default_text_search_config',
  'lc_messages',
  'lc_monetary',
  'lc_numeric',
  'lc_time',
  'log_line_prefix',
  'default_tablespace',
  'temp_tablespaces',
  'cluster_name',
]);

/** Longest string value accepted: parameters are short; a longer one is a mistake or an attack. */
export const MAX_PARAMETER_VALUE_LENGTH = 1_024;

/** Bytes per memory unit PostgreSQL accepts in a value. */
const MEMORY_UNIT_BYTES: Readonly<Record<string, number>> = { B: 1, kB: 1_024, MB: 1_024 ** 2, GB: 1_024 ** 3, TB: 1_024 ** 4 };

/** Milliseconds per time unit PostgreSQL accepts in a value. */
const TIME_UNIT_MS: Readonly<Record<string, number>> = { us: 0.001, ms: 1, s: 1_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** A number with an optional unit, as PostgreSQL reads integer and real settings ("8MB", "1.5 s", "-1"). */
const NUMBER_WITH_UNIT = /^(-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-zA-Z]*)$/;

/** PostgreSQL's spellings of a boolean. */
const BOOLEAN_VALUES: Readonly<Record<string, 'on' | 'off'>> = { on: 'on', off: 'off', true: 'on', false: 'off', yes: 'on', no: 'off', '1': 'on', '0': 'off' };

/** Why a parameter of a group was refused. */
export type ParameterProblemCode = 'unknown_parameter' | 'parameter_not_allowed' | 'invalid_parameter_value';

/** One refused parameter: which, why, and what is allowed. */
export interface ParameterProblem {
  readonly parameter: string;
  readonly code: ParameterProblemCode;
  readonly message: string;
  /** The allowed range (`{ min, max, unit }`) or values (`{ values }`), when the value was the problem. */
  readonly allowed?: { readonly min: number | null; readonly max: number | null; readonly unit: string | null } | { readonly values: readonly string[] };
}

/** The outcome of {@link checkParameters}: the values to store (in the catalogue's spelling) and the problems. */
export interface CheckedParameters {
  /** Name (as the catalogue spells it) → value (booleans and enums normalised). */
  readonly parameters: Readonly<Record<string, string>>;
  /** Names of the accepted parameters that need a server restart to take effect. */
  readonly restartRequired: readonly string[];
  readonly problems: readonly ParameterProblem[];
}

/**
 * Checks a configuration group's parameters against a server's catalogue: the name must exist
 * (case-insensitively, as in postgresql.conf), be settable by tenants, and the value must have the
 * setting's type, a unit of its kind, and lie within its min/max; enum values must be listed.
 *
 * @example
 * const { problems } = checkParameters({ work_mem: '4TB', max_prepared_transactions: '10' }, catalogue);
 * // [{ parameter: 'work_mem', code: 'invalid_parameter_value', message: 'work_mem = "4TB" is out of range: use 64kB to 2147483647kB', … }]
 */
export function checkParameters(requested: Readonly<Record<string, string>>, catalogue: readonly CatalogueSetting[]): CheckedParameters {
  const byName = new Map(catalogue.map((setting) => [setting.name.toLowerCase(), setting]));
  const parameters: Record<string, string> = {};
  const restartRequired: string[] = [];
  const problems: ParameterProblem[] = [];
  for (const [requestedName, rawValue] of Object.entries(requested)) {
    const setting = byName.get(requestedName.toLowerCase());
    if (setting === undefined || setting.context === 'internal') {
      problems.push({
        parameter: requestedName,
        code: 'unknown_parameter',
        message: setting === undefined
          ? `"${requestedName}" is not a parameter of this PostgreSQL server (see pg_settings); check its spelling`
          : `"${requestedName}" is a read-only parameter of this PostgreSQL server; it cannot be set`,
      });
      continue;
    }
    const lowered = setting.name.toLowerCase();
    if (PLATFORM_PARAMETERS.has(lowered) || UNSAFE_PARAMETERS.has(lowered) || (setting.vartype === 'string' && !SETTABLE_STRING_PARAMETERS.has(lowered))) {
      problems.push({
        parameter: setting.name,
        code: 'parameter_not_allowed',
        message: PLATFORM_PARAMETERS.has(lowered)
          ? `"${setting.name}" is set by the platform (from the flavor or to reach the instance); resize the instance instead`
          : `"${setting.name}" cannot be set by tenants: it names files, programs or libraries on the server, or turns off crash safety`,
      });
      continue;
    }
    const checked = checkValue(setting, String(rawValue));
    if ('problem' in checked) {
      problems.push({ parameter: setting.name, code: 'invalid_parameter_value', message: checked.problem, ...(checked.allowed === undefined ? {} : { allowed: checked.allowed }) });
      continue;
    }
    parameters[setting.name] = checked.value;
    if (setting.restartRequired) restartRequired.push(setting.name);
  }
  return { parameters, restartRequired, problems };
}

type ValueCheck = { readonly value: string } | { readonly problem: string; readonly allowed?: ParameterProblem['allowed'] };

/** One value against its setting's type and bounds. */
function checkValue(setting: CatalogueSetting, raw: string): ValueCheck {
  const value = raw.trim();
  const shown = `${setting.name} = ${JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw)}`;
  switch (setting.vartype) {
    case 'bool': {
      const normalised = BOOLEAN_VALUES[value.toLowerCase()];
      return normalised === undefined ? { problem: `${shown} is not a boolean: use on or off`, allowed: { values: ['on', 'off'] } } : { value: normalised };
    }
    case 'enum': {
      const values = setting.enumValues ?? [];
      const match = values.find((candidate) => candidate.toLowerCase() === value.toLowerCase());
      return match === undefined ? { problem: `${shown} is not allowed: use one of ${values.join(', ')}`, allowed: { values } } : { value: match };
    }
    case 'integer':
    case 'real':
      return checkNumber(setting, value, shown);
    case 'string': {
      // eslint-disable-next-line no-control-regex
      if (value.length > MAX_PARAMETER_VALUE_LENGTH || /[\u0000-\u001f\u007f]/.test(raw)) {
        return { problem: `${shown} must be at most ${MAX_PARAMETER_VALUE_LENGTH} characters without control characters` };
      }
      return { value: raw };
    }
  }
}

/** An integer or real value with an optional unit, converted to the setting's unit and checked against min/max. */
function checkNumber(setting: CatalogueSetting, value: string, shown: string): ValueCheck {
  const allowed = { min: setting.min, max: setting.max, unit: setting.unit };
  const range = describeRange(setting);
  const match = NUMBER_WITH_UNIT.exec(value);
  if (match === null) return { problem: `${shown} is not a number${setting.unit ? ` (with an optional unit, e.g. 8${baseUnit(setting.unit)})` : ''}: use ${range}`, allowed };
  const number = Number(match[1]);
  const valueUnit = match[2] ?? '';
  let inSettingUnits = number;
  if (valueUnit !== '') {
    const factor = unitFactor(setting.unit, valueUnit);
    if (factor === undefined) {
      return { problem: `${shown} has a unit PostgreSQL does not accept for this parameter: ${setting.unit === null ? 'give a plain number' : `use ${unitsOfKind(setting.unit).join(', ')}`}; ${range}`, allowed };
    }
    inSettingUnits = number * factor;
  }
  if (setting.vartype === 'integer') inSettingUnits = Math.round(inSettingUnits);
  if (!Number.isFinite(inSettingUnits) || (setting.min !== null && inSettingUnits < setting.min) || (setting.max !== null && inSettingUnits > setting.max)) {
    return { problem: `${shown} is out of range: use ${range}`, allowed };
  }
  if (setting.vartype === 'integer' && valueUnit === '' && !Number.isInteger(number)) {
    return { problem: `${shown} must be a whole number: use ${range}`, allowed };
  }
  return { value: `${match[1]}${valueUnit}` };
}

/** "64kB to 2147483647kB", "16 to 1073741823 (× 8kB)", "0 to 100". */
function describeRange(setting: CatalogueSetting): string {
  const { min, max, unit } = setting;
  if (unit === null || unit === '') return `${min ?? '-∞'} to ${max ?? '∞'}`;
  if (/^\d/.test(unit)) return `${min ?? '-∞'} to ${max ?? '∞'} (in units of ${unit})`;
  return `${min ?? '-∞'}${unit} to ${max ?? '∞'}${unit}`;
}

/** How many of the setting's units one `valueUnit` is ("MB" in a "kB" setting: 1024); undefined when the kinds differ. */
function unitFactor(settingUnit: string | null, valueUnit: string): number | undefined {
  if (settingUnit === null || settingUnit === '') return undefined;
  const parsed = /^(\d*)(.*)$/.exec(settingUnit);
  const multiple = parsed?.[1] ? Number(parsed[1]) : 1;
  const base = parsed?.[2] ?? '';
  const memoryBase = MEMORY_UNIT_BYTES[base];
  const memoryValue = MEMORY_UNIT_BYTES[valueUnit];
  if (memoryBase !== undefined) return memoryValue === undefined ? undefined : memoryValue / (memoryBase * multiple);
  const timeBase = TIME_UNIT_MS[base];
  const timeValue = TIME_UNIT_MS[valueUnit];
  if (timeBase !== undefined) return timeValue === undefined ? undefined : timeValue / (timeBase * multiple);
  return undefined;
}

/** The units accepted for a setting's unit kind. */
function unitsOfKind(settingUnit: string): string[] {
  const base = settingUnit.replace(/^\d+/, '');
  return MEMORY_UNIT_BYTES[base] !== undefined ? Object.keys(MEMORY_UNIT_BYTES) : Object.keys(TIME_UNIT_MS);
}

/** "kB" of "8kB". */
function baseUnit(settingUnit: string): string {
  return settingUnit.replace(/^\d+/, '');
}
