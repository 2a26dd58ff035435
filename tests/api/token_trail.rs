//! The token trail: every exchange and every delivery on record before the token leaves, traced
//! back from a token found somewhere, filtered, and kept for the retention configured.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::json;
use spvault::background::Task;
use spvault::db::token_trail::NewTokenDelivery;
use spvault::readiness::Readiness;
use spvault::workflows::trail::deliveries::{DeliveryError, DeliveryWriter};
use uuid::Uuid;

use crate::helpers::{
    eventually, expect_problem, expect_status, spawn_app, test_settings, TestDatabase,
};

#[tokio::test]
async fn every_token_handed_out_has_a_delivery_row() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let mut handed_out = Vec::new();
    for request_id in ["first", "second"] {
        let response = app
            .authed(
                Method::POST,
                &format!("/v1/sellers/{}/access-token", world.seller_id),
                &world.tokens.key,
            )
            .header("x-request-id", request_id)
            .send()
            .await
            .unwrap();
        handed_out.push(expect_status(response, StatusCode::OK).await);
    }
    let deliveries = expect_status(
        app.get("/v1/token-deliveries", &world.audit.key).await,
        StatusCode::OK,
    )
    .await;
    let rows = deliveries["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let (second, first) = (&rows[0], &rows[1]);
    assert_eq!(first["request_id"], "first");
    assert_eq!(first["source"], "lwa");
    assert_eq!(second["request_id"], "second");
    assert_eq!(second["source"], "cache");
    for (row, token) in [(first, &handed_out[0]), (second, &handed_out[1])] {
        assert_eq!(row["issue_id"], token["issue_id"]);
        assert_eq!(row["seller_id"], world.seller_id.as_str());
        assert_eq!(row["application_id"], world.application["id"]);
        assert_eq!(row["api_key_id"], world.tokens.id.as_str());
        assert_eq!(row["via"], "v1");
        assert_eq!(row["client_ip"], "127.0.0.1");
        assert!(row["delivered_at"].is_string() && row["id"].is_string());
    }
    let text = deliveries.to_string();
    assert!(!text.contains(handed_out[0]["access_token"].as_str().unwrap()));

    let by_key = expect_status(
        app.get(
            &format!("/v1/token-deliveries?api_key_id={}", world.admin.id),
            &world.audit.key,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(by_key["data"].as_array().unwrap().is_empty());
    let by_seller = expect_status(
        app.get(
            &format!("/v1/token-deliveries?seller_id={}&limit=1", world.seller_id),
            &world.audit.key,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_seller["data"].as_array().unwrap().len(), 1);
    assert!(by_seller["next_cursor"].is_string());
}

#[tokio::test]
async fn no_token_leaves_when_its_record_cannot_be_written() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    sqlx::query("alter table token_delivery rename to token_delivery_away")
        .execute(&app.pool)
        .await
        .unwrap();
    let response = app
        .access_token(&world.tokens, &world.seller_id, None)
        .await;
    let body = expect_problem(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert!(!body.to_string().contains("Atza|"));
    // Cached or not: still nothing without its record.
    let response = app
        .access_token(&world.tokens, &world.seller_id, None)
        .await;
    expect_problem(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;

    sqlx::query("alter table token_delivery_away rename to token_delivery")
        .execute(&app.pool)
        .await
        .unwrap();
    let response = app
        .access_token(&world.tokens, &world.seller_id, None)
        .await;
    assert_eq!(
        expect_status(response, StatusCode::OK).await["source"],
        "cache"
    );
}

#[tokio::test]
async fn the_delivery_writers_connect_when_the_vault_starts_not_at_the_first_token() {
    let app = spawn_app().await;
    // No token handed out yet: the writers' connections are open all the same.
    eventually("both writers connected", || async {
        let connected: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity
             where datname = current_database() and application_name = $1",
        )
        .bind(DeliveryWriter::APPLICATION_NAME)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        connected == i64::from(DeliveryWriter::CONNECTIONS)
    })
    .await;
}

#[tokio::test]
async fn deliveries_go_on_when_postgresql_drops_the_writers_connections() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    // The first from LWA (recorded with its exchange), the second from the cache (by a writer).
    for _ in 0..2 {
        let response = app
            .access_token(&world.tokens, &world.seller_id, None)
            .await;
        expect_status(response, StatusCode::OK).await;
    }
    for round in 0..3 {
        // What a restart or a failover of PostgreSQL does to the connections the writers keep.
        let dropped: i64 = sqlx::query_scalar(
            "select count(*) filter (where pg_terminate_backend(pid)) from pg_stat_activity
             where datname = current_database() and application_name = $1",
        )
        .bind(DeliveryWriter::APPLICATION_NAME)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert!(
            dropped >= 1,
            "round {round}: no writer's connection to drop"
        );
        let response = app
            .access_token(&world.tokens, &world.seller_id, None)
            .await;
        let token = expect_status(response, StatusCode::OK).await;
        assert_eq!(token["source"], "cache", "round {round}");
    }
    let deliveries = expect_status(
        app.get("/v1/token-deliveries", &world.audit.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(deliveries["data"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn a_found_token_is_traced_to_the_exchange_that_minted_it() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let other = app.world("globex").await;
    let issued = expect_status(
        app.access_token(&world.tokens, &world.seller_id, None)
            .await,
        StatusCode::OK,
    )
    .await;
    let access_token = issued["access_token"].as_str().unwrap();

    let found = app
        .post(
            "/v1/token-issues/lookup",
            &world.audit.key,
            &json!({"access_token": access_token}),
        )
        .await;
    let found = expect_status(found, StatusCode::OK).await;
    assert_eq!(found["id"], issued["issue_id"]);
    assert_eq!(found["seller_id"], world.seller_id.as_str());
    assert_eq!(found["outcome"], "issued");
    assert_eq!(found["grant_type"], "refresh_token");
    assert_eq!(found["api_key_id"], world.tokens.id.as_str());
    assert_eq!(found["token_fingerprint"].as_str().unwrap().len(), 32);
    assert!(found["lwa_latency_ms"].is_number());
    assert!(!found.to_string().contains(access_token));

    // Another tenant cannot trace it; an unknown token is not found; garbage is 422.
    let response = app
        .post(
            "/v1/token-issues/lookup",
            &other.audit.key,
            &json!({"access_token": access_token}),
        )
        .await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app
        .post(
            "/v1/token-issues/lookup",
            &world.audit.key,
            &json!({"access_token": "Atza|unknown"}),
        )
        .await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app
        .post(
            "/v1/token-issues/lookup",
            &world.audit.key,
            &json!({"access_token": "not a token"}),
        )
        .await;
    expect_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let response = app
        .post(
            "/v1/token-issues/lookup",
            &world.tokens.key,
            &json!({"access_token": access_token}),
        )
        .await;
    expect_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn token_issues_filter_by_seller_application_and_time() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let (other, _) = app.another_seller(&world).await;
    for seller in [&world.seller_id, &other] {
        expect_status(
            app.access_token(&world.tokens, seller, None).await,
            StatusCode::OK,
        )
        .await;
    }
    let get = |query: String| {
        let app = &app;
        let key = world.audit.key.clone();
        async move {
            expect_status(
                app.get(&format!("/v1/token-issues?{query}"), &key).await,
                StatusCode::OK,
            )
            .await
        }
    };
    assert_eq!(
        get(String::new()).await["data"].as_array().unwrap().len(),
        2
    );
    let mine = get(format!("seller_id={}", world.seller_id)).await;
    assert_eq!(mine["data"].as_array().unwrap().len(), 1);
    assert_eq!(mine["data"][0]["seller_id"], world.seller_id.as_str());
    let by_app = get(format!(
        "application_id={}",
        world.application["id"].as_str().unwrap()
    ))
    .await;
    assert_eq!(by_app["data"].as_array().unwrap().len(), 2);
    assert!(get("since=2100-01-01T00:00:00Z".into()).await["data"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        get("until=2100-01-01T00:00:00Z&limit=1".into()).await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let response = app
        .get("/v1/token-issues?seller_id=nope", &world.audit.key)
        .await;
    expect_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn retention_removes_old_rows_and_keeps_partitions_ahead() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    expect_status(
        app.access_token(&world.tokens, &world.seller_id, None)
            .await,
        StatusCode::OK,
    )
    .await;
    // Age the rows: move them to ids and times of 500 days ago (a partition for that month first).
    sqlx::query("select ensure_trail_partitions(now() - interval '500 days', 0)")
        .execute(&app.pool)
        .await
        .unwrap();
    for table in ["token_issue", "token_delivery"] {
        sqlx::query(&format!(
            "update {table} set id = uuid_v7_floor(now() - interval '500 days')"
        ))
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let deleted = spvault::workflows::trail::retention::enforce(&app.pool, 400)
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar(
        "select (select count(*) from token_issue) + (select count(*) from token_delivery)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(left, 0, "deleted {deleted}");
    let old_partition: Option<String> = sqlx::query_scalar(
        "select to_regclass('token_issue_' || to_char(now() - interval '500 days', 'YYYYMM'))::text",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(
        old_partition.is_none(),
        "the month past retention was dropped"
    );
    let ahead: Option<String> = sqlx::query_scalar(
        "select to_regclass('token_delivery_' || to_char(now() + interval '2 months', 'YYYYMM'))::text",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(ahead.is_some(), "partitions are made ahead");
}

/// 0 would delete the trail as it is written; a huge number made the retention task panic (and
/// with it the making of partitions, so deliveries failed weeks later).
#[tokio::test]
async fn an_audit_retention_of_zero_or_of_centuries_is_refused_at_start() {
    for days in [0, 3651, u32::MAX] {
        let database = TestDatabase::new_named();
        let mut settings = test_settings(&database.url());
        settings.audit_retention_days = days;
        let err = spvault::startup::Application::build(settings)
            .await
            .err()
            .unwrap_or_else(|| panic!("a retention of {days} days is refused"))
            .to_string();
        assert!(
            err.contains("SPVAULT_AUDIT_RETENTION_DAYS") && err.contains("from 1 to 3650"),
            "{err}"
        );
    }
}

fn delivery(tenant: &str, seller: Option<Uuid>, application: &str) -> NewTokenDelivery {
    NewTokenDelivery {
        id: Uuid::now_v7(),
        tenant_id: Uuid::parse_str(tenant).unwrap(),
        issue_id: Uuid::now_v7(),
        seller_id: seller,
        application_id: Uuid::parse_str(application).unwrap(),
        api_key_id: Uuid::now_v7(),
        source: "cache",
        via: "v1",
        delivered_at: chrono::Utc::now(),
        request_id: "batch-test".into(),
        client_ip: "127.0.0.1".into(),
        kind: "access_token",
        proxy: None,
    }
}

fn delivery_writer(app: &crate::helpers::TestApp) -> DeliveryWriter {
    let readiness = Arc::new(Readiness::default());
    DeliveryWriter::start(app.pool.clone(), Task::new("delivery_writer", readiness))
        .expect("the writers' thread starts")
        .0
}

/// The checks are made once per distinct tenant, seller and application of a batch: each row of
/// a batch is still refused or recorded on its own.
#[tokio::test]
async fn each_delivery_of_a_batch_is_checked_on_its_own() {
    let app = spawn_app().await;
    let acme = app.world("acme").await;
    let globex = app.world("globex").await;
    app.patch(
        &format!("/v1/tenants/{}", globex.tenant_id),
        &app.operator_key,
        &json!({"disabled": true}),
    )
    .await;
    let writer = delivery_writer(&app);
    let acme_app = acme.application["id"].as_str().unwrap();
    let acme_seller = Uuid::parse_str(&acme.seller_id).unwrap();
    let rows = [
        (delivery(&acme.tenant_id, Some(acme_seller), acme_app), true),
        (delivery(&acme.tenant_id, Some(acme_seller), acme_app), true),
        // A seller that is not there.
        (
            delivery(&acme.tenant_id, Some(Uuid::now_v7()), acme_app),
            false,
        ),
        // Grantless: the application must be there.
        (delivery(&acme.tenant_id, None, acme_app), true),
        (
            delivery(&acme.tenant_id, None, &Uuid::now_v7().to_string()),
            false,
        ),
        // A disabled tenant's seller.
        (
            delivery(
                &globex.tenant_id,
                Some(Uuid::parse_str(&globex.seller_id).unwrap()),
                globex.application["id"].as_str().unwrap(),
            ),
            false,
        ),
    ];
    for round in 0..2 {
        // All at once (as one batch or a few), then again one by one.
        let outcomes: Vec<bool> = if round == 0 {
            futures_util::future::join_all(rows.iter().map(|(row, _)| {
                let mut row = row.clone();
                row.id = Uuid::now_v7();
                let writer = writer.clone();
                async move { writer.record(row).await }
            }))
            .await
            .into_iter()
            .map(|outcome| match outcome {
                Ok(()) => true,
                Err(DeliveryError::Refused) => false,
                Err(err) => panic!("{err}"),
            })
            .collect()
        } else {
            let mut outcomes = Vec::new();
            for (row, _) in &rows {
                outcomes.push(writer.record(row.clone()).await.is_ok());
            }
            outcomes
        };
        let expected: Vec<bool> = rows.iter().map(|(_, ok)| *ok).collect();
        assert_eq!(outcomes, expected, "round {round}");
    }
    let recorded: i64 =
        sqlx::query_scalar("select count(*) from token_delivery where request_id = 'batch-test'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(recorded, 6);
}

/// A tenant disabled while a batch of its deliveries is being written: the batch waits for the
/// change and sees it, so the check holds at the moment of the commit, not only at the start of
/// the statement.
#[tokio::test]
async fn a_tenant_disabled_while_its_deliveries_are_written_gets_none() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let writer = delivery_writer(&app);
    let application = world.application["id"].as_str().unwrap();
    let seller = Uuid::parse_str(&world.seller_id).unwrap();
    writer
        .record(delivery(&world.tenant_id, Some(seller), application))
        .await
        .unwrap();

    let mut disabling = app.pool.begin().await.unwrap();
    sqlx::query("update tenant set disabled = true where id = $1")
        .bind(Uuid::parse_str(&world.tenant_id).unwrap())
        .execute(&mut *disabling)
        .await
        .unwrap();
    let pending = tokio::spawn({
        let writer = writer.clone();
        let row = delivery(&world.tenant_id, Some(seller), application);
        async move { writer.record(row).await }
    });
    // The batch's statement starts before the change commits, and waits for it.
    let mut waited = 0;
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity
             where datname = current_database() and wait_event_type = 'Lock'
               and query like '%insert into token_delivery%'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if waiting == 1 {
            break;
        }
        assert!(
            waited < 200 && !pending.is_finished(),
            "the batch did not wait for the tenant's change"
        );
        waited += 1;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    disabling.commit().await.unwrap();
    assert!(matches!(
        pending.await.unwrap(),
        Err(DeliveryError::Refused)
    ));
}
