-- The node agent's tables (component "agent"): each agent's registration, and what should run on it.
create schema if not exists strata_cloud;

-- One row per node agent; heartbeat_at is renewed while the agent runs (liveness is judged by the control plane).
create table strata_cloud.nodes (
  node_id text primary key,
  root_dir text not null,
  capacity_memory_mb integer not null check (capacity_memory_mb > 0),
  capacity_instances integer not null check (capacity_instances > 0),
  heartbeat_at timestamptz not null default now(),
  started_at timestamptz not null default now()
);

-- What should exist on a node, written by its jobs: provision inserts, start/stop set desired,
-- reconfigure merges spec, destroy deletes. Reconcile compares it with the data directories.
create table strata_cloud.node_instances (
  node_id text not null,
  instance_id text not null,
  port integer not null,
  desired text not null check (desired in ('running', 'stopped')),
  spec jsonb not null,
  updated_at timestamptz not null default now(),
  primary key (node_id, instance_id)
);
create unique index node_instances_port on strata_cloud.node_instances (node_id, port);
