-- Fencing (see docs/transact.md, "Faults"): every registration of an executor ID gets a new
-- epoch, and a workflow records the epoch of the registration that owns it. Checkpoint,
-- transaction and end writes require the writer's executor ID and epoch to still be the
-- workflow's, so an executor that lost its lease (paused, partitioned) and whose workflows were
-- taken over commits nothing for them.
alter table strata.executors add column epoch bigint not null default 0;
alter table strata.workflows add column executor_epoch bigint not null default 0;
comment on column strata.executors.epoch is 'Incremented by every registration of this executor ID; the fencing token of its writes';
comment on column strata.workflows.executor_epoch is 'The epoch of the executor registration that owns this workflow; writes of other epochs are refused';
