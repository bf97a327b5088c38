-- Robust views: one stored value that jsonb cannot decode must not break the strata.* views for
-- everyone. Values written by this version never hold one (the serializer stores NUL characters
-- and lone surrogates escaped), but rows written before it may hold a `\u0000` or a lone
-- surrogate escape (`\ud800`), on which a plain `::jsonb` cast fails the whole query with 22P05
-- or 22P02. The views now decode through strata.try_json, which yields NULL for such a row; its
-- raw text stays readable in the table (strata.workflows.inputs, strata.steps.output, …).

-- The text as jsonb, or NULL when it is not valid JSON that jsonb can hold. STRICT skips the
-- call for NULL; the exception block costs a subtransaction per decoded value, which a
-- read-only query never turns into a transaction ID.
create or replace function strata.try_json(value text) returns jsonb
  language plpgsql immutable strict parallel safe as $$
begin
  return value::jsonb;
exception
  when others then return null;
end
$$;

create or replace view strata.workflow_status as
select w.workflow_id, w.name, w.status, w.queue_name, w.queue_partition as partition_key, w.priority,
       w.deduplication_key, w.executor_id, w.app_version, w.parent_workflow_id, w.forked_from, w.forked_at_step, w.attributes,
       (strata.try_json(w.inputs) -> 'json') as inputs, (strata.try_json(w.output) -> 'json') as output, (strata.try_json(w.error) -> 'json') as error,
       w.recovery_attempts, w.deadline_at, w.created_at, w.started_at, w.completed_at, w.updated_at,
       extract(epoch from (coalesce(w.completed_at, now()) - coalesce(w.started_at, w.created_at))) * 1000 as duration_ms
  from strata.workflows w;

create or replace view strata.step_history as
select s.workflow_id, s.step_id, s.name, s.kind, (strata.try_json(s.output) -> 'json') as output, (strata.try_json(s.error) -> 'json') as error,
       s.child_workflow_id, s.attempts, s.started_at, s.completed_at,
       extract(epoch from (s.completed_at - s.started_at)) * 1000 as duration_ms
  from strata.steps s;

create or replace view strata.message_log as
select m.message_id, m.destination_id, m.topic, (strata.try_json(m.message) -> 'json') as message, m.idempotency_key,
       m.created_at, m.consumed_at
  from strata.messages m;

create or replace view strata.event_values as
select e.workflow_id, e.key, (strata.try_json(e.value) -> 'json') as value, e.updated_at
  from strata.events e;
