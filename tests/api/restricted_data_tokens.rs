//! `POST /v1/sellers/{id}/restricted-data-token`: Restricted Data Tokens from the Tokens API,
//! cached per seller and canonical resource set, single flight across replicas, audited.

use reqwest::StatusCode;
use serde_json::{json, Value};
use spvault::emulator::Behaviour;
use uuid::Uuid;

use crate::helpers::{
    error_fields, eventually, expect_problem, expect_status, spawn_app, spawn_app_and_world,
    spawn_app_with, token_issues, Key, TestApp, World,
};

const ADDRESS: &str = "/orders/v0/orders/902-1845936-5435065/address";

fn address_set() -> Value {
    json!({"restricted_resources": [{"method": "GET", "path": ADDRESS}]})
}

async fn rdt(app: &TestApp, key: &Key, seller_id: &str, body: &Value) -> reqwest::Response {
    app.post(
        &format!("/v1/sellers/{seller_id}/restricted-data-token"),
        &key.key,
        body,
    )
    .await
}

async fn rdt_ok(app: &TestApp, world: &World, body: &Value) -> Value {
    let response = rdt(app, &world.tokens, &world.seller_id, body).await;
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    expect_status(response, StatusCode::OK).await
}

/// The Tokens API's next `times` calls fail with `status` (the emulator's default: 500).
fn tokens_api_fails(app: &TestApp, times: u32, status: Option<u16>) {
    app.lwa.set_behaviour(Behaviour {
        tokens_api_fail_next: Some(times),
        tokens_api_fail_status: status,
        ..Behaviour::default()
    });
}

/// The emulator's `getOrderAddress`, called with `token` as Amazon takes it.
async fn order_address(app: &TestApp, token: &str) -> StatusCode {
    let base = app.settings.spapi_endpoint.clone().unwrap();
    app.client
        .get(format!("{base}{ADDRESS}"))
        .header("x-amz-access-token", token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn the_first_fetch_calls_the_tokens_api_and_the_second_comes_from_the_cache() {
    let (app, world) = spawn_app_and_world("acme").await;
    let first = rdt_ok(&app, &world, &address_set()).await;
    assert_eq!(first["source"], "sp_api");
    assert_eq!(first["token_type"], "bearer");
    let token = first["restricted_data_token"].as_str().unwrap();
    assert!(token.starts_with("Atz.sprdt|"), "{token}");
    assert!(first["expires_in"].as_i64().unwrap() > 3000);
    let second = rdt_ok(&app, &world, &address_set()).await;
    assert_eq!(second["source"], "cache");
    assert_eq!(
        second["restricted_data_token"],
        first["restricted_data_token"]
    );
    assert_eq!(second["issue_id"], first["issue_id"]);
    assert_eq!(app.lwa.tokens_api_calls(), 1);
}

#[tokio::test]
async fn the_token_opens_the_restricted_operation_it_covers_and_the_access_token_does_not() {
    let (app, world) = spawn_app_and_world("acme").await;
    let body = rdt_ok(&app, &world, &address_set()).await;
    let token = body["restricted_data_token"].as_str().unwrap();
    assert_eq!(order_address(&app, token).await, StatusCode::OK);
    let access = app
        .access_token(&world.tokens, &world.seller_id, None)
        .await;
    let access = expect_status(access, StatusCode::OK).await;
    assert_eq!(
        order_address(&app, access["access_token"].as_str().unwrap()).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn the_same_set_in_another_order_and_case_is_served_from_the_same_entry() {
    let (app, world) = spawn_app_and_world("acme").await;
    let first = rdt_ok(
        &app,
        &world,
        &json!({"restricted_resources": [
            {"method": "GET", "path": "/orders/v0/orders/1", "data_elements": ["shippingAddress", "buyerInfo"]},
            {"method": "GET", "path": ADDRESS},
        ]}),
    )
    .await;
    let second = rdt_ok(
        &app,
        &world,
        &json!({"restricted_resources": [
            {"method": "get", "path": ADDRESS, "data_elements": []},
            {"method": "Get", "path": "/orders/v0/orders/1", "data_elements": ["buyerInfo", "shippingAddress", "buyerInfo"]},
        ]}),
    )
    .await;
    assert_eq!(first["source"], "sp_api");
    assert_eq!(second["source"], "cache");
    assert_eq!(
        second["restricted_data_token"],
        first["restricted_data_token"]
    );
    // Another set is another token.
    let other = rdt_ok(
        &app,
        &world,
        &json!({"restricted_resources": [{"method": "GET", "path": "/orders/v0/orders/1"}]}),
    )
    .await;
    assert_eq!(other["source"], "sp_api");
    assert_eq!(app.lwa.tokens_api_calls(), 2);
}

#[tokio::test]
async fn twenty_concurrent_first_requests_over_two_replicas_make_one_tokens_api_call() {
    let app = spawn_app().await;
    let other = app.another_instance().await;
    let world = app.world("acme").await;
    // A slow Tokens API (and LWA), so that every request arrives while the first is in flight.
    app.lwa.set_behaviour(Behaviour {
        latency_ms: Some(300),
        ..Behaviour::default()
    });
    let requests = (0..20).map(|i| {
        let replica = if i % 2 == 0 { &app } else { &other };
        let world = &world;
        async move {
            let response = rdt(replica, &world.tokens, &world.seller_id, &address_set()).await;
            expect_status(response, StatusCode::OK).await
        }
    });
    let bodies = futures_util::future::join_all(requests).await;
    let token = &bodies[0]["restricted_data_token"];
    assert!(bodies.iter().all(|b| &b["restricted_data_token"] == token));
    assert_eq!(app.lwa.tokens_api_calls(), 1);
    assert_eq!(
        bodies.iter().filter(|b| b["source"] == "sp_api").count(),
        1,
        "one caller got it from the Tokens API, the others from a cache"
    );
}

#[tokio::test]
async fn invalid_resource_sets_are_422_with_their_fields() {
    let (app, world) = spawn_app_and_world("acme").await;
    let many: Vec<Value> = (0..51)
        .map(|i| json!({"method": "GET", "path": format!("/orders/v0/orders/{i}")}))
        .collect();
    let cases = [
        (
            json!({"restricted_resources": many}),
            "restricted_resources",
        ),
        (json!({"restricted_resources": []}), "restricted_resources"),
        (
            json!({"restricted_resources": [{"method": "GET", "path": "/mfn/v0/shipments/1",
                    "data_elements": ["buyerInfo"]}]}),
            "restricted_resources[0].data_elements",
        ),
        (
            json!({"restricted_resources": [{"method": "GET", "path": "/orders/v0/orders?MarketplaceIds=X"}]}),
            "restricted_resources[0].path",
        ),
        (
            json!({"restricted_resources": [{"method": "PATCH", "path": "/orders/v0/orders"}]}),
            "restricted_resources[0].method",
        ),
        (
            json!({"restricted_resources": [{"method": "GET", "path": "orders/v0/orders"}]}),
            "restricted_resources[0].path",
        ),
        (
            json!({"restricted_resources": [{"method": "GET", "path": "/orders/v0/orders",
                    "data_elements": ["creditCard"]}]}),
            "restricted_resources[0].data_elements",
        ),
        (
            json!({"restricted_resources": [{"method": "GET", "path": ADDRESS}], "min_ttl_seconds": 3001}),
            "min_ttl_seconds",
        ),
    ];
    for (body, field) in cases {
        let response = rdt(&app, &world.tokens, &world.seller_id, &body).await;
        let problem = expect_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(error_fields(&problem), [field], "{body}");
    }
    let unknown = rdt(
        &app,
        &world.tokens,
        &world.seller_id,
        &json!({"restricted_resources": [{"method": "GET", "path": ADDRESS}], "scope": "x"}),
    )
    .await;
    expect_problem(unknown, StatusCode::BAD_REQUEST, "malformed_request").await;
    assert_eq!(app.lwa.tokens_api_calls(), 0);
}

#[tokio::test]
async fn amazons_refusal_is_409_sp_api_refused_with_its_errors() {
    let (app, world) = spawn_app_and_world("acme").await;
    tokens_api_fails(&app, 1, Some(400));
    let response = rdt(&app, &world.tokens, &world.seller_id, &address_set()).await;
    let problem = expect_problem(response, StatusCode::CONFLICT, "sp_api_refused").await;
    assert_eq!(problem["errors"][0]["code"], "InvalidInput");
    assert!(!problem["errors"][0]["message"].as_str().unwrap().is_empty());
    // Recorded as a failed call of the Tokens API.
    let refused = token_issues(&app, &world)
        .await
        .into_iter()
        .find(|i| i["grant_type"] == "restricted_data_token")
        .expect("the call is recorded");
    assert_eq!(refused["outcome"], "lwa_error");
    assert_eq!(refused["error_code"], "InvalidInput");
}

#[tokio::test]
async fn a_refused_access_token_is_refreshed_once_before_giving_up() {
    let (app, world) = spawn_app_and_world("acme").await;
    // Refused once: a fresh access token, and the second call succeeds.
    tokens_api_fails(&app, 1, Some(403));
    let body = rdt_ok(&app, &world, &address_set()).await;
    assert_eq!(body["source"], "sp_api");
    assert_eq!(app.lwa.exchanges_for(&world.refresh_token), 2);
    assert_eq!(app.lwa.tokens_api_calls(), 2);
    // Refused twice: Amazon's answer, after one refresh only.
    tokens_api_fails(&app, 2, None);
    let response = rdt(
        &app,
        &world.tokens,
        &world.seller_id,
        &json!({"restricted_resources": [{"method": "GET", "path": "/orders/v0/orders/1"}]}),
    )
    .await;
    let problem = expect_problem(response, StatusCode::CONFLICT, "sp_api_refused").await;
    assert_eq!(problem["errors"][0]["code"], "Unauthorized");
    assert_eq!(app.lwa.exchanges_for(&world.refresh_token), 3);
    assert_eq!(app.lwa.tokens_api_calls(), 4);
}

#[tokio::test]
async fn throttling_is_retried_until_the_tokens_api_answers() {
    let (app, world) = spawn_app_and_world("acme").await;
    tokens_api_fails(&app, 2, Some(429));
    let body = rdt_ok(&app, &world, &address_set()).await;
    assert_eq!(body["source"], "sp_api");
    assert_eq!(app.lwa.tokens_api_calls(), 3);
}

#[tokio::test]
async fn a_tokens_api_that_stays_down_is_503_and_a_valid_cached_token_still_serves() {
    let (app, world) = spawn_app_and_world("acme").await;
    let first = rdt_ok(&app, &world, &address_set()).await;
    tokens_api_fails(&app, 1_000, Some(503));
    // A forced refresh finds Amazon down: the cached token has not expired, so it serves.
    let forced = rdt_ok(
        &app,
        &world,
        &json!({"restricted_resources": [{"method": "GET", "path": ADDRESS}], "force_refresh": true}),
    )
    .await;
    assert_eq!(forced["source"], "cache");
    assert_eq!(
        forced["restricted_data_token"],
        first["restricted_data_token"]
    );
    // A set with nothing cached gets 503.
    let response = rdt(
        &app,
        &world.tokens,
        &world.seller_id,
        &json!({"restricted_resources": [{"method": "GET", "path": "/orders/v0/orders/1"}]}),
    )
    .await;
    assert!(response.headers().contains_key("retry-after"));
    expect_problem(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "upstream_unavailable",
    )
    .await;
}

#[tokio::test]
async fn deliveries_and_issues_record_the_restricted_data_token() {
    let (app, world) = spawn_app_and_world("acme").await;
    let first = rdt_ok(&app, &world, &address_set()).await;
    rdt_ok(&app, &world, &address_set()).await;
    let deliveries = expect_status(
        app.get(
            &format!("/v1/token-deliveries?seller_id={}", world.seller_id),
            &world.audit.key,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let rows = deliveries["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|d| d["kind"] == "restricted_data_token"));
    assert!(rows.iter().all(|d| d["issue_id"] == first["issue_id"]));
    let sources: Vec<&str> = rows.iter().map(|d| d["source"].as_str().unwrap()).collect();
    assert_eq!(sources, ["cache", "sp_api"]);
    // The access token it was minted with never left the vault: no delivery of it.
    let issue = token_issues(&app, &world)
        .await
        .into_iter()
        .find(|i| i["id"] == first["issue_id"])
        .expect("the Tokens API call is an issue");
    assert_eq!(issue["grant_type"], "restricted_data_token");
    assert_eq!(issue["outcome"], "issued");
    assert_eq!(
        issue["resource_set_fingerprint"].as_str().unwrap().len(),
        32
    );
    // And the token someone found can be traced to that call.
    let found = app
        .post(
            "/v1/token-issues/lookup",
            &world.audit.key,
            &json!({"access_token": first["restricted_data_token"]}),
        )
        .await;
    let found = expect_status(found, StatusCode::OK).await;
    assert_eq!(found["id"], first["issue_id"]);
    // An access token's delivery says so.
    expect_status(
        app.access_token(&world.tokens, &world.seller_id, None)
            .await,
        StatusCode::OK,
    )
    .await;
    let deliveries = expect_status(
        app.get("/v1/token-deliveries?limit=1", &world.audit.key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(deliveries["data"][0]["kind"], "access_token");
}

#[tokio::test]
async fn the_token_is_not_in_a_database_dump_in_the_clear() {
    let (app, world) = spawn_app_and_world("acme").await;
    let body = rdt_ok(&app, &world, &address_set()).await;
    let token = body["restricted_data_token"].as_str().unwrap();
    let output = std::process::Command::new("pg_dump")
        .arg("--no-owner")
        .arg(app.database.url())
        .output()
        .expect("pg_dump runs");
    assert!(output.status.success());
    let dump = String::from_utf8_lossy(&output.stdout);
    assert!(dump.contains("COPY public.cached_token"));
    let random = token.split('|').nth(1).unwrap();
    assert!(!dump.contains(random), "the dump reveals the RDT");
    // It is stored, sealed: a restart (another replica) serves it from the database.
    let other = app.another_instance().await;
    let again = rdt(&other, &world.tokens, &world.seller_id, &address_set()).await;
    let again = expect_status(again, StatusCode::OK).await;
    assert_eq!(again["source"], "cache");
    assert_eq!(
        again["restricted_data_token"],
        body["restricted_data_token"]
    );
}

#[tokio::test]
async fn callers_without_the_tokens_scope_or_of_another_tenant_get_nothing() {
    let (app, world) = spawn_app_and_world("acme").await;
    let globex = app.world("globex").await;
    let forbidden = rdt(&app, &world.audit, &world.seller_id, &address_set()).await;
    expect_problem(forbidden, StatusCode::FORBIDDEN, "forbidden").await;
    let foreign = rdt(&app, &globex.tokens, &world.seller_id, &address_set()).await;
    expect_problem(foreign, StatusCode::NOT_FOUND, "not_found").await;
    // A disabled tenant gets nothing, even with a token cached.
    rdt_ok(&app, &world, &address_set()).await;
    let disabled = app
        .patch(
            &format!("/v1/tenants/{}", world.tenant_id),
            &app.operator_key,
            &json!({"disabled": true}),
        )
        .await;
    expect_status(disabled, StatusCode::OK).await;
    let response = rdt(&app, &world.tokens, &world.seller_id, &address_set()).await;
    expect_problem(response, StatusCode::FORBIDDEN, "tenant_disabled").await;
    assert_eq!(app.lwa.tokens_api_calls(), 1);
}

#[tokio::test]
async fn an_rdt_minted_while_the_refresh_token_was_replaced_is_never_stored_nor_handed_out() {
    // A vault that waits for a slow Tokens API (the tests' default gives up after 500 ms).
    let app = spawn_app_with(|settings| {
        settings.lwa_request_timeout_ms = 5_000;
        settings.lwa_retry_budget_ms = 5_000;
    })
    .await;
    let world = app.world("acme").await;
    let seller_id = Uuid::parse_str(&world.seller_id).unwrap();
    // The seller's access token first: only the Tokens API call below is in flight.
    expect_status(
        app.access_token(&world.tokens, &world.seller_id, None)
            .await,
        StatusCode::OK,
    )
    .await;
    app.lwa.set_behaviour(Behaviour {
        latency_ms: Some(1_000),
        ..Behaviour::default()
    });
    let fetch = {
        let (app, key, seller) = (app.clone(), world.tokens.clone(), world.seller_id.clone());
        tokio::spawn(async move { rdt(&app, &key, &seller, &address_set()).await })
    };
    // At the Tokens API with an access token of the old refresh token.
    eventually("the Tokens API call in flight", || async {
        app.lwa.tokens_api_calls() > 0
    })
    .await;
    let new_token = app.replace_refresh_token(&world).await;

    // The caller gets an RDT minted with the new refresh token's access token, and that is what
    // is stored; the first call is on record, its RDT nowhere else.
    let delivered = expect_status(fetch.await.unwrap(), StatusCode::OK).await;
    assert_eq!(delivered["source"], "sp_api");
    assert_eq!(app.lwa.tokens_api_calls(), 2);
    assert_eq!(app.lwa.exchanges_for(&new_token), 1);
    let stored: Vec<Uuid> = sqlx::query_scalar(
        "select issue_id from cached_token where seller_id = $1 and cache_key <> $1",
    )
    .bind(seller_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        stored,
        [Uuid::parse_str(delivered["issue_id"].as_str().unwrap()).unwrap()]
    );
    let issued: Vec<Uuid> = sqlx::query_scalar(
        "select id from token_issue
         where seller_id = $1 and grant_type = 'restricted_data_token' and outcome = 'issued'
         order by id",
    )
    .bind(seller_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(issued.len(), 2, "both calls are on record");
    assert_eq!(issued[1], stored[0]);
    let delivered_issues: Vec<Uuid> = sqlx::query_scalar(
        "select issue_id from token_delivery where seller_id = $1 and kind = 'restricted_data_token'",
    )
    .bind(seller_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(delivered_issues, [issued[1]]);
}

#[tokio::test]
async fn an_rdt_whose_delivery_cannot_be_written_is_stored_but_does_not_leave() {
    let (app, world) = spawn_app_and_world("acme").await;
    // The seller's access token first (its exchange records no delivery, but the same statement).
    expect_status(
        app.access_token(&world.tokens, &world.seller_id, None)
            .await,
        StatusCode::OK,
    )
    .await;
    sqlx::query("alter table token_delivery rename to token_delivery_away")
        .execute(&app.pool)
        .await
        .unwrap();
    let response = rdt(&app, &world.tokens, &world.seller_id, &address_set()).await;
    let body = expect_problem(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert!(!body.to_string().contains("Atz.sprdt|"));
    sqlx::query("alter table token_delivery_away rename to token_delivery")
        .execute(&app.pool)
        .await
        .unwrap();

    // It was kept, with its issue: the next caller gets it, recorded, without another call.
    let served = rdt_ok(&app, &world, &address_set()).await;
    assert_eq!(served["source"], "cache");
    assert_eq!(app.lwa.tokens_api_calls(), 1);
    let (stored, fingerprint): (Uuid, Option<String>) = sqlx::query_as(
        "select c.issue_id, i.resource_set_fingerprint
         from cached_token c join token_issue i on i.id = c.issue_id
         where c.seller_id = $1 and c.cache_key <> $1",
    )
    .bind(Uuid::parse_str(&world.seller_id).unwrap())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(served["issue_id"], stored.to_string());
    assert_eq!(fingerprint.map(|f| f.len()), Some(32));
}

#[tokio::test]
async fn a_revoked_seller_gets_409_seller_authorization_revoked() {
    let (app, world) = spawn_app_and_world("acme").await;
    app.lwa.revoke_refresh_token(&world.refresh_token);
    let response = rdt(&app, &world.tokens, &world.seller_id, &address_set()).await;
    expect_problem(
        response,
        StatusCode::CONFLICT,
        "seller_authorization_revoked",
    )
    .await;
    assert_eq!(app.lwa.tokens_api_calls(), 0);
}

#[tokio::test]
async fn a_seller_asking_for_many_sets_queues_at_amazons_rate_without_starving_others() {
    let app = spawn_app_with(|settings| {
        settings.tenant_rate_limit_per_second = 0;
    })
    .await;
    let world = app.world("acme").await;
    let (other_seller, _) = app.another_seller(&world).await;
    // Warm the access token, so that every request below goes straight to the Tokens API.
    expect_status(
        app.access_token(&world.tokens, &world.seller_id, None)
            .await,
        StatusCode::OK,
    )
    .await;
    let requests = (0..25).map(|i| {
        let (app, world) = (&app, &world);
        async move {
            let body = json!({"restricted_resources": [
                {"method": "GET", "path": format!("/orders/v0/orders/{i}/address")}]});
            rdt(app, &world.tokens, &world.seller_id, &body).await
        }
    });
    let other = async {
        // Another seller of the same tenant is not held up by the first one's queue.
        let response = rdt(&app, &world.tokens, &other_seller, &address_set()).await;
        expect_status(response, StatusCode::OK).await
    };
    let (responses, other) = tokio::join!(futures_util::future::join_all(requests), other);
    assert_eq!(other["source"], "sp_api");
    let mut served = 0;
    let mut limited = 0;
    for response in responses {
        match response.status() {
            StatusCode::OK => served += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(response.headers().contains_key("retry-after"));
                expect_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
                limited += 1;
            }
            status => panic!("unexpected {status}"),
        }
    }
    assert!(served >= 10, "the burst is served: {served}");
    assert!(
        limited >= 1,
        "a full queue is refused, not hammered at Amazon"
    );
    // One call per served caller, plus the other seller's: Amazon was never asked in vain.
    assert_eq!(app.lwa.tokens_api_calls(), served + 1);
}

#[tokio::test]
async fn applications_may_be_sandbox_applications() {
    let (app, world) = spawn_app_and_world("acme").await;
    assert_eq!(world.application["sandbox"], false);
    let id = world.application["id"].as_str().unwrap();
    let patched = app
        .patch(
            &format!("/v1/applications/{id}"),
            &world.admin.key,
            &json!({"sandbox": true}),
        )
        .await;
    let patched = expect_status(patched, StatusCode::OK).await;
    assert_eq!(patched["sandbox"], true);
    let fetched = expect_status(
        app.get(&format!("/v1/applications/{id}"), &world.admin.key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(fetched["sandbox"], true);
    // The emulator stands in for every host (sandbox ones too): the token still comes.
    let body = rdt_ok(&app, &world, &address_set()).await;
    assert_eq!(body["source"], "sp_api");
}
