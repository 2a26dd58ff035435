-- SP-API calls made through the vault's proxy are deliveries too (`via = 'proxy'`): the token
-- never leaves the vault, but its use is on record with the call it was used for. The method,
-- the path without its query, and Amazon's status (null when Amazon never answered).
alter table token_delivery
    drop constraint token_delivery_via_check,
    add constraint token_delivery_via_check check (via in ('v1', 'lwa_compat', 'proxy')),
    add column proxy_method text,
    add column proxy_path text,
    add column proxy_status smallint,
    add constraint token_delivery_proxy_check check (
        (via = 'proxy') = (proxy_method is not null and proxy_path is not null));
