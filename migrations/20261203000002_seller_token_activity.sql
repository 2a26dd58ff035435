-- A seller's row gets a new version with every token exchanged for it (`last_token_issued_at`,
-- about once an hour per active seller). Two things follow:
--
-- 1. Room on each page for that version (fillfactor 90), so that the update can stay on its page
--    (a HOT update) and touch none of the table's five indexes. (Pages written from now on; a
--    `VACUUM FULL` would apply it to the old ones.)
-- 2. `updated_at` says when the seller itself was last changed (its refresh token, status,
--    marketplaces, external id), not when it last got a token: the trigger fires only for updates
--    of those columns.
alter table seller set (fillfactor = 90);

drop trigger seller_updated_at on seller;
create trigger seller_updated_at
    before update of tenant_id, application_id, selling_partner_id, region, refresh_token,
        external_id, marketplace_ids, status
    on seller
    for each row execute function set_updated_at();
