//! `POST /v1/sellers/{id}/access-token` and `…/grantless-token`: the token broker (cache, refresh,
//! single flight, LWA's failures), against the LWA emulator over HTTP.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use spvault::emulator::Behaviour;

use crate::helpers::{expect_problem, expect_status, spawn_app, spawn_app_with, TestApp, World};

async fn token(app: &TestApp, world: &World, body: Option<Value>) -> Value {
    let response = app
        .access_token(&world.tokens, &world.seller_id, body)
        .await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    expect_status(response, StatusCode::OK).await
}

fn lifetime(app: &TestApp, secs: u64) {
    app.lwa.set_behaviour(Behaviour {
        token_lifetime_secs: Some(secs),
        ..Behaviour::default()
    });
}

#[tokio::test]
async fn the_first_fetch_exchanges_and_the_second_comes_from_the_cache() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let first = token(&app, &world, None).await;
    assert_eq!(first["source"], "lwa");
    assert_eq!(first["token_type"], "bearer");
    assert!(first["access_token"].as_str().unwrap().starts_with("Atza|"));
    let expires_in = first["expires_in"].as_i64().unwrap();
    assert!((3590..=3600).contains(&expires_in), "{expires_in}");
    for field in ["expires_at", "issued_at", "issue_id"] {
        assert!(first[field].is_string(), "{field}");
    }

    let second = token(&app, &world, None).await;
    assert_eq!(second["source"], "cache");
    assert_eq!(second["access_token"], first["access_token"]);
    assert_eq!(second["issue_id"], first["issue_id"]);
    assert_eq!(app.lwa.exchanges_for(&world.refresh_token), 1);

    let seller = expect_status(
        app.get(
            &format!("/v1/sellers/{}", world.seller_id),
            &world.admin.key,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(seller["last_token_issued_at"].is_string());
}

#[tokio::test]
async fn an_empty_json_body_is_the_same_as_none() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    assert_eq!(token(&app, &world, Some(json!({}))).await["source"], "lwa");
    let response = app
        .access_token(
            &world.tokens,
            &world.seller_id,
            Some(json!({"min_ttl_seconds": 3001})),
        )
        .await;
    let body = expect_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "min_ttl_seconds");
    let response = app
        .access_token(
            &world.tokens,
            &world.seller_id,
            Some(json!({"force": true})),
        )
        .await;
    expect_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;
}

#[tokio::test]
async fn a_token_within_the_refresh_skew_is_exchanged_again() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    lifetime(&app, 200); // less than the 300 s skew: never good enough to cache
    assert_eq!(token(&app, &world, None).await["source"], "lwa");
    assert_eq!(token(&app, &world, None).await["source"], "lwa");
    assert_eq!(app.lwa.exchanges_for(&world.refresh_token), 2);
}

#[tokio::test]
async fn min_ttl_seconds_beyond_the_skew_demands_a_fresher_token() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    lifetime(&app, 900);
    let first = token(&app, &world, None).await;
    assert_eq!(
        token(&app, &world, Some(json!({"min_ttl_seconds": 600}))).await["source"],
        "cache"
    );
    let fresher = token(&app, &world, Some(json!({"min_ttl_seconds": 1000}))).await;
    assert_eq!(fresher["source"], "lwa");
    assert_ne!(fresher["access_token"], first["access_token"]);
}

#[tokio::test]
async fn force_refresh_always_exchanges() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let first = token(&app, &world, None).await;
    let forced = token(&app, &world, Some(json!({"force_refresh": true}))).await;
    assert_eq!(forced["source"], "lwa");
    assert_ne!(forced["access_token"], first["access_token"]);
    // The fresh token is the cached one now.
    assert_eq!(
        token(&app, &world, None).await["access_token"],
        forced["access_token"]
    );
    assert_eq!(app.lwa.exchanges_for(&world.refresh_token), 2);
}

#[tokio::test]
async fn sixty_four_concurrent_cold_requests_cause_one_exchange() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    app.lwa.set_behaviour(Behaviour {
        latency_ms: Some(200),
        ..Behaviour::default()
    });
    let requests = (0..64).map(|_| app.access_token(&world.tokens, &world.seller_id, None));
    let responses = futures_util::future::join_all(requests).await;
    let mut tokens = std::collections::HashSet::new();
    for response in responses {
        tokens.insert(expect_status(response, StatusCode::OK).await["access_token"].clone());
    }
    assert_eq!(tokens.len(), 1);
    assert_eq!(app.lwa.exchanges_for(&world.refresh_token), 1);
}

#[tokio::test]
async fn three_replicas_on_one_database_cause_one_exchange() {
    let app = spawn_app().await;
    let second = app.another_instance().await;
    let third = app.another_instance().await;
    let world = app.world("acme").await;
    app.lwa.set_behaviour(Behaviour {
        latency_ms: Some(300),
        ..Behaviour::default()
    });
    let replicas = [&app, &second, &third];
    let requests =
        (0..63).map(|i| replicas[i % 3].access_token(&world.tokens, &world.seller_id, None));
    let responses = futures_util::future::join_all(requests).await;
    let mut tokens = std::collections::HashSet::new();
    for response in responses {
        tokens.insert(expect_status(response, StatusCode::OK).await["access_token"].clone());
    }
    assert_eq!(tokens.len(), 1);
    assert_eq!(app.lwa.exchanges_for(&world.refresh_token), 1);
}

#[tokio::test]
async fn invalid_grant_revokes_the_seller_until_its_token_is_replaced() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    app.lwa.revoke_refresh_token(&world.refresh_token);
    let response = app
        .access_token(&world.tokens, &world.seller_id, None)
        .await;
    expect_problem(
        response,
        StatusCode::CONFLICT,
        "seller_authorization_revoked",
    )
    .await;
    let seller_path = format!("/v1/sellers/{}", world.seller_id);
    let seller = expect_status(
        app.get(&seller_path, &world.admin.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(seller["status"], "authorization_revoked");

    // Remembered: answered at once, without calling LWA.
    let response = app
        .access_token(&world.tokens, &world.seller_id, None)
        .await;
    expect_problem(
        response,
        StatusCode::CONFLICT,
        "seller_authorization_revoked",
    )
    .await;
    assert_eq!(app.lwa.exchanges_for(&world.refresh_token), 1);

    let new_token = crate::helpers::refresh_token();
    let response = app
        .authed(
            Method::PUT,
            &format!("{seller_path}/refresh-token"),
            &world.admin.key,
        )
        .json(&json!({"refresh_token": new_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_status(response, StatusCode::OK).await["status"],
        "active"
    );
    assert_eq!(token(&app, &world, None).await["source"], "lwa");
    assert_eq!(app.lwa.exchanges_for(&new_token), 1);
}

#[tokio::test]
async fn invalid_client_rejects_the_application_until_its_secret_is_replaced() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let client_id = world.application["client_id"].as_str().unwrap().to_owned();
    app.lwa.reject_client(&client_id);
    let response = app
        .access_token(&world.tokens, &world.seller_id, None)
        .await;
    expect_problem(
        response,
        StatusCode::CONFLICT,
        "client_credentials_rejected",
    )
    .await;
    let app_path = format!(
        "/v1/applications/{}",
        world.application["id"].as_str().unwrap()
    );
    let application =
        expect_status(app.get(&app_path, &world.admin.key).await, StatusCode::OK).await;
    assert_eq!(application["status"], "client_credentials_rejected");

    let before = app.lwa.total_exchanges();
    let response = app
        .access_token(&world.tokens, &world.seller_id, None)
        .await;
    expect_problem(
        response,
        StatusCode::CONFLICT,
        "client_credentials_rejected",
    )
    .await;
    assert_eq!(
        app.lwa.total_exchanges(),
        before,
        "no call to LWA while rejected"
    );

    let new_secret = crate::helpers::client_secret();
    app.lwa.register_client(&client_id, &new_secret);
    let response = app
        .authed(
            Method::PUT,
            &format!("{app_path}/client-secret"),
            &world.admin.key,
        )
        .json(&json!({"client_secret": new_secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_status(response, StatusCode::OK).await["status"],
        "active"
    );
    assert_eq!(token(&app, &world, None).await["source"], "lwa");
}

#[tokio::test]
async fn transient_failures_are_retried_and_each_attempt_recorded() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    app.lwa.set_behaviour(Behaviour {
        fail_next: Some(2),
        fail_status: Some(503),
        ..Behaviour::default()
    });
    let issued = token(&app, &world, None).await;
    assert_eq!(issued["source"], "lwa");
    assert_eq!(app.lwa.exchanges_for(&world.refresh_token), 3);

    let issues = expect_status(
        app.get("/v1/token-issues", &world.audit.key).await,
        StatusCode::OK,
    )
    .await;
    let rows = issues["data"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["outcome"], "issued");
    assert_eq!(rows[0]["id"], issued["issue_id"]);
    for failed in &rows[1..] {
        assert_eq!(failed["outcome"], "lwa_error");
        assert_eq!(failed["error_code"], "http_503");
        assert!(failed["token_fingerprint"].is_null());
    }
}

/// 429 and 408 say "not now", not "no": retried like a 5xx.
#[tokio::test]
async fn throttling_and_request_timeouts_at_lwa_are_retried() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    for (status, seller) in [
        (429, world.seller_id.clone()),
        (408, app.another_seller(&world).await.0),
    ] {
        app.lwa.set_behaviour(Behaviour {
            fail_next: Some(1),
            fail_status: Some(status),
            ..Behaviour::default()
        });
        let issued = expect_status(
            app.access_token(&world.tokens, &seller, None).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(issued["source"], "lwa", "{status}");
    }
}

#[tokio::test]
async fn when_lwa_stays_down_a_still_valid_token_is_served_else_503() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let cached = token(&app, &world, None).await;
    app.lwa.set_behaviour(Behaviour {
        fail_next: Some(10_000),
        fail_status: Some(500),
        ..Behaviour::default()
    });
    let fallback = token(&app, &world, Some(json!({"force_refresh": true}))).await;
    assert_eq!(fallback["source"], "cache");
    assert_eq!(fallback["access_token"], cached["access_token"]);

    let (other, _) = app.another_seller(&world).await;
    let response = app.access_token(&world.tokens, &other, None).await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let body = expect_problem(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "upstream_unavailable",
    )
    .await;
    assert!(!body.to_string().contains("Atza|"));
}

#[tokio::test]
async fn a_hanging_lwa_times_out_into_503() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    app.lwa.set_behaviour(Behaviour {
        hang: Some(true),
        ..Behaviour::default()
    });
    let started = std::time::Instant::now();
    let response = app
        .access_token(&world.tokens, &world.seller_id, None)
        .await;
    expect_problem(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "upstream_unavailable",
    )
    .await;
    // Bounded by the retry budget (1.5 s in tests), not by LWA.
    assert!(started.elapsed() < Duration::from_secs(10));
    app.lwa.set_behaviour(Behaviour {
        hang: Some(false),
        ..Behaviour::default()
    });
    let issues = expect_status(
        app.get("/v1/token-issues", &world.audit.key).await,
        StatusCode::OK,
    )
    .await;
    assert!(issues["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["error_code"] == "timeout"));
}

#[tokio::test]
async fn grantless_tokens_are_cached_per_application_and_scope() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let path = format!(
        "/v1/applications/{}/grantless-token",
        world.application["id"].as_str().unwrap()
    );
    let body = json!({"scope": "sellingpartnerapi::notifications"});
    let first = expect_status(
        app.post(&path, &world.tokens.key, &body).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(first["source"], "lwa");
    let second = expect_status(
        app.post(&path, &world.tokens.key, &body).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(second["source"], "cache");
    assert_eq!(second["access_token"], first["access_token"]);
    let rotation = json!({"scope": "sellingpartnerapi::client_credential:rotation"});
    let other = expect_status(
        app.post(&path, &world.tokens.key, &rotation).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(other["source"], "lwa");
    assert_ne!(other["access_token"], first["access_token"]);

    let bad = app
        .post(
            &path,
            &world.tokens.key,
            &json!({"scope": "sellingpartnerapi::migration"}),
        )
        .await;
    let problem = expect_problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "scope");

    let issues = expect_status(
        app.get("/v1/token-issues", &world.audit.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(issues["data"][0]["grant_type"], "client_credentials");
    assert_eq!(
        issues["data"][0]["scope"],
        "sellingpartnerapi::client_credential:rotation"
    );
    assert!(issues["data"][0]["seller_id"].is_null());
}

#[tokio::test]
async fn only_tokens_keys_of_the_sellers_tenant_get_tokens() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let other = app.world("globex").await;
    let response = app.access_token(&world.admin, &world.seller_id, None).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the first admin key also has scope tokens"
    );
    let admin_only = app.create_key(&world.admin, &["admin"]).await;
    let response = app.access_token(&admin_only, &world.seller_id, None).await;
    expect_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
    let response = app
        .access_token(&other.tokens, &world.seller_id, None)
        .await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app
        .post(
            &format!(
                "/v1/applications/{}/grantless-token",
                world.application["id"].as_str().unwrap()
            ),
            &other.tokens.key,
            &json!({"scope": "sellingpartnerapi::notifications"}),
        )
        .await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app
        .access_token(&world.tokens, &uuid::Uuid::now_v7().to_string(), None)
        .await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn no_token_for_a_disabled_tenant_or_a_deleted_seller() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    token(&app, &world, None).await;
    expect_status(
        app.delete(
            &format!("/v1/sellers/{}", world.seller_id),
            &world.admin.key,
        )
        .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let response = app
        .access_token(&world.tokens, &world.seller_id, None)
        .await;
    expect_problem(response, StatusCode::NOT_FOUND, "not_found").await;

    let (other, _) = app.another_seller(&world).await;
    token_for(&app, &world, &other).await;
    app.patch(
        &format!("/v1/tenants/{}", world.tenant_id),
        &app.operator_key,
        &json!({"disabled": true}),
    )
    .await;
    let response = app.access_token(&world.tokens, &other, None).await;
    expect_problem(response, StatusCode::FORBIDDEN, "tenant_disabled").await;
}

/// The world's seller's token fetch, with LWA taking 300 ms, and `meanwhile` sent 100 ms into
/// it (well into the exchange); both answers.
/// A vault that waits for LWA as long as a test holds it (the tests' default gives up after
/// 500 ms).
async fn patient_app() -> TestApp {
    spawn_app_with(|settings| {
        settings.lwa_request_timeout_ms = 10_000;
        settings.lwa_retry_budget_ms = 10_000;
    })
    .await
}

async fn during_an_exchange(
    app: &TestApp,
    world: &World,
    meanwhile: impl std::future::Future<Output = reqwest::Response>,
) -> (reqwest::Response, reqwest::Response) {
    // LWA holds the exchange until `meanwhile` is done: no head start to guess on a busy machine.
    app.lwa.set_behaviour(Behaviour {
        hang: Some(true),
        ..Behaviour::default()
    });
    let meanwhile = async {
        for _ in 0..1500 {
            if app.lwa.max_in_flight() > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            app.lwa.max_in_flight() > 0,
            "the exchange never reached LWA"
        );
        let answer = meanwhile.await;
        app.lwa.set_behaviour(Behaviour {
            hang: Some(false),
            ..Behaviour::default()
        });
        answer
    };
    tokio::join!(
        app.access_token(&world.tokens, &world.seller_id, None),
        meanwhile
    )
}

/// A tenant disabled while its exchange is at LWA gets no token, but the exchange is on record.
#[tokio::test]
async fn a_tenant_disabled_during_an_exchange_gets_no_token() {
    let app = patient_app().await;
    let world = app.world("acme").await;
    let tenant = format!("/v1/tenants/{}", world.tenant_id);
    let disable = json!({"disabled": true});
    let (fetched, disabled) = during_an_exchange(
        &app,
        &world,
        app.patch(&tenant, &app.operator_key, &disable),
    )
    .await;
    expect_status(disabled, StatusCode::OK).await;
    let body = expect_problem(fetched, StatusCode::FORBIDDEN, "tenant_disabled").await;
    assert!(!body.to_string().contains("Atza|"));
    let (issues, deliveries): (i64, i64) = sqlx::query_as(
        "select (select count(*) from token_issue), (select count(*) from token_delivery)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((issues, deliveries), (1, 0));
}

/// A tenant deleted while its exchange is at LWA: the caller learns it is gone, not a 500.
#[tokio::test]
async fn a_tenant_deleted_during_an_exchange_is_not_a_500() {
    let app = patient_app().await;
    let world = app.world("acme").await;
    let tenant = format!("/v1/tenants/{}", world.tenant_id);
    let (fetched, deleted) =
        during_an_exchange(&app, &world, app.delete(&tenant, &app.operator_key)).await;
    expect_status(deleted, StatusCode::NO_CONTENT).await;
    let status = fetched.status();
    let body = fetched.text().await.unwrap();
    assert!(
        [StatusCode::NOT_FOUND, StatusCode::SERVICE_UNAVAILABLE].contains(&status),
        "{status} {body}"
    );
    assert!(!body.contains("Atza|"));
}

/// A caller that gives up while LWA is answering (an SDK's short timeout): the exchange still
/// ends on record, and the next caller gets its token from the cache.
#[tokio::test]
async fn an_exchange_is_recorded_even_if_its_caller_goes_away() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    app.lwa.set_behaviour(Behaviour {
        latency_ms: Some(400),
        ..Behaviour::default()
    });
    let gave_up = app
        .authed(
            Method::POST,
            &format!("/v1/sellers/{}/access-token", world.seller_id),
            &world.tokens.key,
        )
        .timeout(Duration::from_millis(150))
        .send()
        .await;
    assert!(gave_up.unwrap_err().is_timeout());
    tokio::time::sleep(Duration::from_millis(600)).await;
    let issues: i64 = sqlx::query_scalar("select count(*) from token_issue")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(issues, 1);
    app.lwa.set_behaviour(Behaviour {
        latency_ms: Some(0),
        ..Behaviour::default()
    });
    assert_eq!(token(&app, &world, None).await["source"], "cache");
    assert_eq!(app.lwa.exchanges_for(&world.refresh_token), 1);
}

async fn token_for(app: &TestApp, world: &World, seller_id: &str) -> Value {
    expect_status(
        app.access_token(&world.tokens, seller_id, None).await,
        StatusCode::OK,
    )
    .await
}

#[tokio::test]
async fn replacing_the_refresh_token_drops_the_cached_access_token() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let first = token(&app, &world, None).await;
    app.authed(
        Method::PUT,
        &format!("/v1/sellers/{}/refresh-token", world.seller_id),
        &world.admin.key,
    )
    .json(&json!({"refresh_token": crate::helpers::refresh_token()}))
    .send()
    .await
    .unwrap();
    let after = token(&app, &world, None).await;
    assert_eq!(after["source"], "lwa");
    assert_ne!(after["access_token"], first["access_token"]);
}

/// A refresh token replaced while an exchange with the old one is in flight: the replacement
/// waits for that exchange, so neither the old token's access token nor LWA's verdict on it
/// outlives the replacement.
#[tokio::test]
async fn a_refresh_token_replaced_during_an_exchange_wins() {
    let app = patient_app().await;
    let world = app.world("acme").await;
    app.lwa.revoke_refresh_token(&world.refresh_token);
    let new_token = crate::helpers::refresh_token();
    let replace = async {
        app.authed(
            Method::PUT,
            &format!("/v1/sellers/{}/refresh-token", world.seller_id),
            &world.admin.key,
        )
        .json(&json!({"refresh_token": new_token}))
        .send()
        .await
        .unwrap()
    };
    let (fetched, replaced) = during_an_exchange(&app, &world, replace).await;
    assert!(
        [StatusCode::OK, StatusCode::CONFLICT].contains(&fetched.status()),
        "{}",
        fetched.status()
    );
    assert_eq!(
        expect_status(replaced, StatusCode::OK).await["status"],
        "active"
    );
    let after = token(&app, &world, None).await;
    assert_eq!(app.lwa.exchanges_for(&new_token), 1, "{after}");
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
async fn a_restarted_replica_uses_the_stored_token_without_an_exchange() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let first = token(&app, &world, None).await;
    let fresh = app.another_instance().await;
    let response = fresh
        .access_token(&world.tokens, &world.seller_id, None)
        .await;
    let second = expect_status(response, StatusCode::OK).await;
    assert_eq!(second["source"], "cache");
    assert_eq!(second["access_token"], first["access_token"]);
    assert_eq!(app.lwa.exchanges_for(&world.refresh_token), 1);
    // Stored sealed, not in the clear.
    let stored: Vec<u8> = sqlx::query_scalar("select sealed_token from cached_token")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let token_text = first["access_token"].as_str().unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains(&token_text[5..]));
}

#[tokio::test]
async fn a_refresh_token_copied_from_another_row_is_a_clear_409_not_a_500() {
    let app = spawn_app().await;
    let world = app.world("acme").await;
    let (other, _) = app.another_seller(&world).await;
    sqlx::query(
        "update seller set refresh_token = (select refresh_token from seller where id = $1::uuid)
         where id = $2::uuid",
    )
    .bind(&world.seller_id)
    .bind(&other)
    .execute(&app.pool)
    .await
    .unwrap();
    let response = app.access_token(&world.tokens, &other, None).await;
    let body = expect_problem(response, StatusCode::CONFLICT, "credential_unreadable").await;
    assert!(body["detail"].as_str().unwrap().contains("refresh token"));
    assert_eq!(
        app.lwa.exchanges_for(&world.refresh_token),
        0,
        "never sent to LWA"
    );
}
