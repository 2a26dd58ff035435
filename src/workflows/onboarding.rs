//! Seller onboarding: the vault runs Amazon's website authorization workflow itself, so a
//! seller's refresh token goes from Amazon straight into the vault.
//!
//! 1. [`Onboarding::create_link`]: a consent URL for an application, with a fresh `state`
//!    (256 random bits, kept only as its digest, single-use, expiring with the link).
//! 2. The seller consents at Seller (or Vendor) Central, which sends the browser to the
//!    application's redirect URI: the vault's `/oauth/callback`.
//! 3. [`Onboarding::callback`]: the state is claimed in one statement (so of two callbacks racing
//!    with one state, one goes on and the other changes nothing), the code is exchanged at LWA
//!    holding no database connection, and in one transaction the seller is created or renewed
//!    (its refresh token replaced under its row lock, `active` again, its cached tokens dropped:
//!    the steps of `workflows::secrets`), the exchange recorded as a token issue with its access
//!    token cached, the link completed, and `seller.authorized` written.

use std::sync::Arc;

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::secrets::{drop_minted_tokens, not_found, seal, Credential};
use super::tokens::{Broker, CodeExchange, CodeOutcome, CodeRecord};
use super::trail::Actor;
use super::{commit_change, Change, Error, Result, Vault};
use crate::crypto::{self, DataKey};
use crate::db::applications::ApplicationRow;
pub use crate::db::authorization_links::AuthorizationLinkRow;
use crate::db::authorization_links::{self as links, ClaimedLinkRow, NewAuthorizationLink};
use crate::db::{self, sellers};
use crate::domain::marketplaces::{self, Marketplace};
use crate::domain::{
    AmazonState, BrowserUrl, CredentialKind, Cursor, ExternalId, Limit, LinkLifetime, LinkStatus,
    MarketplaceIds, Partner, Region, SellingPartnerId,
};
use crate::keystore::{places, KeyStore};

/// The path of the vault's own redirect URI.
pub const CALLBACK_PATH: &str = "/oauth/callback";

/// Where browsers reach the vault and Amazon's consent pages.
#[derive(Debug, Clone)]
pub struct OnboardingUrls {
    /// The vault as browsers reach it (`SPVAULT_PUBLIC_URL`), without a trailing `/`.
    pub public_url: String,
    /// One base URL replacing every Seller and Vendor Central host (an emulator).
    pub seller_central_url: Option<String>,
}

/// The onboarding workflow: the vault, the broker (for the code exchange) and the URLs.
#[derive(Clone)]
pub struct Onboarding {
    vault: Vault,
    broker: Broker,
    urls: Arc<OnboardingUrls>,
}

/// A flow started in the Appstore: Amazon's callback URI and state, passed on.
pub struct Appstore<'a> {
    pub callback_uri: &'a BrowserUrl,
    pub amazon_state: &'a AmazonState,
}

/// A new link, parsed.
pub struct NewLink<'a> {
    pub application_id: Uuid,
    pub region: Region,
    pub marketplace_id: Option<&'a str>,
    pub partner: Partner,
    pub external_id: Option<&'a ExternalId>,
    pub return_url: Option<&'a BrowserUrl>,
    pub lifetime: LinkLifetime,
    pub appstore: Option<Appstore<'a>>,
}

/// A link just made, with its consent URL: shown once (its state is kept only as a digest).
pub struct CreatedLink {
    pub link: AuthorizationLinkRow,
    pub url: SecretString,
}

/// What a callback brought, as it came.
#[derive(Default)]
pub struct Callback<'a> {
    pub state: Option<&'a str>,
    pub selling_partner_id: Option<&'a str>,
    pub code: Option<&'a SecretString>,
    pub error: Option<&'a str>,
    pub error_description: Option<&'a str>,
}

/// How a callback ended.
pub enum CallbackResult {
    /// The state is unknown, used or expired: nothing changed.
    UnknownState,
    /// The link is done, one way or the other.
    Finished {
        return_url: Option<String>,
        outcome: LinkOutcome,
    },
}

pub enum LinkOutcome {
    Authorized {
        seller_id: Uuid,
        selling_partner_id: String,
        external_id: Option<String>,
    },
    Failed {
        /// A code: Amazon's `error`, LWA's, or the vault's own.
        error: String,
        /// Amazon's `error_description`, for the page (never stored).
        description: Option<String>,
    },
}

impl Onboarding {
    pub fn new(vault: Vault, broker: Broker, urls: OnboardingUrls) -> Self {
        let urls = OnboardingUrls {
            public_url: urls.public_url.trim_end_matches('/').to_owned(),
            seller_central_url: urls
                .seller_central_url
                .map(|u| u.trim_end_matches('/').to_owned()),
        };
        Self {
            vault,
            broker,
            urls: Arc::new(urls),
        }
    }

    /// `{SPVAULT_PUBLIC_URL}/oauth/callback`: an application's redirect URI unless it names one.
    pub fn default_redirect_uri(&self) -> String {
        format!("{}{CALLBACK_PATH}", self.urls.public_url)
    }

    /// The redirect URI an application's consent links name.
    pub fn redirect_uri_of(&self, application: &ApplicationRow) -> String {
        application
            .redirect_uri
            .clone()
            .unwrap_or_else(|| self.default_redirect_uri())
    }

    /// Makes a consent link for an application of `tenant_id`.
    pub async fn create_link(
        &self,
        actor: &Actor,
        tenant_id: Uuid,
        new: NewLink<'_>,
    ) -> Result<CreatedLink> {
        let application =
            db::applications::find_application(&self.vault.pool, tenant_id, new.application_id)
                .await?
                .ok_or_else(|| not_found("application", new.application_id))?;
        let Some(solution_id) = application.solution_id.as_deref() else {
            return Err(Error::Invalid {
                field: "application_id",
                message: "the application has no solution_id; set it (PATCH /v1/applications/{id}) before making links".into(),
            });
        };
        let marketplace = new
            .marketplace_id
            .map(marketplace_of(new.region))
            .transpose()?;
        let state = crypto::new_state();
        let redirect_uri = self.redirect_uri_of(&application);
        let url = match &new.appstore {
            Some(appstore) => {
                self.appstore_url(appstore, &redirect_uri, &state, application.draft)?
            }
            None => self.consent_url(
                new.region,
                marketplace,
                new.partner,
                solution_id,
                &redirect_uri,
                &state,
                application.draft,
            )?,
        };
        let id = Uuid::now_v7();
        let mut tx = self.vault.pool.begin().await?;
        let link = links::insert_link(
            &mut tx,
            NewAuthorizationLink {
                id,
                tenant_id,
                application_id: application.id,
                region: new.region.as_str(),
                marketplace_id: marketplace.map(|m| m.id),
                partner: new.partner.as_str(),
                external_id: new.external_id.map(ExternalId::as_str),
                return_url: new.return_url.map(BrowserUrl::as_str),
                redirect_uri: &redirect_uri,
                state_hash: &crypto::state_digest(state.expose_secret()),
                expires_at: Utc::now() + chrono::Duration::seconds(new.lifetime.seconds()),
            },
        )
        .await?;
        let change = Change::new("authorization_link.created", "authorization_link", id);
        commit_change(&self.vault, tx, actor, change).await?;
        Ok(CreatedLink { link, url })
    }

    /// `{central host}/apps/authorize/consent?application_id=…&state=…&redirect_uri=…`.
    #[allow(clippy::too_many_arguments)]
    fn consent_url(
        &self,
        region: Region,
        marketplace: Option<&Marketplace>,
        partner: Partner,
        solution_id: &str,
        redirect_uri: &str,
        state: &SecretString,
        draft: bool,
    ) -> Result<SecretString> {
        let base = match &self.urls.seller_central_url {
            Some(base) => base.clone(),
            None => {
                let host = match marketplace {
                    Some(m) => m.central_host(partner),
                    None => marketplaces::region_central_host(region, partner),
                };
                format!("https://{host}")
            }
        };
        let mut url = url::Url::parse(&format!("{base}/apps/authorize/consent"))
            .map_err(|err| anyhow::anyhow!("SPVAULT_SELLER_CENTRAL_URL is not a URL: {err}"))?;
        url.query_pairs_mut()
            .append_pair("application_id", solution_id)
            .append_pair("state", state.expose_secret())
            .append_pair("redirect_uri", redirect_uri);
        if draft {
            url.query_pairs_mut().append_pair("version", "beta");
        }
        Ok(SecretString::from(String::from(url)))
    }

    /// `{amazon_callback_uri}?redirect_uri=…&amazon_state=…&state=…`, for an Amazon host only
    /// (or one under `SPVAULT_SELLER_CENTRAL_URL`): the vault never redirects elsewhere.
    fn appstore_url(
        &self,
        appstore: &Appstore<'_>,
        redirect_uri: &str,
        state: &SecretString,
        draft: bool,
    ) -> Result<SecretString> {
        let callback = appstore.callback_uri.url();
        let amazon = callback.scheme() == "https"
            && callback.port().is_none()
            && callback
                .host_str()
                .is_some_and(marketplaces::is_central_host);
        let emulated = self.urls.seller_central_url.as_deref().is_some_and(|base| {
            let text = callback.as_str();
            text.strip_prefix(base)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        if !(amazon || emulated) {
            return Err(Error::Invalid {
                field: "amazon_callback_uri",
                message: "must be an https URL on a Seller Central or Vendor Central host".into(),
            });
        }
        let mut url = callback.clone();
        url.query_pairs_mut()
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("amazon_state", appstore.amazon_state.as_str())
            .append_pair("state", state.expose_secret());
        if draft {
            url.query_pairs_mut().append_pair("version", "beta");
        }
        Ok(SecretString::from(String::from(url)))
    }

    pub async fn get_link(&self, tenant_id: Uuid, id: Uuid) -> Result<AuthorizationLinkRow> {
        links::find_link(&self.vault.pool, tenant_id, id)
            .await?
            .ok_or_else(|| not_found("authorization link", id))
    }

    pub async fn list_links(
        &self,
        tenant_id: Uuid,
        status: Option<LinkStatus>,
        cursor: Option<Cursor>,
        limit: Limit,
    ) -> Result<Vec<AuthorizationLinkRow>> {
        let start = crate::domain::page_start(cursor);
        Ok(links::list_links(&self.vault.pool, tenant_id, status, start, limit).await?)
    }

    /// Amazon's redirect after the seller's decision, authenticated by its state alone.
    pub async fn callback(
        &self,
        callback: Callback<'_>,
        request_id: &str,
    ) -> Result<CallbackResult> {
        let Some(state) = callback.state.filter(|s| !s.is_empty() && s.len() <= 512) else {
            return Ok(CallbackResult::UnknownState);
        };
        let Some(link) = links::claim_state(&self.vault.pool, &crypto::state_digest(state)).await?
        else {
            return Ok(CallbackResult::UnknownState);
        };
        let outcome = self.finish(&link, &callback, request_id).await?;
        Ok(CallbackResult::Finished {
            return_url: link.return_url,
            outcome,
        })
    }

    /// The rest of a callback whose state claimed `link`.
    async fn finish(
        &self,
        link: &ClaimedLinkRow,
        callback: &Callback<'_>,
        request_id: &str,
    ) -> Result<LinkOutcome> {
        if let Some(error) = callback.error {
            let description = callback.error_description.map(str::to_owned);
            return self
                .fail(link, &error_code(error), description, None, request_id)
                .await;
        }
        if link.tenant_disabled {
            return self
                .fail(link, "tenant_disabled", None, None, request_id)
                .await;
        }
        let (Some(partner), Some(code)) = (
            callback
                .selling_partner_id
                .and_then(|p| SellingPartnerId::parse(p).ok()),
            callback.code.filter(|c| {
                let c = c.expose_secret();
                !c.is_empty() && c.len() <= 1024
            }),
        ) else {
            return self
                .fail(link, "invalid_callback", None, None, request_id)
                .await;
        };
        let data_key = self
            .vault
            .keystore
            .data_key(link.tenant_id)
            .await
            .map_err(|err| Error::secret(err, CredentialKind::ClientSecret))?;
        let client_secret = KeyStore::open_with(
            &data_key,
            &places::client_secret(link.tenant_id, link.application_id),
            &link.sealed_client_secret,
        )
        .map_err(|err| Error::secret(err, CredentialKind::ClientSecret))?;
        // No connection is held while LWA answers.
        let exchange = self
            .broker
            .exchange_authorization_code(&link.client_id, &client_secret, code, &link.redirect_uri)
            .await?;
        let refresh_token = match exchange.outcome() {
            CodeOutcome::Granted { refresh_token } => refresh_token.clone(),
            CodeOutcome::Refused(code) => {
                let code = error_code(code);
                let records = Some((&exchange, &*data_key));
                return self.fail(link, &code, None, records, request_id).await;
            }
            CodeOutcome::Unavailable => {
                let records = Some((&exchange, &*data_key));
                return self
                    .fail(link, "upstream_unavailable", None, records, request_id)
                    .await;
            }
        };
        let authorized = Authorization {
            link,
            partner: &partner,
            refresh_token: &refresh_token,
            exchange: &exchange,
            data_key: &data_key,
            request_id,
        };
        // Twice at most: a seller made (or deleted) by someone else meanwhile sends us round
        // once more, as a renewal (or a creation).
        for _ in 0..2 {
            match self.store_seller(&authorized).await? {
                Stored::Seller(seller_id) => {
                    return Ok(LinkOutcome::Authorized {
                        seller_id,
                        selling_partner_id: partner.as_str().to_owned(),
                        external_id: link.external_id.clone(),
                    })
                }
                Stored::Failed(code) => {
                    let records = Some((&exchange, &*data_key));
                    return self.fail(link, code, None, records, request_id).await;
                }
                Stored::Raced => continue,
            }
        }
        let records = Some((&exchange, &*data_key));
        self.fail(link, "conflict", None, records, request_id).await
    }

    /// Creates the seller, or renews the application's seller for this partner and region, in
    /// one transaction with the exchange's records, the link's completion and the audit event.
    async fn store_seller(&self, a: &Authorization<'_>) -> Result<Stored> {
        let link = a.link;
        let region = Region::parse(&link.region).map_err(anyhow::Error::msg)?;
        let existing = sellers::find_seller_by_partner(
            &self.vault.pool,
            link.application_id,
            a.partner,
            region,
        )
        .await?;
        let seller_id = existing.as_ref().map_or_else(Uuid::now_v7, |s| s.id);
        let credential = Credential::RefreshToken { seller_id };
        let sealed = seal(&self.vault, link.tenant_id, credential, a.refresh_token).await?;
        let external_id = link
            .external_id
            .as_deref()
            .map(ExternalId::parse)
            .transpose()
            .map_err(anyhow::Error::msg)?;
        let mut tx = self.vault.pool.begin().await?;
        if existing.is_some() {
            // The row stays locked until the commit.
            let renewed =
                sellers::replace_refresh_token(&mut tx, link.tenant_id, seller_id, &sealed).await?;
            if renewed.is_none() {
                return Ok(Stored::Raced); // deleted meanwhile
            }
            if let Some(external_id) = &external_id {
                let changes = sellers::SellerChanges {
                    external_id: Some(Some(external_id)),
                    marketplace_ids: None,
                };
                if let Err(err) =
                    sellers::update_seller(&mut tx, link.tenant_id, seller_id, changes).await
                {
                    return stored_failure(err);
                }
            }
        } else {
            let marketplace_ids =
                MarketplaceIds::parse(&link.marketplace_id.iter().cloned().collect::<Vec<_>>())
                    .map_err(anyhow::Error::msg)?;
            let inserted = sellers::insert_seller(
                &mut tx,
                sellers::NewSeller {
                    id: seller_id,
                    tenant_id: link.tenant_id,
                    application_id: link.application_id,
                    selling_partner_id: a.partner,
                    region,
                    sealed_refresh_token: &sealed,
                    external_id: external_id.as_ref(),
                    marketplace_ids: &marketplace_ids,
                },
            )
            .await;
            if let Err(err) = inserted {
                return stored_failure(err);
            }
        }
        drop_minted_tokens(&mut tx, credential).await?;
        let record = CodeRecord {
            tenant_id: link.tenant_id,
            application_id: link.application_id,
            seller_id: Some(seller_id),
            request_id: a.request_id,
        };
        a.exchange.record(&mut tx, a.data_key, &record).await?;
        links::complete_link(&mut tx, link.id, seller_id).await?;
        let actor = Actor::keyless(link.tenant_id, a.request_id);
        let change = Change::new("seller.authorized", "seller", seller_id)
            .making_stale(credential.invalidation());
        commit_change(&self.vault, tx, &actor, change).await?;
        Ok(Stored::Seller(seller_id))
    }

    /// Marks the link failed with `error`, recording the exchange's attempts if there was one.
    async fn fail(
        &self,
        link: &ClaimedLinkRow,
        error: &str,
        description: Option<String>,
        exchange: Option<(&CodeExchange, &DataKey)>,
        request_id: &str,
    ) -> Result<LinkOutcome> {
        let mut tx = self.vault.pool.begin().await?;
        if let Some((exchange, data_key)) = exchange {
            let record = CodeRecord {
                tenant_id: link.tenant_id,
                application_id: link.application_id,
                seller_id: None,
                request_id,
            };
            exchange.record(&mut tx, data_key, &record).await?;
        }
        links::fail_link(&mut tx, link.id, error).await?;
        tx.commit().await?;
        Ok(LinkOutcome::Failed {
            error: error.to_owned(),
            description,
        })
    }
}

/// What storing an authorized seller needs.
struct Authorization<'a> {
    link: &'a ClaimedLinkRow,
    partner: &'a SellingPartnerId,
    refresh_token: &'a SecretString,
    exchange: &'a CodeExchange,
    data_key: &'a DataKey,
    request_id: &'a str,
}

enum Stored {
    Seller(Uuid),
    /// Another request created or deleted the seller meanwhile: look again.
    Raced,
    /// It cannot be stored, for this reason (a code).
    Failed(&'static str),
}

/// What a failed write of the seller means.
fn stored_failure(err: sqlx::Error) -> Result<Stored> {
    match db::violated_unique_constraint(&err) {
        Some(sellers::PARTNER_CONSTRAINT) => Ok(Stored::Raced),
        Some(sellers::EXTERNAL_ID_CONSTRAINT) => Ok(Stored::Failed("external_id_taken")),
        _ => match db::violated_foreign_key(&err) {
            Some(sellers::APPLICATION_CONSTRAINT) => Ok(Stored::Failed("application_deleted")),
            _ => Err(err.into()),
        },
    }
}

/// A marketplace of `region`, by id.
fn marketplace_of(region: Region) -> impl Fn(&str) -> Result<&'static Marketplace> {
    move |id| match marketplaces::marketplace(id) {
        Some(m) if m.region == region => Ok(m),
        Some(_) => Err(Error::Invalid {
            field: "marketplace_id",
            message: format!("is not a marketplace of region {}", region.as_str()),
        }),
        None => Err(Error::Invalid {
            field: "marketplace_id",
            message: "is not a known Amazon marketplace id".into(),
        }),
    }
}

/// An error code from outside, kept if it looks like one (letters, digits, `_`, `-`, `.`; at
/// most 64), else a generic one: it is stored and shown, so it must be harmless.
fn error_code(raw: &str) -> String {
    let plausible = !raw.is_empty()
        && raw.len() <= 64
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if plausible {
        raw.to_owned()
    } else {
        "authorization_error".to_owned()
    }
}
