-- Streaming read replicas (src/replicas/): a replica is an instance of its own, a standby of the
-- instance in replica_of on the same node. A primary that lost a promotion to one of its replicas is
-- FENCED: stopped, and never started again. A synchronous primary's commits wait for one replica.
alter table strata_cloud.instances drop constraint instances_status_check;
alter table strata_cloud.instances add constraint instances_status_check
  check (status in ('BUILD', 'ACTIVE', 'RESIZE', 'RESTART_REQUIRED', 'STOPPED', 'ERROR', 'DELETED', 'UNKNOWN', 'RESTORING', 'FENCED'));
alter table strata_cloud.instances add column replica_of text references strata_cloud.instances (instance_id);
alter table strata_cloud.instances add column synchronous boolean not null default false;
create index instances_replica_of on strata_cloud.instances (replica_of) where status <> 'DELETED';
