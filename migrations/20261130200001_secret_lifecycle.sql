-- Client secret lifecycle: an application keeps its previous secret (sealed, like the current
-- one) until it expires, may be rotated at Amazon by the vault itself, and takes new secrets from
-- Amazon's notifications, each applied once.

alter table application
    -- Sealed under the tenant's data key in its own place (column); never returned by the API.
    add column previous_client_secret bytea,
    add column previous_client_secret_expires_at timestamptz,
    add column auto_rotate boolean not null default false,
    -- When the vault last asked Amazon for a new secret; cleared when one arrives.
    add column rotation_requested_at timestamptz,
    add constraint application_previous_secret_check
        check ((previous_client_secret is null) = (previous_client_secret_expires_at is null));

-- The auto-rotation task and the expiry filter look applications up by their secret's expiry.
create index application_secret_expiry_idx on application (client_secret_expires_at)
    where client_secret_expires_at is not null;

-- Which of the application's secrets an exchange attempt used (null for tokens that use none).
alter table token_issue
    add column client_secret text
        constraint token_issue_client_secret_check check (client_secret in ('current', 'previous'));

-- Amazon's notifications applied, per tenant, so that a notification delivered twice (SQS
-- delivers at least once) changes nothing the second time.
create table amazon_notification (
    tenant_id uuid not null references tenant (id) on delete cascade,
    notification_id text not null,
    notification_type text not null,
    application_id uuid not null,
    applied_at timestamptz not null default now(),
    primary key (tenant_id, notification_id)
);
