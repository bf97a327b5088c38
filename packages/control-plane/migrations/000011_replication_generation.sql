-- Numbers each read of a primary's replicas made to apply its replication (cloud.replication.apply
-- and the replica operations): the agent skips an apply older than the last it applied.
alter table strata_cloud.instances add column replication_generation bigint not null default 0;
