-- Management: user-set attributes, the internal queue that resumed/restarted/forked workflows go
-- through, and stable views for SQL observability. See docs/schema.md and docs/observability.md.

alter table strata.workflows add column attributes jsonb not null default '{}';
-- The W3C traceparent of the span that started or enqueued it, so its spans join that trace in
-- whichever process runs it (null when no trace was active).
alter table strata.workflows add column trace_parent text;
-- A fork or restart: the workflow it was copied from, and how many of its steps it reused (0 for a restart).
alter table strata.workflows add column forked_from text, add column forked_at_step integer;

-- Resume, restart and fork enqueue here, so any executor able to run the workflow picks it up.
insert into strata.queues (name) values ('_strata') on conflict (name) do nothing;

-- Serialized values are superjson text ({"json": …, "meta": …}); the views expose the JSON part.

create view strata.workflow_status as
select w.workflow_id, w.name, w.status, w.queue_name, w.queue_partition as partition_key, w.priority,
       w.deduplication_key, w.executor_id, w.app_version, w.parent_workflow_id, w.forked_from, w.forked_at_step, w.attributes,
       (w.inputs::jsonb -> 'json') as inputs, (w.output::jsonb -> 'json') as output, (w.error::jsonb -> 'json') as error,
       w.recovery_attempts, w.deadline_at, w.created_at, w.started_at, w.completed_at, w.updated_at,
       extract(epoch from (coalesce(w.completed_at, now()) - coalesce(w.started_at, w.created_at))) * 1000 as duration_ms
  from strata.workflows w;

create view strata.step_history as
select s.workflow_id, s.step_id, s.name, s.kind, (s.output::jsonb -> 'json') as output, (s.error::jsonb -> 'json') as error,
       s.child_workflow_id, s.attempts, s.started_at, s.completed_at,
       extract(epoch from (s.completed_at - s.started_at)) * 1000 as duration_ms
  from strata.steps s;

create view strata.queue_status as
select q.name, q.concurrency, q.worker_concurrency, q.partition_concurrency, q.rate_limit, q.rate_period_ms,
       (select count(*) from strata.workflows w where w.queue_name = q.name and w.status = 'ENQUEUED') as queued,
       (select count(*) from strata.workflows w where w.queue_name = q.name and w.status = 'PENDING') as running,
       q.created_at, q.updated_at
  from strata.queues q;

create view strata.schedule_status as
select name, workflow_name, cron, timezone, status, catch_up, queue_name, last_tick_at, created_at, updated_at
  from strata.schedules;

create view strata.message_log as
select m.message_id, m.destination_id, m.topic, (m.message::jsonb -> 'json') as message, m.idempotency_key,
       m.created_at, m.consumed_at
  from strata.messages m;

create view strata.event_values as
select e.workflow_id, e.key, (e.value::jsonb -> 'json') as value, e.updated_at
  from strata.events e;
