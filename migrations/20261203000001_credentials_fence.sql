-- The fence of an exchange's (or a Tokens API call's) commit, written once: whether the
-- credentials it used are still its subject's, with their rows locked `for share` until the
-- transaction ends, so a replacement (or deletion) commits wholly before the check or after the
-- commit. A seller's call used its refresh token and its application's client secret; a
-- grantless one (`seller_id` null) only the secret; one that fell back to the application's
-- previous secret (`previous_client_secret` not null) both secrets, and both must be unchanged.
-- Called by the statements of `db::cached_tokens` that record a result.
--
-- PL/pgSQL rather than SQL: a session plans the two queries once and keeps the plans, where a
-- SQL function's body is parsed and planned again by every statement that calls it (an eighth of
-- PostgreSQL's CPU during a wave of exchanges).
create function credentials_still_current(
    seller_id uuid,
    application_id uuid,
    client_secret bytea,
    previous_client_secret bytea,
    refresh_token bytea
) returns boolean
language plpgsql volatile
as $$
begin
    perform 1 from application a
    where a.id = credentials_still_current.application_id
      and a.client_secret = credentials_still_current.client_secret
      and (credentials_still_current.previous_client_secret is null
           or a.previous_client_secret = credentials_still_current.previous_client_secret)
    for share;
    if not found then
        return false;
    end if;
    if credentials_still_current.seller_id is null then
        return true;
    end if;
    perform 1 from seller s
    where s.id = credentials_still_current.seller_id
      and s.application_id = credentials_still_current.application_id
      and s.refresh_token = credentials_still_current.refresh_token
    for share;
    return found;
end
$$;
