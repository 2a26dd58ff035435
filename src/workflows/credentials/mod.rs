//! The long-lived secrets the vault keeps: applications with their LWA client secrets, and
//! sellers with their refresh tokens.
//!
//! Every change to a credential follows one order (the steps are in `workflows::secrets`, shared
//! with seller onboarding): seal the new secret outside the transaction (`seal`); write it (its
//! row stays locked until the commit); drop the tokens it minted (`drop_minted_tokens`); then
//! `workflows::commit_change`: the audit event, the notice to other replicas, the commit, this
//! replica's caches. An exchange in flight with the old secret
//! cannot undo it: before it stores anything it checks, under a row lock, that the secret it used
//! is still the current one (see `workflows::tokens`).

pub mod applications;
pub mod secret_lifecycle;
pub mod sellers;
