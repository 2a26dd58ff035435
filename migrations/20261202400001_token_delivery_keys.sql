-- The delivery trail takes a row per token handed out, so every index on it is paid on the hot
-- path. Its primary key becomes (tenant_id, id): it serves the tenant's listing (newest first),
-- which the separate (tenant_id, id) index did, and it keeps ids unique per tenant (UUIDv7 ids
-- made by the vault). Two B-trees per row instead of three.
alter table token_delivery drop constraint token_delivery_pkey;
drop index token_delivery_tenant_idx;
alter table token_delivery add primary key (tenant_id, id);
