//! Parsed values. Each type can only be built by parsing, so the rest of the code only ever sees
//! values that passed the contract's rules. Parse errors are messages for a `422` field error.

pub mod api_key;
mod audit;
mod credentials;
pub mod marketplaces;
mod names;
mod onboarding;
mod pagination;
mod restricted;
pub mod rules;
mod scope;
pub mod sp_api;
mod status;

pub use audit::AuditActor;
pub use credentials::{
    looks_like_access_token, ClientId, ClientSecret, ExternalId, MarketplaceIds, RefreshToken,
    Region, SellingPartnerId, MAX_CREDENTIAL_BYTES,
};
pub use names::{DisplayName, TenantName};
pub use onboarding::{AmazonState, BrowserUrl, LinkLifetime, LinkStatus, Partner, SolutionId};
pub use pagination::{start as page_start, Cursor, Limit, Page};
pub use restricted::{
    ResourceInput, ResourceSet, RestrictedResource, DATA_ELEMENTS, MAX_RESTRICTED_PATH_CHARS,
    MAX_RESTRICTED_RESOURCES, MAX_TARGET_APPLICATION_CHARS, RESTRICTED_METHODS,
};
pub use scope::{grantless_scope, Scope, Scopes, GRANTLESS_SCOPES};
pub use status::{ApplicationStatus, CredentialKind, SellerStatus};
