-- The generation of the last replication settings applied to a primary (agent.replication): the
-- control plane numbers its reads of a primary's replicas, and an apply older than the last one
-- applied is skipped, so two applies that reach the agent out of order cannot leave the older.
alter table strata_cloud.node_instances add column replication_generation bigint not null default 0;
