//! JSON schemas for types whose JSON form is written by hand (ids as hex text, times as
//! milliseconds, the meeting place), for the node's OpenAPI document. Only built with the
//! `openapi` feature.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};

use crate::payload::MeetingPlace;
use crate::{AuthorityId, MessageId, NodeId, ReferralId, Timestamp};

fn text(description: &str, pattern: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(Some(pattern))
        .into()
}

macro_rules! hex_schema {
    ($t:ty, $name:literal, $desc:literal, $pattern:literal) => {
        impl utoipa::PartialSchema for $t {
            fn schema() -> RefOr<Schema> {
                text($desc, $pattern)
            }
        }
        impl utoipa::ToSchema for $t {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

hex_schema!(
    NodeId,
    "NodeId",
    "A node's ed25519 public key, 64 hex digits",
    "^[0-9a-f]{64}$"
);
hex_schema!(
    AuthorityId,
    "AuthorityId",
    "The directory authority key, 64 hex digits",
    "^[0-9a-f]{64}$"
);
hex_schema!(
    ReferralId,
    "ReferralId",
    "A referral id, 32 hex digits",
    "^[0-9a-f]{32}$"
);
hex_schema!(
    MessageId,
    "MessageId",
    "A message id, 32 hex digits",
    "^[0-9a-f]{32}$"
);

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .description(Some("Milliseconds since 1970-01-01T00:00:00Z"))
            .into()
    }
}
impl utoipa::ToSchema for Timestamp {}

impl utoipa::PartialSchema for MeetingPlace {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .property(
                "mode",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["in_person", "phone", "video"])),
            )
            .required("mode")
            .property(
                "detail",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some(
                        "Address (in person) or link (video); absent for phone",
                    )),
            )
            .description(Some("Where the handover meeting takes place"))
            .into()
    }
}
impl utoipa::ToSchema for MeetingPlace {}
