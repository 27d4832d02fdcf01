//! The bounds of an agency profile and of a directory snapshot, each with its own error.
//!
//! Invariant (issue 14, row 3): every field of a profile is bounded, the whole profile is
//! at most [`limits::MAX_PROFILE_BYTES`], and a snapshot lists at most
//! [`limits::MAX_MEMBERS`] members with names of at most [`limits::MAX_AGENCY_NAME_BYTES`]
//! and at most [`limits::MAX_REVOKED`] revoked ids; together that fits in
//! [`limits::MAX_DIRECTORY_BYTES`] (see the test at the end of this file). The same checks
//! run where a profile is made (the agency's node), where it is taken (the KI) and where a
//! snapshot is verified (every member), so the agency's admin sees the reason first.

use crate::limits;

use super::{AgencyProfile, DirectoryContent, Service};

/// A profile or snapshot outside its bounds: what is wrong, and the bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoundsError {
    /// Too few or too many addresses.
    #[error("a profile needs 1 to {max} addresses, not {count}", max = limits::MAX_ADDRESSES)]
    Addresses {
        /// How many it has.
        count: usize,
    },
    /// An address is empty or too long.
    #[error("address {index} is {len} bytes long; an address is 1 to {max} bytes", max = limits::MAX_ADDRESS_BYTES)]
    Address {
        /// Its position.
        index: usize,
        /// Its length.
        len: usize,
    },
    /// Too many services.
    #[error("a profile may list at most {max} services, not {count}", max = limits::MAX_SERVICES)]
    Services {
        /// How many it has.
        count: usize,
    },
    /// A service id that is empty, too long or has other characters.
    #[error("service {index}: the id must be 1 to 64 characters: letters, digits, - and _")]
    ServiceId {
        /// Its position.
        index: usize,
    },
    /// Two services with the same id.
    #[error("service ids must be unique within an agency; {0:?} appears twice")]
    DuplicateServiceId(String),
    /// A service without a name.
    #[error("service {id:?} needs a name")]
    NoName {
        /// The service.
        id: String,
    },
    /// A text that is too long.
    #[error("service {id:?}: the {field} is {len} bytes long; at most {max} bytes")]
    TooLong {
        /// The service.
        id: String,
        /// Which text.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// Too many languages.
    #[error("service {id:?} lists {count} languages; at most {max}", max = limits::MAX_SERVICE_LANGUAGES)]
    Languages {
        /// The service.
        id: String,
        /// How many.
        count: usize,
    },
    /// A field of action listed twice.
    #[error("service {id:?} lists a field of action twice")]
    DuplicateField {
        /// The service.
        id: String,
    },
    /// The age band is upside down.
    #[error("service {id:?}: the youngest age served ({min}) is above the oldest ({max})")]
    Ages {
        /// The service.
        id: String,
        /// Youngest.
        min: u8,
        /// Oldest.
        max: u8,
    },
    /// Too many members.
    #[error("the directory lists {count} members; the format holds at most {max}", max = limits::MAX_MEMBERS)]
    Members {
        /// How many.
        count: usize,
    },
    /// An agency name that is too long.
    #[error("member {index}: the agency name is {len} bytes long; at most {max}", max = limits::MAX_AGENCY_NAME_BYTES)]
    MemberName {
        /// Its position.
        index: usize,
        /// Its length.
        len: usize,
    },
    /// Too many revoked ids.
    #[error("the directory lists {count} revoked nodes; at most {max}", max = limits::MAX_REVOKED)]
    Revoked {
        /// How many.
        count: usize,
    },
}

fn text(id: &str, field: &'static str, value: &str, max: usize) -> Result<(), BoundsError> {
    if value.len() > max {
        return Err(BoundsError::TooLong {
            id: id.to_string(),
            field,
            len: value.len(),
            max,
        });
    }
    Ok(())
}

fn check_service(index: usize, s: &Service) -> Result<(), BoundsError> {
    let id_ok = !s.id.is_empty()
        && s.id.len() <= 64
        && s.id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !id_ok {
        return Err(BoundsError::ServiceId { index });
    }
    let id = s.id.as_str();
    if s.name.trim().is_empty() {
        return Err(BoundsError::NoName { id: id.to_string() });
    }
    let short = limits::MAX_SHORT_TEXT_BYTES;
    text(id, "name", &s.name, short)?;
    text(
        id,
        "description",
        &s.description,
        limits::MAX_SERVICE_DESCRIPTION_BYTES,
    )?;
    text(
        id,
        "target group",
        &s.target_group,
        limits::MAX_TARGET_GROUP_BYTES,
    )?;
    text(id, "area", &s.area, short)?;
    text(id, "contact", &s.contact, short)?;
    text(id, "opening hours", &s.opening_hours, short)?;
    if s.languages.len() > limits::MAX_SERVICE_LANGUAGES {
        return Err(BoundsError::Languages {
            id: id.to_string(),
            count: s.languages.len(),
        });
    }
    for language in &s.languages {
        text(id, "language", language, limits::MAX_LANGUAGE_BYTES)?;
    }
    let mut fields = s.fields.clone();
    fields.sort_unstable();
    if fields.windows(2).any(|w| w[0] == w[1]) {
        return Err(BoundsError::DuplicateField { id: id.to_string() });
    }
    if let (Some(min), Some(max)) = (s.age_min, s.age_max)
        && min > max
    {
        return Err(BoundsError::Ages {
            id: id.to_string(),
            min,
            max,
        });
    }
    Ok(())
}

/// Checks every field of a decoded profile (its encoded size is checked before decoding).
pub(super) fn check_profile(p: &AgencyProfile) -> Result<(), BoundsError> {
    if p.addresses.is_empty() || p.addresses.len() > limits::MAX_ADDRESSES {
        return Err(BoundsError::Addresses {
            count: p.addresses.len(),
        });
    }
    for (index, a) in p.addresses.iter().enumerate() {
        if a.is_empty() || a.len() > limits::MAX_ADDRESS_BYTES {
            return Err(BoundsError::Address {
                index,
                len: a.len(),
            });
        }
    }
    if p.services.len() > limits::MAX_SERVICES {
        return Err(BoundsError::Services {
            count: p.services.len(),
        });
    }
    for (index, s) in p.services.iter().enumerate() {
        check_service(index, s)?;
    }
    let mut ids: Vec<&str> = p.services.iter().map(|s| s.id.as_str()).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(BoundsError::DuplicateServiceId(w[0].to_string()));
    }
    Ok(())
}

/// Checks the counts and names of a decoded snapshot (each profile is checked on its own).
pub(super) fn check_content(c: &DirectoryContent) -> Result<(), BoundsError> {
    if c.members.len() > limits::MAX_MEMBERS {
        return Err(BoundsError::Members {
            count: c.members.len(),
        });
    }
    if let Some((index, m)) = c
        .members
        .iter()
        .enumerate()
        .find(|(_, m)| m.name.len() > limits::MAX_AGENCY_NAME_BYTES)
    {
        return Err(BoundsError::MemberName {
            index,
            len: m.name.len(),
        });
    }
    if c.revoked.len() > limits::MAX_REVOKED {
        return Err(BoundsError::Revoked {
            count: c.revoked.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::FieldOfAction;
    use crate::codec;
    use crate::directory::{AgencyKind, Capacity, Member, SignedProfile};
    use crate::keys::{AuthorityKey, NodeKey, SignatureBytes};
    use crate::{EncryptionIdentity, Timestamp};

    /// The largest directory the bounds allow: every member at the largest profile and
    /// name, every count at its maximum, every number at its widest encoding.
    #[test]
    fn the_largest_possible_directory_fits() {
        let key = NodeKey::generate();
        let member = Member {
            node_id: key.public(),
            name: "N".repeat(limits::MAX_AGENCY_NAME_BYTES),
            kind: AgencyKind::Other,
            admitted_at: Timestamp(u64::MAX),
            profile: SignedProfile {
                bytes: vec![0xff; limits::MAX_PROFILE_BYTES],
                signature: SignatureBytes([0xff; 64]),
            },
        };
        let content = DirectoryContent {
            authority: AuthorityKey::generate().public(),
            serial: u64::MAX,
            issued_at: Timestamp(u64::MAX),
            members: vec![member; limits::MAX_MEMBERS],
            revoked: vec![key.public(); limits::MAX_REVOKED],
        };
        assert_eq!(check_content(&content), Ok(()));
        let size = codec::encode(&content).len();
        assert!(
            size <= limits::MAX_DIRECTORY_BYTES,
            "{size} bytes > {}",
            limits::MAX_DIRECTORY_BYTES
        );
        // Room to spare: at least 2 % of the cap.
        assert!(size < limits::MAX_DIRECTORY_BYTES / 50 * 49, "{size}");
        let mut one_more = content.clone();
        one_more.members.push(one_more.members[0].clone());
        assert_eq!(
            check_content(&one_more),
            Err(BoundsError::Members {
                count: limits::MAX_MEMBERS + 1
            })
        );
    }

    fn service(id: &str) -> Service {
        Service {
            id: id.into(),
            name: "Beratung".into(),
            description: String::new(),
            fields: vec![FieldOfAction::Housing],
            target_group: String::new(),
            age_min: None,
            age_max: None,
            languages: vec!["de".into()],
            area: String::new(),
            contact: String::new(),
            opening_hours: String::new(),
            capacity: Capacity::Available,
        }
    }

    #[test]
    fn every_field_of_a_profile_is_bounded() {
        let key = NodeKey::generate();
        let ok = AgencyProfile {
            node_id: key.public(),
            encryption: EncryptionIdentity::generate().recipient(),
            addresses: vec!["a.example:1".into()],
            services: vec![service("a")],
            updated_at: Timestamp(1),
        };
        assert_eq!(check_profile(&ok), Ok(()));
        let fails = |change: &dyn Fn(&mut AgencyProfile), needle: &str| {
            let mut p = ok.clone();
            change(&mut p);
            let e = check_profile(&p).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        };
        fails(&|p| p.addresses.clear(), "1 to 8 addresses");
        fails(&|p| p.addresses = vec!["x".into(); 9], "not 9");
        fails(&|p| p.addresses[0] = "x".repeat(256), "256 bytes");
        fails(
            &|p| p.services = (0..65).map(|i| service(&i.to_string())).collect(),
            "at most 64 services",
        );
        fails(&|p| p.services[0].id = "a b".into(), "the id must be");
        fails(&|p| p.services.push(service("a")), "\"a\" appears twice");
        fails(&|p| p.services[0].name = " ".into(), "needs a name");
        fails(&|p| p.services[0].name = "n".repeat(513), "the name is 513");
        fails(
            &|p| p.services[0].description = "d".repeat(4097),
            "the description is 4097 bytes long; at most 4096",
        );
        fails(
            &|p| p.services[0].target_group = "t".repeat(1025),
            "target group",
        );
        fails(&|p| p.services[0].area = "a".repeat(513), "the area");
        fails(&|p| p.services[0].contact = "c".repeat(513), "the contact");
        fails(
            &|p| p.services[0].opening_hours = "o".repeat(513),
            "the opening hours",
        );
        fails(
            &|p| p.services[0].languages = vec!["de".into(); 33],
            "33 languages",
        );
        fails(
            &|p| p.services[0].languages[0] = "l".repeat(65),
            "the language",
        );
        fails(
            &|p| p.services[0].fields = vec![FieldOfAction::Work, FieldOfAction::Work],
            "field of action twice",
        );
        fails(
            &|p| (p.services[0].age_min, p.services[0].age_max) = (Some(30), Some(18)),
            "(30) is above the oldest (18)",
        );
    }
}
