//! Seller onboarding: consent links, the emulated Seller Central, and `/oauth/callback`. The
//! browser is played by a client that does not follow redirects, so every `Location` is checked.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    client_id, client_secret, expect_problem, expect_status, random_hex, selling_partner_id,
    spawn_app_with, Key, TestApp,
};

/// A vault whose consent links point at the emulator (which plays Seller Central).
async fn spawn() -> TestApp {
    spawn_app_with(|settings| {
        let central = settings.lwa_endpoint.trim_end_matches("/auth/o2/token");
        settings.seller_central_url = Some(central.to_owned());
    })
    .await
}

/// The browser: never follows a redirect by itself.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn central(app: &TestApp) -> String {
    app.settings
        .lwa_endpoint
        .trim_end_matches("/auth/o2/token")
        .to_owned()
}

/// An application with a solution id (known to the emulator, bound to its client id).
async fn onboarding_application(app: &TestApp, admin: &Key, extra: Value) -> Value {
    let solution_id = format!("amzn1.sp.solution.{}", random_hex(8));
    let client = client_id();
    let mut body = json!({"name": format!("app-{}", random_hex(4)), "client_id": client,
                          "client_secret": client_secret(), "solution_id": solution_id});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let application = expect_status(
        app.post("/v1/applications", &admin.key, &body).await,
        StatusCode::CREATED,
    )
    .await;
    app.lwa.register_solution(&solution_id, &client);
    application
}

async fn create_link(app: &TestApp, admin: &Key, application: &Value, body: Value) -> Response {
    let id = application["id"].as_str().unwrap();
    app.post(
        &format!("/v1/applications/{id}/authorization-links"),
        &admin.key,
        &body,
    )
    .await
}

fn query(url: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param(url: &str, name: &str) -> Option<String> {
    query(url)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The seller's decision on the emulated consent page: the page is shown, then its form is
/// sent; returns where the emulator sends the browser.
async fn decide(consent_url: &str, partner: &str, decision: &str) -> String {
    let page = browser().get(consent_url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Authorize") && html.contains("Decline"),
        "{html}"
    );
    let url = reqwest::Url::parse(consent_url).unwrap();
    let decision_url = format!(
        "{}://{}/apps/authorize/decision",
        url.scheme(),
        url.authority()
    );
    let form = [
        (
            "application_id",
            param(consent_url, "application_id").unwrap(),
        ),
        ("state", param(consent_url, "state").unwrap()),
        ("redirect_uri", param(consent_url, "redirect_uri").unwrap()),
        ("selling_partner_id", partner.to_owned()),
        ("decision", decision.to_owned()),
    ];
    let response = browser()
        .post(decision_url)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    location(&response)
}

fn location(response: &Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

async fn get(url: &str) -> Response {
    browser().get(url).send().await.unwrap()
}

fn code_exchanges(app: &TestApp, application: &Value) -> u64 {
    app.lwa.exchanges_for(&format!(
        "authorization_code:{}",
        application["client_id"].as_str().unwrap()
    ))
}

async fn link_status(app: &TestApp, admin: &Key, link: &Value) -> Value {
    let id = link["id"].as_str().unwrap();
    expect_status(
        app.get(&format!("/v1/authorization-links/{id}"), &admin.key)
            .await,
        StatusCode::OK,
    )
    .await
}

async fn sellers_of(app: &TestApp, admin: &Key, application: &Value) -> Vec<Value> {
    let id = application["id"].as_str().unwrap();
    let page = expect_status(
        app.get(&format!("/v1/sellers?application_id={id}"), &admin.key)
            .await,
        StatusCode::OK,
    )
    .await;
    page["data"].as_array().unwrap().clone()
}

/// A link with a return URL, through consent, to the callback's answer.
async fn authorize(
    app: &TestApp,
    admin: &Key,
    application: &Value,
    partner: &str,
) -> (Value, Response) {
    let link = expect_status(
        create_link(
            app,
            admin,
            application,
            json!({"region": "na", "return_url": "https://app.example.com/connected?x=1"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let callback = decide(link["url"].as_str().unwrap(), partner, "authorize").await;
    (link, get(&callback).await)
}

#[tokio::test]
async fn the_whole_flow_connects_a_seller_and_returns_to_the_return_url() {
    let app = spawn().await;
    let (_, admin) = app.create_tenant("acme").await;
    let application = onboarding_application(&app, &admin, json!({})).await;
    let link = expect_status(
        create_link(
            &app,
            &admin,
            &application,
            json!({"region": "na", "marketplace_id": "ATVPDKIKX0DER", "external_id": "customer-42",
                   "return_url": "https://app.example.com/connected?x=1"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(link["status"], "pending");
    assert!(link["seller_id"].is_null() && link["error"].is_null());

    // The consent URL: the emulated Seller Central, naming the solution, the state and the
    // vault's own callback.
    let url = link["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/apps/authorize/consent?", central(&app))),
        "{url}"
    );
    assert_eq!(
        param(url, "application_id").as_deref(),
        application["solution_id"].as_str()
    );
    assert_eq!(
        param(url, "redirect_uri").unwrap(),
        format!("{}/oauth/callback", app.address)
    );
    assert!(param(url, "state").unwrap().len() >= 22);
    assert_eq!(param(url, "version"), None);

    let partner = selling_partner_id();
    let callback = decide(url, &partner, "authorize").await;
    assert!(
        callback.starts_with(&format!("{}/oauth/callback?", app.address)),
        "{callback}"
    );
    assert_eq!(param(&callback, "selling_partner_id").unwrap(), partner);
    assert!(param(&callback, "spapi_oauth_code").is_some());

    let done = get(&callback).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()["cache-control"], "no-store");
    let back = location(&done);
    assert!(
        back.starts_with("https://app.example.com/connected?x=1&"),
        "{back}"
    );
    assert_eq!(param(&back, "status").unwrap(), "authorized");
    assert_eq!(param(&back, "selling_partner_id").unwrap(), partner);
    assert_eq!(param(&back, "external_id").unwrap(), "customer-42");
    let seller_id = param(&back, "seller_id").unwrap();

    // The seller exists, from the link, and its token (cached by the code exchange) works.
    let seller = expect_status(
        app.get(&format!("/v1/sellers/{seller_id}"), &admin.key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(seller["selling_partner_id"], partner);
    assert_eq!(seller["external_id"], "customer-42");
    assert_eq!(seller["marketplace_ids"], json!(["ATVPDKIKX0DER"]));
    assert_eq!(seller["status"], "active");
    let token = expect_status(
        app.access_token(&admin, &seller_id, None).await,
        StatusCode::OK,
    )
    .await;
    assert!(token["access_token"].as_str().unwrap().starts_with("Atza|"));
    assert_eq!(token["source"], "cache");
    assert_eq!(code_exchanges(&app, &application), 1);

    // The link says so, for a backend that polls.
    let polled = link_status(&app, &admin, &link).await;
    assert_eq!(polled["status"], "completed");
    assert_eq!(polled["seller_id"], seller_id.as_str());
    assert!(
        polled["url"].is_null(),
        "the state is kept only as a digest"
    );

    // On record: the exchange as a token issue, and the change.
    let issues = expect_status(
        app.get(
            &format!("/v1/token-issues?seller_id={seller_id}"),
            &admin.key,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let issues = issues["data"].as_array().unwrap();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0]["grant_type"], "authorization_code");
    assert_eq!(issues[0]["outcome"], "issued");
    assert_eq!(issues[0]["id"], token["issue_id"]);
    let events = expect_status(
        app.get("/v1/audit-events", &admin.key).await,
        StatusCode::OK,
    )
    .await;
    let authorized: Vec<&Value> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "seller.authorized")
        .collect();
    assert_eq!(authorized.len(), 1);
    assert_eq!(authorized[0]["resource_id"], seller_id.as_str());
    assert!(authorized[0]["api_key_id"].is_null());
}

#[tokio::test]
async fn a_link_without_return_url_ends_on_a_self_contained_page() {
    let app = spawn().await;
    let (_, admin) = app.create_tenant("acme").await;
    let application = onboarding_application(&app, &admin, json!({})).await;
    let link = expect_status(
        create_link(&app, &admin, &application, json!({"region": "eu"})).await,
        StatusCode::CREATED,
    )
    .await;
    let partner = selling_partner_id();
    let callback = decide(link["url"].as_str().unwrap(), &partner, "authorize").await;
    let page = get(&callback).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(
        html.contains("connected") && html.contains(&partner),
        "{html}"
    );
    assert!(
        !html.contains("src=") && !html.contains("href="),
        "no external assets: {html}"
    );
    assert_eq!(sellers_of(&app, &admin, &application).await.len(), 1);
}

#[tokio::test]
async fn a_replayed_callback_is_refused_and_changes_nothing() {
    let app = spawn().await;
    let (_, admin) = app.create_tenant("acme").await;
    let application = onboarding_application(&app, &admin, json!({})).await;
    let link = expect_status(
        create_link(&app, &admin, &application, json!({"region": "na"})).await,
        StatusCode::CREATED,
    )
    .await;
    let callback = decide(
        link["url"].as_str().unwrap(),
        &selling_partner_id(),
        "authorize",
    )
    .await;
    assert_eq!(get(&callback).await.status(), StatusCode::OK);
    let before = sellers_of(&app, &admin, &application).await;

    let replay = get(&callback).await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(replay.text().await.unwrap().contains("not valid"));
    assert_eq!(code_exchanges(&app, &application), 1);
    assert_eq!(sellers_of(&app, &admin, &application).await, before);
    assert_eq!(
        link_status(&app, &admin, &link).await["status"],
        "completed"
    );
}

#[tokio::test]
async fn an_unknown_or_missing_state_is_a_400_page() {
    let app = spawn().await;
    for query in [
        "?state=nope&selling_partner_id=A1&spapi_oauth_code=x",
        "?selling_partner_id=A1&spapi_oauth_code=x",
        "",
        "?state=%ZZ&state=<script>",
    ] {
        let page = get(&format!("{}/oauth/callback{query}", app.address)).await;
        assert_eq!(page.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(!page.text().await.unwrap().contains("<script>"));
    }
}

#[tokio::test]
async fn an_expired_link_is_refused_and_reads_as_expired() {
    let app = spawn().await;
    let (_, admin) = app.create_tenant("acme").await;
    let application = onboarding_application(&app, &admin, json!({})).await;
    let link = expect_status(
        create_link(
            &app,
            &admin,
            &application,
            json!({"region": "na", "expires_in_seconds": 60}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let callback = decide(
        link["url"].as_str().unwrap(),
        &selling_partner_id(),
        "authorize",
    )
    .await;
    // Its time passes.
    sqlx::query("update authorization_link set expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();

    assert_eq!(get(&callback).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code_exchanges(&app, &application), 0);
    assert!(sellers_of(&app, &admin, &application).await.is_empty());
    assert_eq!(link_status(&app, &admin, &link).await["status"], "expired");
    let expired = expect_status(
        app.get("/v1/authorization-links?status=expired", &admin.key)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(expired["data"][0]["id"], link["id"]);
}

#[tokio::test]
async fn a_declined_consent_fails_the_link_and_says_so_to_the_return_url() {
    let app = spawn().await;
    let (_, admin) = app.create_tenant("acme").await;
    let application = onboarding_application(&app, &admin, json!({})).await;
    let link = expect_status(
        create_link(
            &app,
            &admin,
            &application,
            json!({"region": "na", "return_url": "http://127.0.0.1:9/back"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let callback = decide(
        link["url"].as_str().unwrap(),
        &selling_partner_id(),
        "decline",
    )
    .await;
    assert_eq!(param(&callback, "error").as_deref(), Some("access_denied"));
    let done = get(&callback).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let back = location(&done);
    assert!(back.starts_with("http://127.0.0.1:9/back?"), "{back}");
    assert_eq!(param(&back, "status").as_deref(), Some("error"));
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    let polled = link_status(&app, &admin, &link).await;
    assert_eq!(polled["status"], "failed");
    assert_eq!(polled["error"], "access_denied");
    assert_eq!(code_exchanges(&app, &application), 0);
    assert!(sellers_of(&app, &admin, &application).await.is_empty());
}

#[tokio::test]
async fn invalid_grant_on_the_code_fails_the_link_and_is_recorded() {
    let app = spawn().await;
    let (_, admin) = app.create_tenant("acme").await;
    let application = onboarding_application(&app, &admin, json!({})).await;
    let link = expect_status(
        create_link(&app, &admin, &application, json!({"region": "na"})).await,
        StatusCode::CREATED,
    )
    .await;
    let callback = decide(
        link["url"].as_str().unwrap(),
        &selling_partner_id(),
        "authorize",
    )
    .await;
    // A code LWA does not know.
    let code = param(&callback, "spapi_oauth_code").unwrap();
    let forged = callback.replace(&code, "ANforged");
    let page = get(&forged).await;
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    assert!(page.text().await.unwrap().contains("invalid_grant"));
    let polled = link_status(&app, &admin, &link).await;
    assert_eq!(polled["status"], "failed");
    assert_eq!(polled["error"], "invalid_grant");
    assert!(sellers_of(&app, &admin, &application).await.is_empty());
    let issues = expect_status(
        app.get("/v1/token-issues", &admin.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(issues["data"][0]["grant_type"], "authorization_code");
    assert_eq!(issues["data"][0]["error_code"], "invalid_grant");
    // The state was used: the real code cannot be brought afterwards.
    assert_eq!(get(&callback).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn two_concurrent_callbacks_with_one_state_exchange_one_code() {
    let app = spawn().await;
    let (_, admin) = app.create_tenant("acme").await;
    let application = onboarding_application(&app, &admin, json!({})).await;
    let link = expect_status(
        create_link(&app, &admin, &application, json!({"region": "na"})).await,
        StatusCode::CREATED,
    )
    .await;
    let callback = decide(
        link["url"].as_str().unwrap(),
        &selling_partner_id(),
        "authorize",
    )
    .await;
    let (a, b) = tokio::join!(get(&callback), get(&callback));
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::BAD_REQUEST]);
    assert_eq!(code_exchanges(&app, &application), 1);
    assert_eq!(sellers_of(&app, &admin, &application).await.len(), 1);
}

#[tokio::test]
async fn authorizing_again_renews_the_existing_seller() {
    let app = spawn().await;
    let (_, admin) = app.create_tenant("acme").await;
    let application = onboarding_application(&app, &admin, json!({})).await;
    let partner = selling_partner_id();
    let (_, first) = authorize(&app, &admin, &application, &partner).await;
    let seller_id = param(&location(&first), "seller_id").unwrap();
    let first_token = expect_status(
        app.access_token(&admin, &seller_id, None).await,
        StatusCode::OK,
    )
    .await;
    // The seller's authorization is revoked at Amazon meanwhile.
    sqlx::query("update seller set status = 'authorization_revoked'")
        .execute(&app.pool)
        .await
        .unwrap();

    let (_, second) = authorize(&app, &admin, &application, &partner).await;
    assert_eq!(param(&location(&second), "seller_id").unwrap(), seller_id);
    let sellers = sellers_of(&app, &admin, &application).await;
    assert_eq!(sellers.len(), 1);
    assert_eq!(sellers[0]["status"], "active");
    let second_token = expect_status(
        app.access_token(&admin, &seller_id, None).await,
        StatusCode::OK,
    )
    .await;
    assert_ne!(second_token["access_token"], first_token["access_token"]);
    assert_ne!(second_token["issue_id"], first_token["issue_id"]);
    // A new refresh token: the next exchange uses the one the second consent brought.
    let forced = expect_status(
        app.access_token(&admin, &seller_id, Some(json!({"force_refresh": true})))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(forced["source"], "lwa");
    assert_eq!(code_exchanges(&app, &application), 2);
    let refreshed = app.lwa.stats().by_key;
    let renewed: Vec<_> = refreshed
        .iter()
        .filter(|(key, count)| key.starts_with("Atzr|IwEBIemu") && **count == 1)
        .collect();
    assert_eq!(renewed.len(), 1, "{refreshed:?}");
}

#[tokio::test]
async fn a_draft_application_gets_version_beta() {
    let app = spawn().await;
    let (_, admin) = app.create_tenant("acme").await;
    let application = onboarding_application(&app, &admin, json!({"draft": true})).await;
    assert_eq!(application["draft"], true);
    let link = expect_status(
        create_link(&app, &admin, &application, json!({"region": "fe"})).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        param(link["url"].as_str().unwrap(), "version").as_deref(),
        Some("beta")
    );
}

#[tokio::test]
async fn consent_hosts_come_from_the_marketplace_or_region() {
    let app = spawn_app_with(|_| {}).await;
    let (_, admin) = app.create_tenant("acme").await;
    let application = onboarding_application(&app, &admin, json!({})).await;
    for (body, host) in [
        (json!({"region": "na"}), "https://sellercentral.amazon.com/"),
        (
            json!({"region": "eu", "marketplace_id": "A1PA6795UKMFR9"}),
            "https://sellercentral-europe.amazon.com/",
        ),
        (
            json!({"region": "eu", "marketplace_id": "A1805IZSGTT6HS"}),
            "https://sellercentral.amazon.nl/",
        ),
        (
            json!({"region": "fe", "marketplace_id": "A1VC38T7YXB528", "partner": "vendor"}),
            "https://vendorcentral.amazon.co.jp/",
        ),
    ] {
        let link = expect_status(
            create_link(&app, &admin, &application, body.clone()).await,
            StatusCode::CREATED,
        )
        .await;
        let url = link["url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{host}apps/authorize/consent?")),
            "{body}: {url}"
        );
    }
    let wrong_region = create_link(
        &app,
        &admin,
        &application,
        json!({"region": "na", "marketplace_id": "A1PA6795UKMFR9"}),
    )
    .await;
    expect_problem(
        wrong_region,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn the_appstore_variant_sends_the_browser_back_to_amazon() {
    let app = spawn_app_with(|_| {}).await;
    let (_, admin) = app.create_tenant("acme").await;
    let application = onboarding_application(&app, &admin, json!({"draft": true})).await;
    let callback_uri =
        "https://sellercentral.amazon.com/apps/authorize/confirm/amzn1.sp.solution.x";
    let link = expect_status(
        create_link(
            &app,
            &admin,
            &application,
            json!({"region": "na", "amazon_callback_uri": callback_uri, "amazon_state": "amz-state-1"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{callback_uri}?")), "{url}");
    assert_eq!(param(url, "amazon_state").as_deref(), Some("amz-state-1"));
    assert_eq!(
        param(url, "redirect_uri").unwrap(),
        format!("{}/oauth/callback", app.address)
    );
    assert!(param(url, "state").is_some());
    assert_eq!(param(url, "version").as_deref(), Some("beta"));
}

#[tokio::test]
async fn a_foreign_amazon_callback_uri_is_refused() {
    let app = spawn().await;
    let (_, admin) = app.create_tenant("acme").await;
    let application = onboarding_application(&app, &admin, json!({})).await;
    for uri in [
        "https://evil.example.com/apps/authorize/confirm",
        "https://sellercentral.amazon.com.evil.example/x",
        "http://sellercentral.amazon.com/x",
        "https://sellercentral.amazon.com:8443/x",
        "javascript:alert(1)",
    ] {
        let response = create_link(
            &app,
            &admin,
            &application,
            json!({"region": "na", "amazon_callback_uri": uri, "amazon_state": "s"}),
        )
        .await;
        let problem = expect_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(
            problem["errors"][0]["field"], "amazon_callback_uri",
            "{uri}"
        );
    }
    let alone = create_link(
        &app,
        &admin,
        &application,
        json!({"region": "na", "amazon_callback_uri": "https://sellercentral.amazon.com/x"}),
    )
    .await;
    expect_problem(alone, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[tokio::test]
async fn another_tenants_link_and_application_are_not_found() {
    let app = spawn().await;
    let (_, admin) = app.create_tenant("acme").await;
    let (_, other) = app.create_tenant("globex").await;
    let application = onboarding_application(&app, &admin, json!({})).await;
    let link = expect_status(
        create_link(&app, &admin, &application, json!({"region": "na"})).await,
        StatusCode::CREATED,
    )
    .await;
    let id = link["id"].as_str().unwrap();
    expect_problem(
        app.get(&format!("/v1/authorization-links/{id}"), &other.key)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let listed = expect_status(
        app.get("/v1/authorization-links", &other.key).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["data"], json!([]));
    expect_problem(
        create_link(&app, &other, &application, json!({"region": "na"})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn an_application_without_solution_id_cannot_make_links() {
    let app = spawn().await;
    let (_, admin) = app.create_tenant("acme").await;
    let application = app.create_application(&admin, &client_secret()).await;
    assert!(application["solution_id"].is_null());
    let response = create_link(&app, &admin, &application, json!({"region": "na"})).await;
    expect_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

#[tokio::test]
async fn link_and_application_fields_are_validated() {
    let app = spawn().await;
    let (_, admin) = app.create_tenant("acme").await;
    let application = onboarding_application(&app, &admin, json!({})).await;
    for body in [
        json!({"region": "xx"}),
        json!({"region": "na", "return_url": "http://app.example.com/back"}),
        json!({"region": "na", "return_url": "javascript:alert(1)"}),
        json!({"region": "na", "expires_in_seconds": 59}),
        json!({"region": "na", "expires_in_seconds": 86401}),
        json!({"region": "na", "partner": "buyer"}),
        json!({"region": "na", "marketplace_id": "NOPE"}),
    ] {
        let response = create_link(&app, &admin, &application, body.clone()).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
    }
    let bad_app = app
        .post(
            "/v1/applications",
            &admin.key,
            &json!({"name": "x", "client_id": client_id(), "client_secret": client_secret(),
                    "solution_id": "amzn1.application.nope", "redirect_uri": "http://example.com/cb"}),
        )
        .await;
    let problem = expect_problem(
        bad_app,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(
        crate::helpers::error_fields(&problem),
        ["redirect_uri", "solution_id"]
    );
}

#[tokio::test]
async fn applications_show_and_change_their_onboarding_fields() {
    let app = spawn().await;
    let (_, admin) = app.create_tenant("acme").await;
    let application = app.create_application(&admin, &client_secret()).await;
    assert_eq!(application["draft"], false);
    assert_eq!(
        application["redirect_uri"],
        format!("{}/oauth/callback", app.address)
    );
    let id = application["id"].as_str().unwrap();
    let changed = expect_status(
        app.patch(
            &format!("/v1/applications/{id}"),
            &admin.key,
            &json!({"solution_id": "amzn1.sp.solution.abc-123", "draft": true,
                    "redirect_uri": "https://vault.example.com/oauth/callback"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(changed["solution_id"], "amzn1.sp.solution.abc-123");
    assert_eq!(changed["draft"], true);
    assert_eq!(
        changed["redirect_uri"],
        "https://vault.example.com/oauth/callback"
    );
    assert_eq!(changed["name"], application["name"]);
    let reset = expect_status(
        app.patch(
            &format!("/v1/applications/{id}"),
            &admin.key,
            &json!({"redirect_uri": null}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(reset["redirect_uri"], application["redirect_uri"]);
    assert_eq!(reset["solution_id"], "amzn1.sp.solution.abc-123");
}
