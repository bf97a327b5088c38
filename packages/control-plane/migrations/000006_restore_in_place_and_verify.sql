-- An instance restored in place is RESTORING until its data is the target's and it runs again; the
-- full backup it takes then (the base of its new timeline) is a backup of trigger 'restore'.
alter table strata_cloud.instances drop constraint instances_status_check;
alter table strata_cloud.instances add constraint instances_status_check
  check (status in ('BUILD', 'ACTIVE', 'RESIZE', 'RESTART_REQUIRED', 'STOPPED', 'ERROR', 'DELETED', 'UNKNOWN', 'RESTORING'));
alter table strata_cloud.backups drop constraint backups_trigger_check;
alter table strata_cloud.backups add constraint backups_trigger_check check (trigger in ('initial', 'manual', 'scheduled', 'restore'));

-- A periodic restore test of an instance's backups (a Strata schedule "verify.<instance_id>").
alter table strata_cloud.backup_policies add column verify_cron text;
alter table strata_cloud.backup_policies add column verify_timezone text not null default 'UTC';
