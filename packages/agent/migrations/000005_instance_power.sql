-- Scale to zero (issue 14): an instance's power state on its node, written by the agent's
-- PowerControl (src/power/) at each suspend and wake. 'frozen': its processes are stopped by the
-- cgroup freezer, memory kept; 'stopped': shut down to free memory, started again by the next
-- wake. Both are suspensions, distinct from an owner's stop (node_instances.desired stays
-- 'running'); no row means the instance was never suspended.
create table strata_cloud.instance_power (
  node_id text not null,
  instance_id text not null,
  state text not null check (state in ('running', 'frozen', 'stopped')),
  -- When it entered this state.
  changed_at timestamptz not null default now(),
  -- Wakes from a suspension so far, how long the last one took (ms, until it accepted
  -- connections) and what it woke from.
  wakes bigint not null default 0,
  last_wake_ms double precision,
  last_wake_from text check (last_wake_from in ('frozen', 'stopped')),
  primary key (node_id, instance_id)
);

-- Compute time: how long each instance ran (not frozen, not stopped) in each minute, added up by
-- the agent's flusher every few seconds in one statement. The control plane's usage API reads it.
create table strata_cloud.instance_compute (
  instance_id text not null,
  minute timestamptz not null,
  running_ms bigint not null default 0,
  primary key (instance_id, minute)
);

-- A sample of a suspended instance says so (its other columns are null: it is not asked).
alter table strata_cloud.instance_metrics add column power_state text check (power_state in ('running', 'frozen', 'stopped'));
