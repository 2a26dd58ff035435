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
}

impl Invalidation {
    pub fn payload(self) -> String {
        match self {
            Self::Key(id) => format!("key:{id}"),
            Self::Tenant(id) => format!("tenant:{id}"),
        }
    }

    pub fn parse(payload: &str) -> Option<Self> {
        let (kind, id) = payload.split_once(':')?;
        let id = Uuid::parse_str(id).ok()?;
        match kind {
            "key" => Some(Self::Key(id)),
            "tenant" => Some(Self::Tenant(id)),
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
        for what in [Invalidation::Key(id), Invalidation::Tenant(id)] {
            assert_eq!(Invalidation::parse(&what.payload()), Some(what));
        }
        assert_eq!(Invalidation::parse("seller:x"), None);
    }
}
