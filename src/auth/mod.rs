//! Who is calling, and what they may do.
//!
//! Routes that need a key are wrapped in `require_key`, which authenticates before anything else
//! about the request is parsed. Handlers never check scopes themselves: they ask for an extractor
//! (`OperatorCaller`, `TenantCaller<AdminScope>`, …) that only exists once the checks
//! passed (`auth::callers`), and tenant-owned data is reached through the `tenant_id` it
//! carries.

mod authenticator;
mod callers;
mod client_address;
mod failure_limit;
mod tenant_rate_limit;
mod usage;

pub use authenticator::{Authenticator, Principal, TenantPrincipal};
pub use callers::{
    limit_tenant, require_key, require_key_or_amazon_header, AdminScope, AnyCaller, AuditScope,
    OperatorCaller, RequiredScope, TenantCaller, TokensScope, AMAZON_TOKEN_HEADER,
};
pub use client_address::{client_address, TrustedProxies};
pub use tenant_rate_limit::{RateInfo, TenantRateLimit};
pub use usage::{UsageRecorder, FLUSH_INTERVAL as USAGE_FLUSH_INTERVAL};
