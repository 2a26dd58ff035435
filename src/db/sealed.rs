//! Sealed bytes as they are read back: a credential or token the vault encrypted, or a data key
//! wrapped under a master key.

use std::ops::Deref;

use sqlx::error::BoxDynError;
use sqlx::postgres::{PgTypeInfo, PgValueRef};
use sqlx::{Decode, Postgres, Type};

/// Bytes the vault sealed, as stored (`bytea`). They have no `Debug`, `Display` or `Serialize`,
/// so a struct that holds them cannot derive `Debug`, and sealed bytes reach no log or error
/// message, not even as ciphertext. `crypto` opens them through `Deref` to `[u8]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(Vec<u8>);

impl Sealed {
    /// Only tests make one: the vault's come from the database.
    #[cfg(test)]
    pub(crate) fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl Deref for Sealed {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Type<Postgres> for Sealed {
    fn type_info() -> PgTypeInfo {
        <Vec<u8> as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <Vec<u8> as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for Sealed {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self(<Vec<u8> as Decode<Postgres>>::decode(value)?))
    }
}
