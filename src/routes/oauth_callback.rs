//! `GET /oauth/callback`: where Amazon sends the seller's browser after consent. No API key: the
//! state authenticates. It answers browsers, so every answer is a redirect (`303` to the link's
//! `return_url`) or a small self-contained HTML page, never problem+json.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ApiError;
use crate::telemetry::RequestId;
use crate::workflows::onboarding::{Callback, CallbackResult, LinkOutcome, Onboarding};

/// What Amazon adds to the redirect URI (other parameters, such as `mws_auth_token`, are
/// ignored).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The link's single-use state.
    state: Option<String>,
    selling_partner_id: Option<String>,
    /// The one-time code (5 minutes) the vault exchanges for the seller's refresh token.
    #[param(value_type = Option<String>)]
    spapi_oauth_code: Option<SecretString>,
    /// Present instead of a code when the seller declined or Amazon failed.
    error: Option<String>,
    error_description: Option<String>,
}

/// Completes a seller's authorization: exchanges Amazon's code, stores (or renews) the seller,
/// and sends the browser to the link's `return_url` (or shows a page).
#[utoipa::path(get, operation_id = "oauth_callback", path = "/oauth/callback", tag = "onboarding", params(CallbackQuery),
    responses(
        (status = 303, description = "to the link's `return_url`, with `status=authorized`, `seller_id`, `selling_partner_id` and `external_id` (or `status=error&error=…`) added"),
        (status = 200, description = "the seller is connected (a link without `return_url`)", content_type = "text/html"),
        (status = 400, description = "an unknown, used or expired state (nothing changed), or a failed authorization (a link without `return_url`)", content_type = "text/html")))]
pub async fn callback(
    req: HttpRequest,
    request_id: RequestId,
    onboarding: web::Data<Onboarding>,
) -> HttpResponse {
    let Ok(query) = web::Query::<CallbackQuery>::from_query(req.query_string()) else {
        return unknown_state();
    };
    let callback = Callback {
        state: query.state.as_deref(),
        selling_partner_id: query.selling_partner_id.as_deref(),
        code: query.spapi_oauth_code.as_ref(),
        error: query.error.as_deref(),
        error_description: query.error_description.as_deref(),
    };
    match onboarding.callback(callback, request_id.as_str()).await {
        Ok(CallbackResult::UnknownState) => unknown_state(),
        Ok(CallbackResult::Finished {
            return_url: Some(return_url),
            outcome,
        }) => redirect(&return_url, &outcome),
        Ok(CallbackResult::Finished {
            return_url: None,
            outcome,
        }) => outcome_page(&outcome),
        Err(err) => {
            tracing::error!(error = %err, "the onboarding callback failed");
            let status = ApiError::from(err).status_code();
            page(
                status,
                "Something went wrong",
                "The authorization could not be completed. Please start again from the application.",
            )
        }
    }
}

fn unknown_state() -> HttpResponse {
    page(
        StatusCode::BAD_REQUEST,
        "This authorization link is not valid",
        "It is unknown, was used already, or has expired. Please start again from the application.",
    )
}

/// `303` to `return_url` with the outcome in its query.
fn redirect(return_url: &str, outcome: &LinkOutcome) -> HttpResponse {
    let Ok(mut url) = url::Url::parse(return_url) else {
        // Return URLs are checked when links are made; this is not expected.
        return outcome_page(outcome);
    };
    {
        let mut query = url.query_pairs_mut();
        match outcome {
            LinkOutcome::Authorized {
                seller_id,
                selling_partner_id,
                external_id,
            } => {
                query
                    .append_pair("status", "authorized")
                    .append_pair("seller_id", &seller_id.to_string())
                    .append_pair("selling_partner_id", selling_partner_id);
                if let Some(external_id) = external_id {
                    query.append_pair("external_id", external_id);
                }
            }
            LinkOutcome::Failed { error, .. } => {
                query
                    .append_pair("status", "error")
                    .append_pair("error", error);
            }
        }
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, String::from(url)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .finish()
}

fn outcome_page(outcome: &LinkOutcome) -> HttpResponse {
    match outcome {
        LinkOutcome::Authorized {
            selling_partner_id, ..
        } => page(
            StatusCode::OK,
            "Your Amazon account is connected",
            &format!("Selling partner {selling_partner_id} authorized the application. You can close this window."),
        ),
        LinkOutcome::Failed { error, description } => {
            let mut text = format!("The authorization did not complete ({error}).");
            if let Some(description) = description {
                text.push(' ');
                text.push_str(description);
            }
            page(StatusCode::BAD_REQUEST, "The authorization did not complete", &text)
        }
    }
}

/// A small page with no external assets; everything in it is escaped.
fn page(status: StatusCode, title: &str, text: &str) -> HttpResponse {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:36rem;\
         margin:4rem auto;padding:0 1rem;color:#222}}h1{{font-size:1.4rem}}</style></head>\
         <body><h1 id=\"title\">{title}</h1><p id=\"message\">{text}</p></body></html>\n",
        title = escape_html(title),
        text = escape_html(text),
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(body)
}

/// Text made safe for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }
}
