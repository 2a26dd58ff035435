-- A fourth kind of actor: a seller's consent arriving at the onboarding callback, which no key
-- makes (the one-time state proves the link, and so the tenant).
alter table audit_event
    drop constraint audit_event_actor_known,
    add constraint audit_event_actor_known check (actor in ('api_key', 'operator', 'cli', 'seller'));
