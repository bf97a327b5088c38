-- Exactly-once transactions in an application database separate from the system database:
-- the transaction's output commits with the user's writes, keyed by workflow and step.
create table strata.transaction_outputs (
  workflow_id text not null,
  step_id integer not null,
  output text,
  created_at timestamptz not null default now(),
  primary key (workflow_id, step_id)
);
