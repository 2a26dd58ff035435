//! The LWA emulator speaks LWA's protocol.

use std::sync::Arc;

use serde_json::{json, Value};
use spvault::emulator::{EmulatorState, LwaEmulator};

const CLIENT: &str = "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef";

async fn post(url: &str, content_type: &str, body: String) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn it_answers_form_and_json_bodies_like_lwa() {
    let state = Arc::new(EmulatorState::strict());
    state.register_client(CLIENT, "secret");
    state.register_refresh_token("Atzr|known", CLIENT);
    let emulator = LwaEmulator::start("127.0.0.1:0", Arc::clone(&state)).unwrap();
    let url = emulator.token_url();

    // A raw `|`, as Amazon's JavaScript helper sends it.
    let form = format!(
        "grant_type=refresh_token&refresh_token=Atzr|known&client_id={CLIENT}&client_secret=secret"
    );
    let (status, body) = post(&url, "application/x-www-form-urlencoded", form).await;
    assert_eq!(status, 200);
    assert!(body["access_token"].as_str().unwrap().starts_with("Atza|"));
    assert_eq!(body["refresh_token"], "Atzr|known");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);

    let json_body = json!({"grant_type": "client_credentials", "scope": "sellingpartnerapi::notifications",
                           "client_id": CLIENT, "client_secret": "secret"});
    let (status, body) = post(&url, "application/json", json_body.to_string()).await;
    assert_eq!(status, 200);
    assert!(body.get("refresh_token").is_none());

    let cases = [
        (format!("grant_type=refresh_token&refresh_token=Atzr%7Cunknown&client_id={CLIENT}&client_secret=secret"), 400, "invalid_grant"),
        (format!("grant_type=refresh_token&refresh_token=Atzr|known&client_id={CLIENT}&client_secret=wrong"), 401, "invalid_client"),
        (format!("grant_type=password&client_id={CLIENT}&client_secret=secret"), 400, "unsupported_grant_type"),
        (format!("grant_type=client_credentials&scope=sellingpartnerapi::migration&client_id={CLIENT}&client_secret=secret"), 400, "invalid_scope"),
        ("grant_type=refresh_token".to_owned(), 400, "invalid_request"),
    ];
    for (form, status, error) in cases {
        let (got, body) = post(&url, "application/x-www-form-urlencoded", form.clone()).await;
        assert_eq!(
            (got, body["error"].as_str().unwrap()),
            (status, error),
            "{form}"
        );
        assert!(body["error_description"].is_string());
    }
    // Every attempt counts, the one with the wrong secret too.
    assert_eq!(state.exchanges_for("Atzr|known"), 2);
    state.revoke_refresh_token("Atzr|known");
    let form = format!(
        "grant_type=refresh_token&refresh_token=Atzr|known&client_id={CLIENT}&client_secret=secret"
    );
    let (status, body) = post(&url, "application/x-www-form-urlencoded", form).await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (400, "invalid_grant")
    );

    let stats: Value = reqwest::get(url.replace("/auth/o2/token", "/_emulator/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["by_key"]["Atzr|known"], 3);
    emulator.stop().await;
}

#[tokio::test]
async fn it_can_be_told_to_fail_over_http() {
    let state = Arc::new(EmulatorState::lenient());
    let emulator = LwaEmulator::start("127.0.0.1:0", Arc::clone(&state)).unwrap();
    let control = emulator
        .token_url()
        .replace("/auth/o2/token", "/_emulator/behaviour");
    let response = reqwest::Client::new()
        .post(control)
        .json(&json!({"fail_next": 1, "fail_status": 429, "token_lifetime_secs": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let form = format!(
        "grant_type=refresh_token&refresh_token=Atzr|any&client_id={CLIENT}&client_secret=s"
    );
    let (status, _) = post(
        &emulator.token_url(),
        "application/x-www-form-urlencoded",
        form.clone(),
    )
    .await;
    assert_eq!(status, 429);
    let (status, body) = post(
        &emulator.token_url(),
        "application/x-www-form-urlencoded",
        form,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["expires_in"], 60);
    emulator.stop().await;
}
