-- Alert rules, their state per instance, the events they raise and the deliveries of those events
-- to each tenant's webhook (component "control-plane"). See packages/control-plane/README.md "Alerts".

-- A tenant's own rule: a metric, a comparison, a threshold and how long it must hold.
create table strata_cloud.alert_rules (
  rule_id text primary key,
  tenant_id text not null,
  name text not null,
  -- null: every instance of the tenant.
  instance_id text,
  metric text not null,
  comparison text not null check (comparison in ('>', '<')),
  threshold double precision not null,
  duration_seconds integer not null check (duration_seconds between 0 and 86400),
  created_at timestamptz not null default now()
);
create unique index alert_rules_tenant_name on strata_cloud.alert_rules (tenant_id, name);

-- Where a tenant's alert events are delivered, and the secret their HMAC signature is made with.
create table strata_cloud.alert_webhooks (
  tenant_id text primary key,
  url text not null,
  secret text not null,
  updated_at timestamptz not null default now()
);

-- Each rule's state on each instance: pending since the condition first held, firing once it held long enough.
create table strata_cloud.alert_states (
  rule_key text not null,
  instance_id text not null,
  tenant_id text not null,
  pending_since timestamptz,
  firing boolean not null default false,
  value double precision,
  updated_at timestamptz not null default now(),
  primary key (rule_key, instance_id)
);

-- A rule starting or stopping to fire on an instance (append-only).
create table strata_cloud.alert_events (
  event_id bigserial primary key,
  tenant_id text not null,
  rule_key text not null,
  rule_name text not null,
  instance_id text not null,
  kind text not null check (kind in ('firing', 'resolved')),
  metric text not null,
  value double precision,
  threshold double precision not null,
  at timestamptz not null default now()
);
create index alert_events_tenant on strata_cloud.alert_events (tenant_id, event_id);

-- Every attempt to deliver an event to the tenant's webhook.
create table strata_cloud.alert_deliveries (
  delivery_id bigserial primary key,
  event_id bigint not null,
  attempt integer not null,
  url text not null,
  ok boolean not null,
  http_status integer,
  error text,
  at timestamptz not null default now()
);
create index alert_deliveries_event on strata_cloud.alert_deliveries (event_id, attempt);
