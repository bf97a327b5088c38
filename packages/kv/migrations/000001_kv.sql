-- The key-value core (@strata/kv). See packages/kv/README.md, "How it works".
create schema if not exists strata;

-- The data: one row per key. PostgreSQL's B-tree holds entries of at most ~2.7 kB and keys may
-- be 10,000 bytes, so the index is on the key's first 1,024 bytes (key_head) plus a hash for
-- uniqueness; ordering by (key_head, key) is ordering by key, because cutting keys to a prefix
-- keeps their order.
create table strata.kv (
  key bytea not null,
  value bytea not null,
  key_head bytea not null generated always as (substring(key from 1 for 1024)) stored,
  key_hash bytea not null generated always as (sha256(key)) stored,
  primary key (key_head, key_hash)
);

-- One row: the version of the last commit, and below which version the conflict log was pruned.
create table strata.kv_meta (
  id boolean primary key default true check (id),
  version bigint not null,
  pruned_below bigint not null
);
insert into strata.kv_meta (id, version, pruned_below) values (true, 0, 0);

-- Every commit: its version and the id its client gave it, so a client whose connection was
-- lost during COMMIT can find out whether it committed (kept 10 minutes).
create table strata.kv_commits (
  version bigint primary key,
  commit_id bytea unique,
  committed_at timestamptz not null default now()
);
create index kv_commits_committed_at on strata.kv_commits (committed_at);

-- The conflict log: the key ranges each commit wrote (kept 10 seconds, twice the 5 s
-- transaction limit). A commit conflicts when a range it read was written after its read version.
create table strata.kv_write_ranges (
  version bigint not null,
  begin_key bytea not null,
  end_key bytea not null
);
create index kv_write_ranges_version on strata.kv_write_ranges (version);

-- Applies one commit's writes under the commit lock, in one round trip: records the version and
-- the conflict ranges, deletes the cleared ranges and keys, upserts the set keys, and every 100
-- versions prunes the logs. Byte arrays arrive as hex text arrays (what every driver sends alike).
create function strata.kv_apply(
  p_version bigint,
  p_commit_id bytea,
  p_clear_begins text[],
  p_clear_ends text[],
  p_delete_keys text[],
  p_set_keys text[],
  p_set_values text[],
  p_write_begins text[],
  p_write_ends text[]
) returns void language plpgsql as $$
declare
  v_prune_below bigint;
begin
  update strata.kv_meta set version = p_version where version = p_version - 1;
  if not found then
    raise exception 'strata.kv_apply: version % does not follow the last commit version; commits must hold the commit lock', p_version;
  end if;
  insert into strata.kv_commits (version, commit_id) values (p_version, p_commit_id);
  insert into strata.kv_write_ranges (version, begin_key, end_key)
    select p_version, decode(b, 'hex'), decode(e, 'hex') from unnest(p_write_begins, p_write_ends) as w(b, e);
  delete from strata.kv using unnest(p_clear_begins, p_clear_ends) as r(b, e)
    where kv.key_head >= substring(decode(r.b, 'hex') from 1 for 1024)
      and kv.key_head <= substring(decode(r.e, 'hex') from 1 for 1024)
      and kv.key >= decode(r.b, 'hex') and kv.key < decode(r.e, 'hex');
  delete from strata.kv using unnest(p_delete_keys) as d(k)
    where kv.key_head = substring(decode(d.k, 'hex') from 1 for 1024) and kv.key = decode(d.k, 'hex');
  insert into strata.kv (key, value)
    select decode(k, 'hex'), decode(v, 'hex') from unnest(p_set_keys, p_set_values) as s(k, v)
    on conflict (key_head, key_hash) do update set value = excluded.value;
  if p_version % 100 = 0 then
    select max(version) into v_prune_below from strata.kv_commits where committed_at < now() - interval '10 seconds';
    if v_prune_below is not null then
      delete from strata.kv_write_ranges where version <= v_prune_below;
      update strata.kv_meta set pruned_below = greatest(pruned_below, v_prune_below);
    end if;
    delete from strata.kv_commits where committed_at < now() - interval '10 minutes';
  end if;
end
$$;
