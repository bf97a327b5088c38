// Streaming replication between managed instances: clone a standby, wait for it to stream,
// promote it, point it at another primary, synchronous standbys, slots and lag. Re-exports only.

export { copyRunningInstance, type OnlineCopy } from './online-copy.js';
export { PgReplicationError, type PgReplicationErrorCode } from './errors.js';
export {
  REPLICATION_HBA_LINE,
  REPLICATION_WAIT_MS,
  catchUpWithSiblings,
  cloneStandby,
  dropSlot,
  followPrimary,
  isStandby,
  promoteStandby,
  setSynchronousStandbys,
  standbyStatuses,
  timelineOf,
  waitForStreaming,
  type StandbyStatus,
} from './standby.js';
