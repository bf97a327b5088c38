-- Parameters set on an instance after its create, by another module (today: the attached
-- configuration group's). Merged over the create parameters whenever the control plane sends an
-- instance's settings again, so a resize keeps them. See packages/control-plane/README.md.
alter table strata_cloud.instances
  add column parameter_overrides jsonb not null default '{}'::jsonb;
-- Instances with a group attached before this column existed get its parameters.
update strata_cloud.instances i
   set parameter_overrides = g.parameters
  from strata_cloud.config_groups g
 where g.group_id = i.config_group_id;
