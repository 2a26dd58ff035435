-- Who made each change, by kind: a key of the trail's own tenant (`api_key`, with its id in
-- `api_key_id`), an operator key (`operator`), or the command line (`cli`, no key at all).
--
-- A tenant reads its trail with an `audit` key, so `api_key_id` must only ever name that tenant's
-- own keys: an operator key's id goes to `operator_key_id`, which no tenant-facing query reads.

alter table audit_event
    add column actor text not null default 'api_key',
    add column operator_key_id uuid;

-- Rows written before: no key was the command line; an operator key is a key without a tenant
-- (operator keys are revoked, never deleted, so every one of them still has its row).
update audit_event set actor = 'cli' where api_key_id is null;
update audit_event e
   set actor = 'operator', operator_key_id = e.api_key_id, api_key_id = null
  from api_key k
 where k.id = e.api_key_id and k.tenant_id is null;

alter table audit_event
    alter column actor drop default,
    add constraint audit_event_actor_known check (actor in ('api_key', 'operator', 'cli')),
    add constraint audit_event_api_key_is_the_actor check ((actor = 'api_key') = (api_key_id is not null)),
    add constraint audit_event_operator_key_is_the_actor check (operator_key_id is null or actor = 'operator');
