-- Seller onboarding: what consent links need of an application, and the links themselves.

alter table application
    -- The SP-API application id consent links name (amzn1.sp.solution.…).
    add column solution_id text,
    -- A draft application's consent links carry version=beta.
    add column draft boolean not null default false,
    -- Null: the vault's own callback ({SPVAULT_PUBLIC_URL}/oauth/callback).
    add column redirect_uri text;

-- One consent link handed to a seller. Its state is stored only as a keyed hash (see
-- crypto::state_digest) and used once: `state_used_at` is set by the first callback that
-- presents it, before any code is exchanged.
create table authorization_link (
    id uuid primary key,
    tenant_id uuid not null references tenant (id) on delete cascade,
    application_id uuid not null,
    region text not null constraint authorization_link_region_check check (region in ('na', 'eu', 'fe')),
    marketplace_id text,
    partner text not null constraint authorization_link_partner_check check (partner in ('seller', 'vendor')),
    external_id text,
    return_url text,
    -- The redirect URI the consent URL named: the code exchange must name the same.
    redirect_uri text not null,
    state_hash bytea not null constraint authorization_link_state_key unique,
    state_used_at timestamptz,
    -- `expired` is not stored: a pending link past `expires_at` reads as expired.
    status text not null default 'pending'
        constraint authorization_link_status_check check (status in ('pending', 'completed', 'failed')),
    seller_id uuid references seller (id) on delete set null,
    error text,
    expires_at timestamptz not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint authorization_link_application_fkey foreign key (tenant_id, application_id)
        references application (tenant_id, id) on delete cascade
);

create index authorization_link_tenant_idx on authorization_link (tenant_id, id);

create trigger authorization_link_updated_at before update on authorization_link
    for each row execute function set_updated_at();
