//! Cross-replica cache invalidation through PostgreSQL `NOTIFY`.
//!
//! A change that must take effect on every replica within a second (revoking a key, disabling or
//! deleting a tenant) sends a notification in its own transaction, so it is delivered exactly when
//! the change commits. Every replica listens (see `auth::invalidation`).

use sqlx::PgConnection;
use uuid::Uuid;

pub const CHANNEL: &str = "spvault_invalidate";

/// What changed. The payload carries ids only, never a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation {
    Key(Uuid),
    Tenant(Uuid),
    /// A seller's refresh token was replaced, its status changed, or it was deleted.
    Seller(Uuid),
    /// An application's client secret was replaced or its status changed.
    Application(Uuid),
}

impl Invalidation {
    pub fn payload(self) -> String {
        match self {
            Self::Key(id) => format!("key:{id}"),
            Self::Tenant(id) => format!("tenant:{id}"),
            Self::Seller(id) => format!("seller:{id}"),
            Self::Application(id) => format!("application:{id}"),
        }
    }

    pub fn parse(payload: &str) -> Option<Self> {
        let (kind, id) = payload.split_once(':')?;
        let id = Uuid::parse_str(id).ok()?;
        match kind {
            "key" => Some(Self::Key(id)),
            "tenant" => Some(Self::Tenant(id)),
            "seller" => Some(Self::Seller(id)),
            "application" => Some(Self::Application(id)),
            _ => None,
        }
    }
}

pub async fn send(conn: &mut PgConnection, what: Invalidation) -> Result<(), sqlx::Error> {
    sqlx::query!("select pg_notify($1, $2)", CHANNEL, what.payload())
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let id = Uuid::now_v7();
        for what in [
            Invalidation::Key(id),
            Invalidation::Tenant(id),
            Invalidation::Seller(id),
            Invalidation::Application(id),
        ] {
            assert_eq!(Invalidation::parse(&what.payload()), Some(what));
        }
        assert_eq!(Invalidation::parse("seller:x"), None);
        assert_eq!(Invalidation::parse(&format!("order:{id}")), None);
    }
}
