-- Restricted Data Tokens (the Tokens API): minted from a seller's access token for a set of
-- restricted resources, cached per seller and canonical resource set in `cached_token` (sealed,
-- under a cache key derived from both), and recorded like access tokens. Additive only.

-- The fingerprint of the canonical resource set a Restricted Data Token was asked for (SHA-256 of
-- the Tokens API request body the vault sends, hex, 32 characters); null for other grants.
alter table token_issue
    add column resource_set_fingerprint text;

-- What a delivery handed out, and that a Restricted Data Token comes from SP-API's Tokens API.
alter table token_delivery
    add column kind text not null default 'access_token'
        constraint token_delivery_kind_check check (kind in ('access_token', 'restricted_data_token'));
alter table token_delivery drop constraint token_delivery_source_check;
alter table token_delivery
    add constraint token_delivery_source_check check (source in ('cache', 'lwa', 'sp_api'));

-- A sandbox application's SP-API calls go to Amazon's sandbox hosts.
alter table application
    add column sandbox boolean not null default false;
