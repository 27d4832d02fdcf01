//! The client data a referral may carry, grouped into the categories consent is given for.
//!
//! Minimal data is the rule (DOMAIN.md, "Consent"): every field is optional and belongs to
//! exactly one [`DataCategory`]. [`ClientData::present_categories`] tells which categories a
//! referral actually uses, so consent can be checked against what is really sent.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::limits;

/// A category of personal data the client can consent to share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DataCategory {
    /// Name.
    Name,
    /// Date of birth.
    DateOfBirth,
    /// Phone, e-mail or postal address.
    Contact,
    /// Languages spoken.
    Languages,
    /// Residence status (Aufenthaltsstatus).
    ResidenceStatus,
    /// Household and family situation.
    Household,
    /// Needs by field of action.
    Needs,
    /// Free-text summary of the situation.
    Summary,
    /// Attached documents.
    Attachments,
}

impl DataCategory {
    /// All categories, in display order.
    pub const ALL: [DataCategory; 9] = [
        DataCategory::Name,
        DataCategory::DateOfBirth,
        DataCategory::Contact,
        DataCategory::Languages,
        DataCategory::ResidenceStatus,
        DataCategory::Household,
        DataCategory::Needs,
        DataCategory::Summary,
        DataCategory::Attachments,
    ];

    /// The machine name used in APIs (`date_of_birth`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DataCategory::Name => "name",
            DataCategory::DateOfBirth => "date_of_birth",
            DataCategory::Contact => "contact",
            DataCategory::Languages => "languages",
            DataCategory::ResidenceStatus => "residence_status",
            DataCategory::Household => "household",
            DataCategory::Needs => "needs",
            DataCategory::Summary => "summary",
            DataCategory::Attachments => "attachments",
        }
    }
}

/// A field of action ("Handlungsfeld"), the starting taxonomy from DOMAIN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FieldOfAction {
    /// Aufenthalt/Asyl.
    ResidenceLaw,
    /// Erstorientierung.
    InitialOrientation,
    /// Sprache.
    Language,
    /// Bildung/Schule.
    Education,
    /// Ausbildung.
    VocationalTraining,
    /// Arbeit.
    Work,
    /// Wohnen.
    Housing,
    /// Gesundheit (incl. psychosocial).
    Health,
    /// Familie/Kinder.
    Family,
    /// Existenzsicherung (benefits, debts).
    Livelihood,
    /// Soziale Teilhabe.
    SocialParticipation,
}

impl FieldOfAction {
    /// All fields of action, in display order.
    pub const ALL: [FieldOfAction; 11] = [
        FieldOfAction::ResidenceLaw,
        FieldOfAction::InitialOrientation,
        FieldOfAction::Language,
        FieldOfAction::Education,
        FieldOfAction::VocationalTraining,
        FieldOfAction::Work,
        FieldOfAction::Housing,
        FieldOfAction::Health,
        FieldOfAction::Family,
        FieldOfAction::Livelihood,
        FieldOfAction::SocialParticipation,
    ];

    /// The German label shown to case managers.
    pub fn label_de(self) -> &'static str {
        match self {
            FieldOfAction::ResidenceLaw => "Aufenthalt/Asyl",
            FieldOfAction::InitialOrientation => "Erstorientierung",
            FieldOfAction::Language => "Sprache",
            FieldOfAction::Education => "Bildung/Schule",
            FieldOfAction::VocationalTraining => "Ausbildung",
            FieldOfAction::Work => "Arbeit",
            FieldOfAction::Housing => "Wohnen",
            FieldOfAction::Health => "Gesundheit",
            FieldOfAction::Family => "Familie/Kinder",
            FieldOfAction::Livelihood => "Existenzsicherung",
            FieldOfAction::SocialParticipation => "Soziale Teilhabe",
        }
    }
}

/// One need, in one field of action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Need {
    /// The field of action.
    pub field: FieldOfAction,
    /// What the client needs there.
    pub description: String,
}

/// A document attached to a referral.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attachment {
    /// The file name as the user gave it (never used as a path).
    pub file_name: String,
    /// The media type, e.g. `application/pdf`.
    pub media_type: String,
    /// The content (base64 in JSON).
    #[serde(with = "serde_bytes_compat")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Byte))]
    pub content: Vec<u8>,
}

/// Serialises bytes compactly in binary formats and as base64 text in JSON.
pub(crate) mod serde_bytes_compat {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&data_encoding::BASE64.encode(v))
        } else {
            s.serialize_bytes(v)
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            data_encoding::BASE64
                .decode(s.as_bytes())
                .map_err(|_| serde::de::Error::custom("attachment content must be base64"))
        } else {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Vec<u8>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                    Ok(v.to_vec())
                }
                fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                    Ok(v)
                }
            }
            d.deserialize_bytes(V)
        }
    }
}

/// The client's data in a referral. Every field is optional; send only what is needed
/// and consented to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientData {
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Date of birth.
    #[serde(default)]
    pub date_of_birth: Option<::time::Date>,
    /// Phone, e-mail or address.
    #[serde(default)]
    pub contact: Option<String>,
    /// Languages spoken.
    #[serde(default)]
    pub languages: Vec<String>,
    /// Residence status.
    #[serde(default)]
    pub residence_status: Option<String>,
    /// Household and family situation.
    #[serde(default)]
    pub household: Option<String>,
    /// Needs by field of action.
    #[serde(default)]
    pub needs: Vec<Need>,
    /// Free-text summary.
    #[serde(default)]
    pub summary: Option<String>,
    /// Attached documents.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// Client data breaks a size or shape rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientDataError {
    /// A text field is too long.
    #[error("the field {field} is longer than {limit} bytes; shorten it")]
    TextTooLong {
        /// Field name.
        field: &'static str,
        /// Limit in bytes.
        limit: usize,
    },
    /// An attachment is too large.
    #[error(
        "the attachment {file_name:?} is {size} bytes; attachments may be at most {limit} bytes"
    )]
    AttachmentTooLarge {
        /// The file name.
        file_name: String,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Too many attachments.
    #[error("a referral may carry at most {limit} attachments")]
    TooManyAttachments {
        /// The limit.
        limit: usize,
    },
    /// An attachment has no usable name.
    #[error("every attachment needs a file name of 1 to 200 characters")]
    AttachmentName,
}

impl ClientData {
    /// The categories this data actually uses.
    pub fn present_categories(&self) -> BTreeSet<DataCategory> {
        let mut set = BTreeSet::new();
        let mut add = |present: bool, c| {
            if present {
                set.insert(c);
            }
        };
        add(self.name.is_some(), DataCategory::Name);
        add(self.date_of_birth.is_some(), DataCategory::DateOfBirth);
        add(self.contact.is_some(), DataCategory::Contact);
        add(!self.languages.is_empty(), DataCategory::Languages);
        add(
            self.residence_status.is_some(),
            DataCategory::ResidenceStatus,
        );
        add(self.household.is_some(), DataCategory::Household);
        add(!self.needs.is_empty(), DataCategory::Needs);
        add(self.summary.is_some(), DataCategory::Summary);
        add(!self.attachments.is_empty(), DataCategory::Attachments);
        set
    }

    /// Checks size bounds on every field.
    pub fn validate(&self) -> Result<(), ClientDataError> {
        let short = limits::MAX_SHORT_TEXT_BYTES;
        let long = limits::MAX_TEXT_BYTES;
        let checks: [(&'static str, Option<&String>, usize); 5] = [
            ("name", self.name.as_ref(), short),
            ("contact", self.contact.as_ref(), short),
            ("residence_status", self.residence_status.as_ref(), short),
            ("household", self.household.as_ref(), long),
            ("summary", self.summary.as_ref(), long),
        ];
        for (field, value, limit) in checks {
            if value.is_some_and(|v| v.len() > limit) {
                return Err(ClientDataError::TextTooLong { field, limit });
            }
        }
        if self.languages.iter().any(|l| l.len() > short) || self.languages.len() > 32 {
            return Err(ClientDataError::TextTooLong {
                field: "languages",
                limit: short,
            });
        }
        if self.needs.iter().any(|n| n.description.len() > long) || self.needs.len() > 32 {
            return Err(ClientDataError::TextTooLong {
                field: "needs",
                limit: long,
            });
        }
        if self.attachments.len() > limits::MAX_ATTACHMENTS {
            return Err(ClientDataError::TooManyAttachments {
                limit: limits::MAX_ATTACHMENTS,
            });
        }
        for a in &self.attachments {
            validate_attachment(a)?;
        }
        Ok(())
    }
}

/// Checks an attachment's name and size.
pub fn validate_attachment(a: &Attachment) -> Result<(), ClientDataError> {
    let name_chars = a.file_name.chars().count();
    if name_chars == 0 || name_chars > 200 || a.media_type.len() > 200 {
        return Err(ClientDataError::AttachmentName);
    }
    if a.content.len() > limits::MAX_ATTACHMENT_BYTES {
        return Err(ClientDataError::AttachmentTooLarge {
            file_name: a.file_name.clone(),
            size: a.content.len(),
            limit: limits::MAX_ATTACHMENT_BYTES,
        });
    }
    Ok(())
}
