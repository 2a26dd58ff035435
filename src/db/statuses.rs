//! The credential statuses and the audit trail's actors are stored as text; these let queries
//! read and write them as the domain's enums (`status as "status: SellerStatus"`), so no code
//! matches them as strings.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::{Decode, Encode, Postgres, Type};

use crate::domain::{ApplicationStatus, AuditActor, LinkStatus, SellerStatus};

macro_rules! stored_as_text {
    ($status:ty) => {
        impl Type<Postgres> for $status {
            fn type_info() -> PgTypeInfo {
                <&str as Type<Postgres>>::type_info()
            }

            fn compatible(ty: &PgTypeInfo) -> bool {
                <&str as Type<Postgres>>::compatible(ty)
            }
        }

        impl<'r> Decode<'r, Postgres> for $status {
            fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                Ok(<$status>::parse(<&str as Decode<Postgres>>::decode(
                    value,
                )?)?)
            }
        }

        impl Encode<'_, Postgres> for $status {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <&str as Encode<Postgres>>::encode(self.as_str(), buf)
            }
        }
    };
}

stored_as_text!(SellerStatus);
stored_as_text!(ApplicationStatus);
stored_as_text!(AuditActor);
stored_as_text!(LinkStatus);
