-- Polled notifications: LISTEN/NOTIFY for engines without it (notificationMode 'poll').
create table if not exists strata.notifications (
  id bigserial primary key,
  channel text not null,
  payload text not null,
  created_at timestamptz not null default now()
);
create index if not exists notifications_created_at on strata.notifications (created_at);
