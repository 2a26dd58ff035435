//! Exchanges at scale: refresh ahead of expiry, single flight by a lease (no database connection
//! held while LWA answers), and credential replacements that always have the last word.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use spvault::amazon::lwa_client::LwaClient;
use spvault::background::Task;
use spvault::emulator::Behaviour;
use spvault::readiness::Readiness;
use spvault::workflows::tokens::{Broker, RefreshPolicy, Requester, TokenCache, Via, Want};
use spvault::workflows::trail::deliveries::DeliveryWriter;
use uuid::Uuid;

use crate::helpers::{eventually, expect_status, spawn_app, spawn_app_with, TestApp, World};

async fn token(app: &TestApp, world: &World) -> Value {
    let response = app
        .access_token(&world.tokens, &world.seller_id, None)
        .await;
    expect_status(response, StatusCode::OK).await
}

fn behave(app: &TestApp, behaviour: Behaviour) {
    app.lwa.set_behaviour(behaviour);
}

/// A vault that waits for a slow LWA (the tests' default gives up after 500 ms).
async fn patient_app() -> TestApp {
    spawn_app_with(|settings| {
        settings.lwa_request_timeout_ms = 5_000;
        settings.lwa_retry_budget_ms = 5_000;
    })
    .await
}

async fn count(app: &TestApp, sql: &str, seller_id: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(Uuid::parse_str(seller_id).unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

fn seller_and_tenant(world: &World) -> (Uuid, Uuid) {
    (
        Uuid::parse_str(&world.seller_id).unwrap(),
        Uuid::parse_str(&world.tenant_id).unwrap(),
    )
}

async fn lease_held(app: &TestApp, seller_id: &str) -> bool {
    count(
        app,
        "select count(*) from exchange_lease where cache_key = $1 and expires_at > now()",
        seller_id,
    )
    .await
        > 0
}

#[tokio::test]
async fn a_token_inside_the_refresh_ahead_window_is_served_at_once_and_replaced_in_the_background()
{
    let app = spawn_app().await;
    let world = app.world("acme").await;
    // Tokens of 500 s: above the skew (300 s), inside the refresh-ahead window (600 s).
    behave(
        &app,
        Behaviour {
            token_lifetime_secs: Some(500),
            ..Behaviour::default()
        },
    );
    let first = token(&app, &world).await;
    assert_eq!(first["source"], "lwa");
    // Its replacement lives an hour, beyond the window: one refresh, not one after another.
    behave(
        &app,
        Behaviour {
            token_lifetime_secs: Some(3600),
            ..Behaviour::default()
        },
    );

    let second = token(&app, &world).await;
    assert_eq!(second["source"], "cache");
    assert_eq!(second["issue_id"], first["issue_id"]);
    eventually("a background exchange", || async {
        app.lwa.exchanges_for(&world.refresh_token) == 2
    })
    .await;
    eventually("the refreshed token in the cache", || async {
        token(&app, &world).await["issue_id"] != first["issue_id"]
    })
    .await;

    // The background exchange is on record as an issue; it delivered nothing to anyone.
    let issues = count(
        &app,
        "select count(*) from token_issue where seller_id = $1 and outcome = 'issued'",
        &world.seller_id,
    )
    .await;
    assert_eq!(issues, 2);
    let delivered_by_lwa = count(
        &app,
        "select count(*) from token_delivery where seller_id = $1 and source = 'lwa'",
        &world.seller_id,
    )
    .await;
    assert_eq!(delivered_by_lwa, 1);
}

#[tokio::test]
async fn a_failed_background_refresh_is_recorded_and_changes_nothing_for_callers() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    behave(
        &app,
        Behaviour {
            token_lifetime_secs: Some(500),
            ..Behaviour::default()
        },
    );
    let first = token(&app, &world).await;
    behave(
        &app,
        Behaviour {
            fail_next: Some(1_000),
            fail_status: Some(503),
            ..Behaviour::default()
        },
    );
    let second = token(&app, &world).await;
    assert_eq!(second["issue_id"], first["issue_id"]);
    eventually("the failed attempts on record", || async {
        count(
            &app,
            "select count(*) from token_issue where seller_id = $1 and outcome = 'lwa_error'",
            &world.seller_id,
        )
        .await
            > 0
    })
    .await;
    eventually("the background refresh over", || async {
        !lease_held(&app, &world.seller_id).await
    })
    .await;
    let third = token(&app, &world).await;
    assert_eq!(third["source"], "cache");
    assert_eq!(third["issue_id"], first["issue_id"]);
    let seller = expect_status(
        app.get(
            &format!("/v1/sellers/{}", world.seller_id),
            &world.admin.key,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(seller["status"], "active");
}

#[tokio::test]
async fn an_exchange_holds_no_database_connection_while_lwa_answers() {
    // Two pooled connections, eight sellers with cold tokens, LWA slow: their exchanges run
    // together. (Before, each held a connection for its whole exchange, one at a time.)
    let app = spawn_app_with(|settings| {
        settings.db_max_connections = 2;
        settings.lwa_request_timeout_ms = 5_000;
    })
    .await;
    let world = app.world("acme").await;
    let mut sellers = vec![world.seller_id.clone()];
    for _ in 0..7 {
        sellers.push(app.another_seller(&world).await.0);
    }
    behave(
        &app,
        Behaviour {
            latency_ms: Some(500),
            ..Behaviour::default()
        },
    );
    let requests = sellers
        .iter()
        .map(|seller| app.access_token(&world.tokens, seller, None));
    for response in futures_util::future::join_all(requests).await {
        expect_status(response, StatusCode::OK).await;
    }
    assert!(
        app.lwa.max_in_flight() >= 4,
        "only {} exchanges ran at once",
        app.lwa.max_in_flight()
    );
}

#[tokio::test]
async fn exchanges_in_flight_are_bounded_by_their_own_setting() {
    let app = spawn_app_with(|settings| settings.max_concurrent_exchanges = 2).await;
    let world = app.world("acme").await;
    let mut sellers = vec![world.seller_id.clone()];
    for _ in 0..5 {
        sellers.push(app.another_seller(&world).await.0);
    }
    behave(
        &app,
        Behaviour {
            latency_ms: Some(200),
            ..Behaviour::default()
        },
    );
    let requests = sellers
        .iter()
        .map(|seller| app.access_token(&world.tokens, seller, None));
    for response in futures_util::future::join_all(requests).await {
        expect_status(response, StatusCode::OK).await;
    }
    assert_eq!(app.lwa.total_exchanges(), 6);
    assert!(app.lwa.max_in_flight() <= 2, "{}", app.lwa.max_in_flight());
}

#[tokio::test]
async fn an_exchange_that_started_with_the_old_refresh_token_never_overwrites_the_new_one() {
    let app = patient_app().await;
    let world = app.world("acme").await;
    behave(
        &app,
        Behaviour {
            latency_ms: Some(1_000),
            ..Behaviour::default()
        },
    );
    let fetch = {
        let (app, world_tokens, seller) =
            (app.clone(), world.tokens.clone(), world.seller_id.clone());
        tokio::spawn(async move { app.access_token(&world_tokens, &seller, None).await })
    };
    // At LWA with the old refresh token (the lease alone could be taken before it was read).
    eventually("the exchange in flight at LWA", || async {
        app.lwa.max_in_flight() > 0
    })
    .await;
    let new_token = app.replace_refresh_token(&world).await;

    // The caller gets a token minted with the new refresh token, and that is what is stored.
    let delivered = expect_status(fetch.await.unwrap(), StatusCode::OK).await;
    assert_eq!(app.lwa.exchanges_for(&world.refresh_token), 1);
    assert_eq!(app.lwa.exchanges_for(&new_token), 1);
    let stored: Uuid = sqlx::query_scalar("select issue_id from cached_token where cache_key = $1")
        .bind(Uuid::parse_str(&world.seller_id).unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(delivered["issue_id"], stored.to_string());
    // Both exchanges are on record.
    let issues = count(
        &app,
        "select count(*) from token_issue where seller_id = $1",
        &world.seller_id,
    )
    .await;
    assert_eq!(issues, 2);
}

#[tokio::test]
async fn invalid_grant_for_a_replaced_refresh_token_never_revokes_the_new_one() {
    let app = patient_app().await;
    let world = app.world("acme").await;
    app.lwa.revoke_refresh_token(&world.refresh_token);
    behave(
        &app,
        Behaviour {
            latency_ms: Some(1_000),
            ..Behaviour::default()
        },
    );
    let fetch = {
        let (app, world_tokens, seller) =
            (app.clone(), world.tokens.clone(), world.seller_id.clone());
        tokio::spawn(async move { app.access_token(&world_tokens, &seller, None).await })
    };
    // At LWA with the old refresh token (the lease alone could be taken before it was read).
    eventually("the exchange in flight at LWA", || async {
        app.lwa.max_in_flight() > 0
    })
    .await;
    app.replace_refresh_token(&world).await;

    expect_status(fetch.await.unwrap(), StatusCode::OK).await;
    let seller = expect_status(
        app.get(
            &format!("/v1/sellers/{}", world.seller_id),
            &world.admin.key,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(seller["status"], "active");
    let refused = count(
        &app,
        "select count(*) from token_issue where seller_id = $1 and error_code = 'invalid_grant'",
        &world.seller_id,
    )
    .await;
    assert_eq!(refused, 1, "the refusal is on record all the same");
}

#[tokio::test]
async fn a_lease_left_by_a_replica_that_died_runs_out_and_another_takes_over() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    // A replica took the lease and was killed before giving it back.
    sqlx::query(
        "insert into exchange_lease (cache_key, tenant_id, lease_id, expires_at)
         values ($1, $2, $3, now() + interval '2 seconds')",
    )
    .bind(Uuid::parse_str(&world.seller_id).unwrap())
    .bind(Uuid::parse_str(&world.tenant_id).unwrap())
    .bind(Uuid::new_v4())
    .execute(&app.pool)
    .await
    .unwrap();

    let served = token(&app, &world).await;
    assert_eq!(served["source"], "lwa");
    assert_eq!(app.lwa.exchanges_for(&world.refresh_token), 1);
    assert!(!lease_held(&app, &world.seller_id).await);
}

#[tokio::test]
async fn a_lease_given_back_moves_its_generation_so_a_later_holder_knows_to_read_again() {
    use spvault::db::{cached_tokens, leases};

    let app = spawn_app().await;
    let world = app.world("acme").await;
    let (seller, tenant) = seller_and_tenant(&world);
    let read = cached_tokens::GrantRead {
        freshness: cached_tokens::Freshness {
            expires_after: None,
            issued_since: None,
        },
        lease: None,
        client_id: None,
    };
    let generation_read = || async {
        cached_tokens::load_seller_grant(&app.pool, tenant, seller, &read)
            .await
            .unwrap()
            .unwrap()
            .lease_generation
    };
    let ttl = Duration::from_secs(10);
    assert_eq!(generation_read().await, None, "no exchange yet");

    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    let taken = leases::take_lease(&app.pool, seller, tenant, first, ttl).await;
    assert_eq!(taken.unwrap(), Some(0));
    let busy = leases::take_lease(&app.pool, seller, tenant, second, ttl).await;
    assert_eq!(busy.unwrap(), None, "one holder at a time");

    // A reader that saw generation 0 before the first holder gave the lease back...
    leases::release_lease(&app.pool, seller, first)
        .await
        .unwrap();
    // ...takes it at generation 1, and so reads the stored token again.
    let taken = leases::take_lease(&app.pool, seller, tenant, second, ttl).await;
    assert_eq!(taken.unwrap(), Some(1));
    assert_eq!(generation_read().await, Some(1));

    // A holder whose lease ran out and was taken over cannot give back the new holder's.
    leases::release_lease(&app.pool, seller, first)
        .await
        .unwrap();
    assert!(lease_held(&app, &world.seller_id).await);
    assert_eq!(generation_read().await, Some(1));
}

#[tokio::test]
async fn the_read_of_a_grant_takes_the_lease_only_when_its_stored_token_will_not_do() {
    use spvault::db::cached_tokens::{self, Freshness, GrantRead};

    let app = spawn_app().await;
    let world = app.world("acme").await;
    let (seller, tenant) = seller_and_tenant(&world);
    let ttl = Duration::from_secs(10);
    let far = chrono::Utc::now() + chrono::TimeDelta::days(1);
    let read = |expires_after, client_id: Option<&'static str>| {
        let pool = app.pool.clone();
        async move {
            let read = GrantRead {
                freshness: Freshness {
                    expires_after,
                    issued_since: None,
                },
                lease: Some((Uuid::new_v4(), ttl)),
                client_id,
            };
            cached_tokens::load_seller_grant(&pool, tenant, seller, &read)
                .await
                .unwrap()
                .unwrap()
        }
    };

    // A token stored and good for longer than asked: read, no lease.
    token(&app, &world).await;
    let fresh = read(None, None).await;
    assert!(fresh.stored_fresh && fresh.lease_taken.is_none() && !fresh.lease_running);
    assert!(!lease_held(&app, &world.seller_id).await);

    // A caller with another client id is refused: no lease either.
    let mismatch = read(Some(far), Some("amzn1.application-oa2-client.other")).await;
    assert!(!mismatch.stored_fresh && mismatch.lease_taken.is_none());
    assert!(!lease_held(&app, &world.seller_id).await);

    // Asked to outlive it: the read takes the lease, at the generation the exchange left...
    let stale = read(Some(far), None).await;
    assert!(!stale.stored_fresh);
    assert_eq!(stale.lease_taken, Some(1));
    assert_eq!(stale.lease_generation, Some(1));
    assert!(lease_held(&app, &world.seller_id).await);
    // ...and a second reader finds it held.
    let busy = read(Some(far), None).await;
    assert!(busy.lease_taken.is_none() && busy.lease_running);

    // A seller LWA refused takes no lease once the lease is free again.
    sqlx::query("update exchange_lease set expires_at = now() where cache_key = $1")
        .bind(seller)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("update seller set status = 'authorization_revoked' where id = $1")
        .bind(seller)
        .execute(&app.pool)
        .await
        .unwrap();
    let revoked = read(Some(far), None).await;
    assert!(revoked.lease_taken.is_none());
    assert!(!lease_held(&app, &world.seller_id).await);
}

#[tokio::test]
async fn a_token_stored_by_another_replica_is_served_while_every_exchange_slot_is_in_use() {
    let app = spawn_app_with(|settings| {
        settings.max_concurrent_exchanges = 1;
        settings.lwa_request_timeout_ms = 10_000;
        settings.lwa_retry_budget_ms = 10_000;
    })
    .await;
    let world = app.world("acme").await;
    let (stored_seller, _) = app.another_seller(&world).await;
    // One replica exchanged for this seller: its token is in `cached_token`.
    expect_status(
        app.access_token(&world.tokens, &stored_seller, None).await,
        StatusCode::OK,
    )
    .await;

    // Another replica, whose only exchange slot a slow exchange for another seller holds...
    let replica = app.another_instance().await;
    behave(
        &app,
        Behaviour {
            latency_ms: Some(5_000),
            ..Behaviour::default()
        },
    );
    let slow = {
        let (replica, key, seller) = (
            replica.clone(),
            world.tokens.clone(),
            world.seller_id.clone(),
        );
        tokio::spawn(async move { replica.access_token(&key, &seller, None).await })
    };
    eventually("the slow exchange at LWA", || async {
        app.lwa.max_in_flight() > 0
    })
    .await;

    // ...serves the stored token without waiting for that slot.
    let served = expect_status(
        replica
            .access_token(&world.tokens, &stored_seller, None)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(served["source"], "cache");
    assert!(!slow.is_finished(), "the stored token waited for the slot");
    expect_status(slow.await.unwrap(), StatusCode::OK).await;
}

/// A caller dropped mid-exchange (a timeout around it, say) gives the lease back at once:
/// the other callers for the seller, on any replica, need not wait for it to run out. (Over HTTP,
/// actix-web lets a handler run on when its client hangs up, so the exchange ends on its own.)
#[tokio::test]
async fn a_caller_dropped_mid_exchange_gives_the_lease_back() {
    let app = patient_app().await;
    let world = app.world("acme").await;
    let (seller, tenant) = seller_and_tenant(&world);
    let readiness = Arc::new(Readiness::default());
    let broker = Broker::new(
        app.pool.clone(),
        Arc::clone(&app.keystore),
        LwaClient::new(&app.settings).unwrap(),
        Arc::new(TokenCache::new(100)),
        DeliveryWriter::start(app.pool.clone(), Task::new("delivery_writer", readiness))
            .unwrap()
            .0,
        RefreshPolicy {
            skew_seconds: app.settings.refresh_skew_seconds,
            ahead_seconds: app.settings.refresh_ahead_seconds,
            max_concurrent_exchanges: 4,
        },
    );
    behave(
        &app,
        Behaviour {
            hang: Some(true),
            ..Behaviour::default()
        },
    );
    let who = Requester {
        tenant_id: tenant,
        api_key_id: None,
        request_id: "dropped".into(),
        client_ip: "127.0.0.1".into(),
        via: Via::Internal,
    };
    let dropped = tokio::time::timeout(
        Duration::from_millis(300),
        broker.seller_token(&who, seller, None, Want::default()),
    )
    .await;
    assert!(dropped.is_err(), "LWA had not answered");
    // Given back, not run out (a lease that runs out keeps its generation): the exchange took
    // the lease, and nothing of it runs on to give it back but the drop.
    eventually("the lease given back", || async {
        count(
            &app,
            "select coalesce(max(generation), 0) from exchange_lease where cache_key = $1",
            &world.seller_id,
        )
        .await
            > 0
    })
    .await;
    assert!(!lease_held(&app, &world.seller_id).await);
    behave(
        &app,
        Behaviour {
            hang: Some(false),
            ..Behaviour::default()
        },
    );
    assert_eq!(token(&app, &world).await["source"], "lwa");
}
