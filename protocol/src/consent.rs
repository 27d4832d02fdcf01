//! The client's consent ("Einwilligung", "Schweigepflichtentbindung") and its validation.
//!
//! Invariant 2 of DESIGN.md: no referral leaves a node without valid consent for that
//! recipient. [`Consent::validate`] is the one check every send path calls: the consent must
//! name this recipient, be in force today, state a purpose, and cover every category of
//! client data actually present in the payload.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::NodeId;
use crate::client::{Attachment, ClientData, DataCategory};
use crate::limits;

/// How the consent was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ConsentForm {
    /// A signed form.
    Written,
    /// Given verbally and documented by the case manager.
    Verbal,
}

/// The record of a client's consent to pass data to one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Consent {
    /// The agency the data may go to.
    pub recipient: NodeId,
    /// What the data may be used for.
    pub purpose: String,
    /// Which categories of data may be shared.
    pub categories: BTreeSet<DataCategory>,
    /// Written or verbal.
    pub form: ConsentForm,
    /// The day consent was given.
    pub given_on: ::time::Date,
    /// The last day the consent is valid.
    pub valid_until: ::time::Date,
    /// Who recorded it (the case manager's name).
    pub recorded_by: String,
    /// The scanned, signed form, if there is one.
    #[serde(default)]
    pub scanned_form: Option<Attachment>,
}

/// Why a consent does not allow a referral.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsentError {
    /// Consent was given for another agency.
    #[error(
        "the consent was given for another agency ({consented}), not for the recipient ({recipient}); record a consent for this recipient"
    )]
    WrongRecipient {
        /// The agency named in the consent.
        consented: NodeId,
        /// The intended recipient.
        recipient: NodeId,
    },
    /// The consent has expired.
    #[error("the consent expired on {valid_until}; record a new consent with the client")]
    Expired {
        /// Last valid day.
        valid_until: ::time::Date,
    },
    /// The consent date lies in the future.
    #[error("the consent is dated {given_on}, which is in the future; check the date")]
    NotYetGiven {
        /// The date given.
        given_on: ::time::Date,
    },
    /// Validity ends before it starts.
    #[error(
        "the consent is valid until {valid_until}, before the day it was given ({given_on}); check the dates"
    )]
    InvertedDates {
        /// Date given.
        given_on: ::time::Date,
        /// Last valid day.
        valid_until: ::time::Date,
    },
    /// No purpose stated.
    #[error("the consent must state a purpose")]
    NoPurpose,
    /// No recorder stated.
    #[error("the consent must name who recorded it")]
    NoRecorder,
    /// Text too long.
    #[error("the consent's {field} is longer than {limit} bytes")]
    TextTooLong {
        /// The field.
        field: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The data contains categories the client did not agree to.
    #[error("the client did not consent to sharing: {}; remove these fields or record consent for them", .missing.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "))]
    CategoriesNotCovered {
        /// The categories present but not consented to.
        missing: Vec<DataCategory>,
    },
    /// The scanned form is not acceptable.
    #[error("the scanned consent form: {0}")]
    ScannedForm(crate::client::ClientDataError),
}

impl Consent {
    /// Checks that this consent allows sending `data` to `recipient` on day `today`.
    pub fn validate(
        &self,
        recipient: &NodeId,
        today: ::time::Date,
        data: &ClientData,
    ) -> Result<(), ConsentError> {
        self.validate_record(today)?;
        if &self.recipient != recipient {
            return Err(ConsentError::WrongRecipient {
                consented: self.recipient,
                recipient: *recipient,
            });
        }
        let missing: Vec<DataCategory> = data
            .present_categories()
            .difference(&self.categories)
            .copied()
            .collect();
        if !missing.is_empty() {
            return Err(ConsentError::CategoriesNotCovered { missing });
        }
        Ok(())
    }

    /// Checks sizes only (what a receiver can check regardless of dates).
    pub fn check_bounds(&self) -> Result<(), ConsentError> {
        if self.purpose.len() > limits::MAX_TEXT_BYTES {
            return Err(ConsentError::TextTooLong {
                field: "purpose",
                limit: limits::MAX_TEXT_BYTES,
            });
        }
        if self.recorded_by.len() > limits::MAX_SHORT_TEXT_BYTES {
            return Err(ConsentError::TextTooLong {
                field: "recorded_by",
                limit: limits::MAX_SHORT_TEXT_BYTES,
            });
        }
        if let Some(form) = &self.scanned_form {
            crate::client::validate_attachment(form).map_err(ConsentError::ScannedForm)?;
        }
        Ok(())
    }

    /// Checks the record on its own: purpose, recorder, dates and form, without a payload.
    pub fn validate_record(&self, today: ::time::Date) -> Result<(), ConsentError> {
        self.check_bounds()?;
        if self.purpose.trim().is_empty() {
            return Err(ConsentError::NoPurpose);
        }
        if self.recorded_by.trim().is_empty() {
            return Err(ConsentError::NoRecorder);
        }
        if self.valid_until < self.given_on {
            return Err(ConsentError::InvertedDates {
                given_on: self.given_on,
                valid_until: self.valid_until,
            });
        }
        if self.given_on > today {
            return Err(ConsentError::NotYetGiven {
                given_on: self.given_on,
            });
        }
        if self.valid_until < today {
            return Err(ConsentError::Expired {
                valid_until: self.valid_until,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeKey;
    use ::time::macros::date;

    fn consent(recipient: NodeId, cats: &[DataCategory]) -> Consent {
        Consent {
            recipient,
            purpose: "Beratung zur Wohnungssuche".into(),
            categories: cats.iter().copied().collect(),
            form: ConsentForm::Written,
            given_on: date!(2026 - 11 - 01),
            valid_until: date!(2027 - 10 - 31),
            recorded_by: "A. Berater".into(),
            scanned_form: None,
        }
    }

    #[test]
    fn valid_consent_passes() {
        let b = NodeKey::generate().public();
        let data = ClientData {
            name: Some("Amina".into()),
            ..Default::default()
        };
        let c = consent(b, &[DataCategory::Name]);
        assert_eq!(c.validate(&b, date!(2026 - 11 - 21), &data), Ok(()));
    }

    #[test]
    fn each_failure_is_named() {
        let b = NodeKey::generate().public();
        let other = NodeKey::generate().public();
        let data = ClientData {
            name: Some("Amina".into()),
            summary: Some("x".into()),
            ..Default::default()
        };
        let c = consent(b, &[DataCategory::Name]);
        assert_eq!(
            c.validate(&b, date!(2026 - 11 - 21), &data),
            Err(ConsentError::CategoriesNotCovered {
                missing: vec![DataCategory::Summary]
            })
        );
        assert!(matches!(
            c.validate(&other, date!(2026 - 11 - 21), &ClientData::default()),
            Err(ConsentError::WrongRecipient { .. })
        ));
        assert!(matches!(
            c.validate(&b, date!(2027 - 11 - 01), &ClientData::default()),
            Err(ConsentError::Expired { .. })
        ));
        assert!(matches!(
            c.validate(&b, date!(2026 - 10 - 01), &ClientData::default()),
            Err(ConsentError::NotYetGiven { .. })
        ));
        let mut no_purpose = c.clone();
        no_purpose.purpose = "  ".into();
        assert_eq!(
            no_purpose.validate(&b, date!(2026 - 11 - 21), &ClientData::default()),
            Err(ConsentError::NoPurpose)
        );
        let mut inverted = c;
        inverted.valid_until = date!(2026 - 01 - 01);
        assert!(matches!(
            inverted.validate(&b, date!(2026 - 11 - 21), &ClientData::default()),
            Err(ConsentError::InvertedDates { .. })
        ));
    }
}
