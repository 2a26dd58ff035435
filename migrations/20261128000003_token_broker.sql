-- The token broker: cached access tokens shared by replicas, and the durable trail of every
-- exchange at LWA (token_issue) and every token handed out (token_delivery).

-- Cached access tokens, sealed under the tenant's data key like every other secret. The cache
-- key is the seller id, or for grantless tokens a UUID derived from the application and scope.
create table cached_token (
    cache_key uuid primary key,
    tenant_id uuid not null references tenant (id) on delete cascade,
    application_id uuid not null references application (id) on delete cascade,
    seller_id uuid references seller (id) on delete cascade,
    scope text,
    sealed_token bytea not null,
    issue_id uuid not null,
    issued_at timestamptz not null,
    expires_at timestamptz not null
);

create index cached_token_seller_idx on cached_token (seller_id);
create index cached_token_application_idx on cached_token (application_id);

-- The trail tables grow by the hundreds of millions of rows, so they are partitioned by month.
-- Their ids are UUIDv7 (time-ordered), so the partition key is the id itself: the primary key
-- stays one column, lists ordered by id are ordered by time, and retention drops whole months.

-- The smallest UUIDv7 of the millisecond `t` (the 48-bit timestamp, then zeros).
create function uuid_v7_floor(t timestamptz) returns uuid as $$
    select (lpad(to_hex((extract(epoch from t) * 1000)::bigint), 12, '0')
            || '00000000000000000000')::uuid
$$ language sql immutable strict;

create table token_issue (
    id uuid not null,
    tenant_id uuid not null,
    seller_id uuid,
    application_id uuid not null,
    grant_type text not null,
    scope text,
    outcome text not null constraint token_issue_outcome_check check (outcome in ('issued', 'lwa_error')),
    error_code text,
    issued_at timestamptz not null,
    expires_at timestamptz,
    lwa_latency_ms integer not null,
    token_fingerprint text,
    api_key_id uuid,
    request_id text not null,
    primary key (id)
) partition by range (id);

create index token_issue_tenant_idx on token_issue (tenant_id, id);
create index token_issue_seller_idx on token_issue (tenant_id, seller_id, id);
create index token_issue_fingerprint_idx on token_issue (tenant_id, token_fingerprint);

create table token_delivery (
    id uuid not null,
    tenant_id uuid not null,
    issue_id uuid not null,
    seller_id uuid,
    application_id uuid not null,
    api_key_id uuid not null,
    source text not null constraint token_delivery_source_check check (source in ('cache', 'lwa')),
    via text not null constraint token_delivery_via_check check (via in ('v1', 'lwa_compat')),
    delivered_at timestamptz not null,
    request_id text not null,
    client_ip text not null,
    primary key (id)
) partition by range (id);

create index token_delivery_tenant_idx on token_delivery (tenant_id, id);
create index token_delivery_seller_idx on token_delivery (tenant_id, seller_id, id);

-- Monthly partitions of both trail tables for the months from `since` to `months_ahead` after it.
create function ensure_trail_partitions(since timestamptz, months_ahead integer) returns void as $$
declare
    month timestamptz;
    parent text;
    name text;
begin
    -- Replicas starting together must not race to create the same partition.
    perform pg_advisory_xact_lock(hashtext('spvault:ensure_trail_partitions'));
    for i in 0..months_ahead loop
        month := date_trunc('month', since at time zone 'utc') at time zone 'utc' + make_interval(months => i);
        foreach parent in array array['token_issue', 'token_delivery'] loop
            name := parent || '_' || to_char(month at time zone 'utc', 'YYYYMM');
            if to_regclass(name) is null then
                execute format(
                    'create table if not exists %I partition of %I for values from (%L) to (%L)',
                    name, parent, uuid_v7_floor(month),
                    uuid_v7_floor(month + interval '1 month'));
            end if;
        end loop;
    end loop;
end;
$$ language plpgsql;

select ensure_trail_partitions(now() - interval '1 month', 3);

-- Drops the monthly partitions that end before `cutoff`; returns how many.
create function drop_trail_partitions_before(cutoff timestamptz) returns integer as $$
declare
    part record;
    dropped integer := 0;
begin
    for part in
        select c.relname as name
        from pg_inherits i
        join pg_class c on c.oid = i.inhrelid
        join pg_class p on p.oid = i.inhparent
        where p.relname in ('token_issue', 'token_delivery')
          and c.relname ~ '_[0-9]{6}$'
          and to_timestamp(right(c.relname, 6), 'YYYYMM') at time zone 'utc'
              + interval '1 month' <= cutoff at time zone 'utc'
    loop
        execute format('drop table %I', part.name);
        dropped := dropped + 1;
    end loop;
    return dropped;
end;
$$ language plpgsql;
