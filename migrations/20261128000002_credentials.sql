-- The key hierarchy and the credentials it protects.

-- Proof that a configured master key is the one the database was set up with: a constant sealed
-- under each master key that has ever been configured. Start-up refuses a key that fails it.
create table master_key_check (
    master_key_id integer primary key,
    sealed bytea not null,
    created_at timestamptz not null default now()
);

-- Each tenant's data key, only ever stored wrapped by a master key. Deleting the tenant deletes
-- this row, and with it the only way to open the tenant's secrets.
create table tenant_data_key (
    tenant_id uuid primary key references tenant (id) on delete cascade,
    master_key_id integer not null,
    wrapped_key bytea not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index tenant_data_key_master_idx on tenant_data_key (master_key_id);

create trigger tenant_data_key_updated_at before update on tenant_data_key
    for each row execute function set_updated_at();

create table application (
    id uuid primary key,
    tenant_id uuid not null references tenant (id) on delete cascade,
    name text not null,
    client_id text not null,
    -- Sealed under the tenant's data key (see crypto::envelope); never returned by the API.
    client_secret bytea not null,
    client_secret_updated_at timestamptz not null default now(),
    client_secret_expires_at timestamptz,
    status text not null default 'active'
        constraint application_status_check check (status in ('active', 'client_credentials_rejected')),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint application_tenant_id_id_key unique (tenant_id, id),
    constraint application_name_key unique (tenant_id, name),
    constraint application_client_id_key unique (tenant_id, client_id)
);

create trigger application_updated_at before update on application
    for each row execute function set_updated_at();

create table seller (
    id uuid primary key,
    tenant_id uuid not null references tenant (id) on delete cascade,
    application_id uuid not null,
    selling_partner_id text not null,
    region text not null constraint seller_region_check check (region in ('na', 'eu', 'fe')),
    -- Sealed under the tenant's data key; never returned by the API.
    refresh_token bytea not null,
    external_id text,
    marketplace_ids text[] not null default '{}',
    status text not null default 'active'
        constraint seller_status_check check (status in ('active', 'authorization_revoked')),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    last_token_issued_at timestamptz,
    -- The application must be the same tenant's; an application with sellers cannot be deleted
    -- (checked at the end of the statement, so deleting a tenant removes both).
    constraint seller_application_fkey foreign key (tenant_id, application_id)
        references application (tenant_id, id),
    constraint seller_partner_key unique (application_id, selling_partner_id, region),
    constraint seller_external_id_key unique (tenant_id, external_id)
);

create index seller_tenant_idx on seller (tenant_id, id);
create index seller_application_idx on seller (application_id, id);

create trigger seller_updated_at before update on seller
    for each row execute function set_updated_at();
