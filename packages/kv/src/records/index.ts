// The record layer: typed records with secondary indexes kept in the same transaction.

export {
  defineRecordType,
  RecordType,
  type FieldOptions,
  type FieldSpec,
  type FieldType,
  type FieldValue,
  type Fields,
  type IndexDefinition,
  type RecordOf,
  type RecordOfType,
  type RecordTypeDefinition,
  type ValueOfField,
} from './record-type.js';
export {
  DEFAULT_INDEX_BUILD_BATCH_SIZE,
  MAX_INDEX_BUILD_BATCH_SIZE,
  RecordStore,
  type IndexBuildProgress,
  type IndexBuildReport,
  type IndexEntry,
  type IndexScanOptions,
  type RecordScanOptions,
} from './record-store.js';
export type { IndexStatus } from './index-states.js';
export { INDEX_BUILD_WORKFLOW_NAME, indexBuildWorkflow, type IndexBuildable, type IndexBuildWorkflowOptions } from './index-build-workflow.js';
export { IndexNotReadyError, InvalidRecordError, InvalidRecordTypeError, RecordExistsError, RecordNotFoundError, UnknownIndexError } from './errors.js';
