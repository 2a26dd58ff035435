-- A lease is no longer deleted when its holder gives it back: it is marked run out and its
-- generation counts up. Every exchange that stores a token gives its lease back in the same
-- commit, so a replica that read a cache key's state (with its lease's generation, in one
-- snapshot) and then takes the lease at the same generation knows that nothing was stored
-- meanwhile, and need not read the state again.
alter table exchange_lease add column generation bigint not null default 0;
