-- Single flight of token exchanges across replicas, without holding a connection for the length
-- of a call to Amazon: a replica takes the lease of a cache key (a seller, or an application and
-- scope) in one short statement, calls Amazon, then records the result and gives the lease back
-- in a second short transaction. A lease left by a replica that died runs out by itself.
create table exchange_lease (
    cache_key uuid primary key,
    tenant_id uuid not null references tenant (id) on delete cascade,
    lease_id uuid not null,
    expires_at timestamptz not null
);

create index exchange_lease_tenant_idx on exchange_lease (tenant_id);
