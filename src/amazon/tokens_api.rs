//! SP-API's Tokens API (version 2021-03-01): `createRestrictedDataToken`, the token an SP-API
//! operation that returns personal data takes in place of the access token.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::Method;
use secrecy::SecretString;
use serde::Deserialize;

use super::sp_api::{SpApiClient, SpApiFailure};

/// `createRestrictedDataToken`.
pub const RESTRICTED_DATA_TOKEN_PATH: &str = "/tokens/2021-03-01/restrictedDataToken";

/// The longest lifetime believed of an answer (Amazon's tokens live an hour).
const LONGEST_LIFETIME_SECS: u64 = 24 * 3600;

/// Amazon's answer `{"restrictedDataToken", "expiresIn"}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    restricted_data_token: SecretString,
    expires_in: u64,
}

/// A Restricted Data Token as the Tokens API issued it.
pub struct RestrictedDataToken {
    pub token: SecretString,
    pub expires_in: u64,
}

/// One call of the Tokens API, however it ended, and when and how long.
pub struct TokensApiCall {
    pub started_at: DateTime<Utc>,
    pub latency: Duration,
    pub result: Result<RestrictedDataToken, SpApiFailure>,
}

impl TokensApiCall {
    pub fn latency_ms(&self) -> i32 {
        i32::try_from(self.latency.as_millis()).unwrap_or(i32::MAX)
    }
}

/// Whether Amazon refused the access token itself (`403 Unauthorized` or `InvalidInput`), so
/// that a fresh one may succeed.
pub fn refused_access_token(failure: &SpApiFailure) -> bool {
    matches!(failure, SpApiFailure::Refused { status: 403, errors }
        if errors.iter().any(|e| e.code == "Unauthorized" || e.code == "InvalidInput"))
}

impl SpApiClient {
    /// Asks the Tokens API at `base` for a Restricted Data Token covering `body` (the canonical
    /// `{"restrictedResources", "targetApplication"?}`), with the seller's access token. 429 and
    /// 5xx are retried within the budget; an answer without a token counts as unavailable.
    pub async fn create_restricted_data_token(
        &self,
        base: &str,
        access_token: &SecretString,
        body: &serde_json::Value,
    ) -> TokensApiCall {
        let started_at = Utc::now();
        let started = Instant::now();
        let result = self
            .call(
                Method::POST,
                base,
                RESTRICTED_DATA_TOKEN_PATH,
                access_token,
                Some(body),
            )
            .await
            .and_then(|answer| {
                let body = zeroize::Zeroizing::new(answer.body);
                let parsed = serde_json::from_slice::<Answer>(&body);
                match parsed {
                    Ok(answer) if answer.expires_in > 0 => Ok(RestrictedDataToken {
                        token: answer.restricted_data_token,
                        expires_in: answer.expires_in.min(LONGEST_LIFETIME_SECS),
                    }),
                    _ => Err(SpApiFailure::Unavailable("malformed_response".into())),
                }
            });
        TokensApiCall {
            started_at,
            latency: started.elapsed(),
            result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amazon::sp_api::SpApiError;

    fn refused(status: u16, code: &str) -> SpApiFailure {
        SpApiFailure::Refused {
            status,
            errors: vec![SpApiError {
                code: code.into(),
                message: String::new(),
                details: None,
            }],
        }
    }

    #[test]
    fn only_a_refused_access_token_is_worth_a_fresh_one() {
        assert!(refused_access_token(&refused(403, "Unauthorized")));
        assert!(refused_access_token(&refused(403, "InvalidInput")));
        assert!(!refused_access_token(&refused(400, "InvalidInput")));
        assert!(!refused_access_token(&refused(403, "AccessDenied")));
        assert!(!refused_access_token(&SpApiFailure::Unavailable(
            "http_503".into()
        )));
    }
}
