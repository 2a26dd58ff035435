-- Tenants, their API keys (and the operator's), and the audit trail of changes made through the API.

create or replace function set_updated_at() returns trigger as $$
begin
    new.updated_at = now();
    return new;
end;
$$ language plpgsql;

create table tenant (
    id uuid primary key,
    name text not null,
    disabled boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint tenant_name_key unique (name)
);

create trigger tenant_updated_at before update on tenant
    for each row execute function set_updated_at();

-- One table for both kinds of key: an operator key has no tenant. The key itself is never stored,
-- only its argon2id hash; the id is the public part of the key (`spv_<id, hex>_<secret>`).
create table api_key (
    id uuid primary key,
    tenant_id uuid references tenant (id) on delete cascade,
    name text not null,
    scopes text[] not null,
    key_hash text not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz,
    last_used_at timestamptz,
    revoked_at timestamptz,
    constraint api_key_operator_has_no_scopes check (tenant_id is not null or scopes = '{}')
);

create index api_key_tenant_idx on api_key (tenant_id, id);

-- Kept when the tenant is deleted, hence no foreign key. Ids are UUIDv7: ordering by id is
-- ordering by time.
create table audit_event (
    id uuid primary key,
    tenant_id uuid,
    at timestamptz not null default now(),
    api_key_id uuid,
    action text not null,
    resource_type text not null,
    resource_id text not null,
    request_id text not null
);

create index audit_event_tenant_idx on audit_event (tenant_id, id desc);
create index audit_event_at_idx on audit_event (at);
