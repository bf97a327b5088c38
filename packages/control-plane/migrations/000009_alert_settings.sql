-- A tenant's settings of the built-in alert rules (component "control-plane"): turned off, or a
-- threshold and a duration of its own. No row: the rule's defaults. See packages/control-plane/README.md "Alerts".
create table strata_cloud.alert_builtin_settings (
  tenant_id text not null,
  -- The built-in rule's name (archiving_failing, backup_too_old, …; the list is in src/alerts/rules.ts).
  rule_name text not null,
  enabled boolean not null default true,
  -- null: the rule's default.
  threshold double precision,
  -- null: the rule's default.
  duration_seconds integer check (duration_seconds between 0 and 86400),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, rule_name)
);
