//! Who is calling, and what they may do.
//!
//! Routes that need a key are wrapped in `require_key`, which authenticates before anything else
//! about the request is parsed. Handlers never check scopes themselves: they ask for an extractor
//! (`OperatorCaller`, `TenantCaller<Admin>`, …) that only exists once the checks of section 1
//! passed, and tenant-owned data is reached through the `tenant_id` it carries.

mod authenticator;
mod extract;
pub mod key;
mod limiter;
mod rate_limit;
mod usage;

pub use authenticator::{Authenticator, Principal, TenantPrincipal};
pub use extract::{
    client_address, limit_tenant, require_key, Admin, AnyCaller, Audit, OperatorCaller,
    RequiredScope, TenantCaller, Tokens,
};
pub use rate_limit::{RateInfo, TenantRateLimit};
pub use usage::UsageRecorder;
