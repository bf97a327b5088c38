-- A fork remembers its parent (src/backups/), so it can be reset to the parent's present.
alter table strata_cloud.instances add column forked_from text references strata_cloud.instances (instance_id);
