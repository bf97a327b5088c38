// What `pgbackrest info --output=json` says about a stanza, as typed backup sets.

import { PgBackupError } from './errors.js';

/** One backup set in the repository. */
export interface BackupSet {
  /** pgBackRest's label, e.g. `20261206-164752F` (or `…F_…I` for an incremental). */
  readonly label: string;
  readonly type: 'full' | 'diff' | 'incr';
  /** The backup this one builds on (null for a full). */
  readonly prior: string | null;
  /** When the backup started and stopped (whole seconds, as pgBackRest records them). */
  readonly startedAt: Date;
  readonly stoppedAt: Date;
  /** Size of the database it holds, and what it takes in the repository (compressed; for diff/incr only the new files). */
  readonly sizeBytes: number;
  readonly repositorySizeBytes: number;
  readonly deltaBytes: number;
  readonly repositoryDeltaBytes: number;
  /** First and last WAL segment it needs. */
  readonly walStart: string;
  readonly walStop: string;
  readonly lsnStart: string;
  readonly lsnStop: string;
  /** Annotations given at backup time (Strata puts its backup ID there). */
  readonly annotations: Readonly<Record<string, string>>;
  /** pgBackRest found page checksum errors while copying. */
  readonly checksumErrors: boolean;
}

/** A stanza's state: its backups (oldest first) and the WAL range its archive holds. */
export interface StanzaInfo {
  readonly backups: readonly BackupSet[];
  readonly walMin: string | null;
  readonly walMax: string | null;
}

interface RawBackup {
  label: string;
  type: 'full' | 'diff' | 'incr';
  prior: string | null;
  error?: boolean;
  annotation?: Record<string, string>;
  timestamp: { start: number; stop: number };
  info: { size: number; delta: number; repository: { size: number; delta: number } };
  archive: { start: string; stop: string };
  lsn: { start: string; stop: string };
}

interface RawStanza {
  name: string;
  status: { code: number; message: string };
  backup?: RawBackup[];
  archive?: Array<{ min: string | null; max: string | null }>;
}

/** The error pgBackRest reports for a stanza that does not exist (status code 1: "missing stanza path"). */
const MISSING_STANZA_CODES: ReadonlySet<number> = new Set([1]);

/** Parses info's JSON for `stanza`; undefined when the repository has no such stanza. */
export function parseStanzaInfo(json: string, stanza: string): StanzaInfo | undefined {
  let parsed: RawStanza[];
  try {
    parsed = JSON.parse(json) as RawStanza[];
  } catch (error) {
    throw new PgBackupError('PG_BACKUP_FAILED', `pgbackrest info printed something that is not JSON: ${json.slice(0, 200)}`, { cause: error });
  }
  const raw = parsed.find((entry) => entry.name === stanza);
  if (raw === undefined || MISSING_STANZA_CODES.has(raw.status.code)) return undefined;
  const archives = raw.archive ?? [];
  return {
    backups: (raw.backup ?? []).map(toBackupSet),
    walMin: archives.map((a) => a.min).filter((v): v is string => v !== null).sort()[0] ?? null,
    walMax: archives.map((a) => a.max).filter((v): v is string => v !== null).sort().at(-1) ?? null,
  };
}

function toBackupSet(raw: RawBackup): BackupSet {
  return {
    label: raw.label,
    type: raw.type,
    prior: raw.prior,
    startedAt: new Date(raw.timestamp.start * 1000),
    stoppedAt: new Date(raw.timestamp.stop * 1000),
    sizeBytes: raw.info.size,
    repositorySizeBytes: raw.info.repository.size,
    deltaBytes: raw.info.delta,
    repositoryDeltaBytes: raw.info.repository.delta,
    walStart: raw.archive.start,
    walStop: raw.archive.stop,
    lsnStart: raw.lsn.start,
    lsnStop: raw.lsn.stop,
    annotations: raw.annotation ?? {},
    checksumErrors: raw.error === true,
  };
}
