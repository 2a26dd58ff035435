-- Taking a cache key's exchange lease, written once: it is taken when there is none or its
-- holder's time ran out, for `ttl_ms` milliseconds; the result is its generation (how many times
-- it was given back) when `lease_id` holds it now, and null when another holder's lease is still
-- running. `on conflict` sees the latest committed lease whatever the calling statement's
-- snapshot, so the generation counts every lease given back before this one was taken.
-- Called by `db::leases::take_lease` and by the grant reads of `db::cached_tokens`, which take
-- the lease in the same statement as they read the stored token.
--
-- PL/pgSQL, as `credentials_still_current`: a session plans the insert once and keeps the plan.
create function take_exchange_lease(
    cache_key uuid,
    tenant_id uuid,
    lease_id uuid,
    ttl_ms bigint
) returns bigint
language plpgsql volatile
as $$
declare
    taken_generation bigint;
begin
    insert into exchange_lease as l (cache_key, tenant_id, lease_id, expires_at)
    values (take_exchange_lease.cache_key, take_exchange_lease.tenant_id,
            take_exchange_lease.lease_id,
            now() + make_interval(secs => take_exchange_lease.ttl_ms / 1000.0))
    on conflict on constraint exchange_lease_pkey do update
    set tenant_id = excluded.tenant_id, lease_id = excluded.lease_id,
        expires_at = excluded.expires_at
    where l.expires_at <= now()
    returning l.generation into taken_generation;
    return taken_generation;
end
$$;
