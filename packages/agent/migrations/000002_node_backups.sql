-- Where a node's instances archive their WAL and keep their backups (null: the node takes no backups).
alter table strata_cloud.nodes add column backup_repository text;
