//! Seller Central's consent page, played for `spvault dev` and tests:
//!
//! - `GET /apps/authorize/consent?application_id=…&state=…&redirect_uri=…[&version=beta]` shows
//!   the page: the selling partner id (editable) and two plain HTML forms, "Authorize" and
//!   "Decline";
//! - `POST /apps/authorize/decision` (the forms) redirects to `redirect_uri` with `state`,
//!   `selling_partner_id` and a one-time `spapi_oauth_code` (5 minutes, bound to the redirect URI
//!   and, for a registered solution, to its client id), or with `error=access_denied`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::EmulatorState;
use crate::amazon::lwa::parse_lenient_form;

/// The consent page.
pub(super) async fn consent(state: web::Data<EmulatorState>, req: HttpRequest) -> HttpResponse {
    let fields = parse_lenient_form(&req.query_string().replace('+', "%20"));
    let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
    let (solution_id, oauth_state, redirect_uri) = (
        field("application_id"),
        field("state"),
        field("redirect_uri"),
    );
    if solution_id.is_empty() || oauth_state.is_empty() || !is_web_url(redirect_uri) {
        return page(
            400,
            "Invalid request",
            "<p>application_id, state and an http(s) redirect_uri are required.</p>",
        );
    }
    if !state.knows_solution(solution_id) {
        return page(
            400,
            "Unknown application",
            "<p>No application has this id.</p>",
        );
    }
    let partner = format!("A{}", hex::encode_upper(crate::crypto::random_bytes::<6>()));
    let partner = fields
        .get("selling_partner_id")
        .map(String::as_str)
        .unwrap_or(&partner);
    let hidden = format!(
        "<input type=\"hidden\" name=\"application_id\" value=\"{}\">\
         <input type=\"hidden\" name=\"state\" value=\"{}\">\
         <input type=\"hidden\" name=\"redirect_uri\" value=\"{}\">",
        escape(solution_id),
        escape(oauth_state),
        escape(redirect_uri)
    );
    let beta = if field("version") == "beta" {
        " (draft application: version=beta)"
    } else {
        ""
    };
    let body = format!(
        "<p>The application <code>{app}</code>{beta} asks to access your Amazon selling account.</p>\
         <form method=\"post\" action=\"/apps/authorize/decision\">{hidden}\
         <label>Selling partner id <input name=\"selling_partner_id\" value=\"{partner}\"></label>\
         <input type=\"hidden\" name=\"decision\" value=\"authorize\">\
         <p><button type=\"submit\" id=\"authorize\">Authorize</button></p></form>\
         <form method=\"post\" action=\"/apps/authorize/decision\">{hidden}\
         <input type=\"hidden\" name=\"decision\" value=\"decline\">\
         <p><button type=\"submit\" id=\"decline\">Decline</button></p></form>",
        app = escape(solution_id),
        partner = escape(partner),
    );
    page(
        200,
        "Authorize an application (emulated Seller Central)",
        &body,
    )
}

/// What a consent form sends: the browser goes back to the redirect URI.
pub(super) async fn decision(state: web::Data<EmulatorState>, body: web::Bytes) -> HttpResponse {
    let text = String::from_utf8_lossy(&body).replace('+', "%20");
    let fields = parse_lenient_form(&text);
    let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
    let (solution_id, oauth_state, redirect_uri) = (
        field("application_id"),
        field("state"),
        field("redirect_uri"),
    );
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return page(400, "Invalid request", "<p>redirect_uri is not a URL.</p>");
    };
    if !is_web_url(redirect_uri) || oauth_state.is_empty() || !state.knows_solution(solution_id) {
        return page(
            400,
            "Invalid request",
            "<p>The consent form is incomplete.</p>",
        );
    }
    if field("decision") == "authorize" {
        let partner = field("selling_partner_id");
        let code = state.issue_consent_code(solution_id, redirect_uri);
        url.query_pairs_mut()
            .append_pair("state", oauth_state)
            .append_pair("selling_partner_id", partner)
            .append_pair("spapi_oauth_code", &code);
    } else {
        url.query_pairs_mut()
            .append_pair("state", oauth_state)
            .append_pair("error", "access_denied")
            .append_pair("error_description", "The selling partner declined.");
    }
    HttpResponse::Found()
        .insert_header((header::LOCATION, String::from(url)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

fn is_web_url(value: &str) -> bool {
    url::Url::parse(value).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

fn page(status: u16, title: &str, body: &str) -> HttpResponse {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         </head><body><h1>{title}</h1>{body}</body></html>\n",
        title = escape(title)
    );
    HttpResponse::build(
        actix_web::http::StatusCode::from_u16(status)
            .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST),
    )
    .content_type("text/html; charset=utf-8")
    .insert_header((header::CACHE_CONTROL, "no-store"))
    .body(html)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
