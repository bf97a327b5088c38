-- Durable workflows: one row per workflow, one row per completed step. See docs/schema.md.
create table strata.workflows (
  workflow_id text primary key,
  name text not null,
  status text not null check (status in ('PENDING', 'SUCCESS', 'ERROR', 'CANCELLED')),
  inputs text not null,
  output text,
  error text,
  executor_id text not null,
  app_version text not null,
  parent_workflow_id text,
  deadline_at timestamptz,
  recovery_attempts integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  completed_at timestamptz
);
create index workflows_pending on strata.workflows (executor_id, app_version) where status = 'PENDING';
create index workflows_parent on strata.workflows (parent_workflow_id) where parent_workflow_id is not null;
create index workflows_created_at on strata.workflows (created_at);

-- No foreign key to workflows: every insert already requires a PENDING workflow row, and an FK
-- check would take a row lock (a WAL write) on the workflow for every step.
create table strata.steps (
  workflow_id text not null,
  step_id integer not null,
  name text not null,
  kind text not null,
  output text,
  error text,
  child_workflow_id text,
  attempts integer not null default 1,
  started_at timestamptz not null,
  completed_at timestamptz not null default now(),
  primary key (workflow_id, step_id)
);

create table strata.messages (
  message_id bigserial primary key,
  destination_id text not null references strata.workflows (workflow_id) on delete cascade,
  topic text not null,
  message text not null,
  idempotency_key text,
  created_at timestamptz not null default now(),
  consumed_at timestamptz
);
create index messages_unconsumed on strata.messages (destination_id, topic, message_id) where consumed_at is null;
create unique index messages_idempotency on strata.messages (destination_id, idempotency_key) where idempotency_key is not null;

create table strata.events (
  workflow_id text not null references strata.workflows (workflow_id) on delete cascade,
  key text not null,
  value text not null,
  updated_at timestamptz not null default now(),
  primary key (workflow_id, key)
);

create table strata.streams (
  workflow_id text not null references strata.workflows (workflow_id) on delete cascade,
  key text not null,
  stream_offset integer not null,
  value text,
  closed boolean not null default false,
  created_at timestamptz not null default now(),
  primary key (workflow_id, key, stream_offset)
);
