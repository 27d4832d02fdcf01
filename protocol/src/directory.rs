//! The network directory: who is a member and which services they offer.
//!
//! Two signatures protect it. Each agency signs its own [`AgencyProfile`] (encryption key,
//! addresses, services) with its node key, so the KI can publish it but cannot change it.
//! The KI signs the whole [`DirectoryContent`] (members, serial, revocations) with the
//! authority key that every member pinned when it joined. [`SignedDirectory::verify`]
//! checks both, and [`Directory::is_newer_than`] orders snapshots by serial so a member
//! only ever moves forward. Every field and count is bounded ([`bounds`]), and the bounds
//! add up to less than the snapshot's size limit.

mod bounds;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::client::FieldOfAction;
use crate::codec::{self, DecodeError};
use crate::keys::{
    AuthorityId, AuthorityKey, EncryptionRecipient, NodeId, NodeKey, SignatureBytes,
};
use crate::{Timestamp, limits};

pub use bounds::BoundsError;

/// Domain tag for profile signatures.
pub const PROFILE_DOMAIN: &[u8] = b"lotse/profile/v1\0";
/// Domain tag for directory signatures.
pub const DIRECTORY_DOMAIN: &[u8] = b"lotse/directory/v1\0";

/// What kind of agency a member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AgencyKind {
    /// Kommunales Integrationszentrum (runs the directory).
    IntegrationCentre,
    /// Migrationsberatung für Erwachsene.
    Mbe,
    /// Jugendmigrationsdienst.
    Jmd,
    /// Flüchtlingsberatung.
    RefugeeCounselling,
    /// Integrationsagentur.
    IntegrationAgency,
    /// Jobcenter.
    JobCentre,
    /// Ausländerbehörde.
    ImmigrationAuthority,
    /// Sozialamt.
    SocialWelfareOffice,
    /// Jugendamt.
    YouthWelfareOffice,
    /// Wohnungshilfe.
    Housing,
    /// Gesundheit.
    Health,
    /// Anything else.
    Other,
}

impl AgencyKind {
    /// All kinds.
    pub const ALL: [AgencyKind; 12] = [
        AgencyKind::IntegrationCentre,
        AgencyKind::Mbe,
        AgencyKind::Jmd,
        AgencyKind::RefugeeCounselling,
        AgencyKind::IntegrationAgency,
        AgencyKind::JobCentre,
        AgencyKind::ImmigrationAuthority,
        AgencyKind::SocialWelfareOffice,
        AgencyKind::YouthWelfareOffice,
        AgencyKind::Housing,
        AgencyKind::Health,
        AgencyKind::Other,
    ];

    /// The machine name (`mbe`, `job_centre`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            AgencyKind::IntegrationCentre => "integration_centre",
            AgencyKind::Mbe => "mbe",
            AgencyKind::Jmd => "jmd",
            AgencyKind::RefugeeCounselling => "refugee_counselling",
            AgencyKind::IntegrationAgency => "integration_agency",
            AgencyKind::JobCentre => "job_centre",
            AgencyKind::ImmigrationAuthority => "immigration_authority",
            AgencyKind::SocialWelfareOffice => "social_welfare_office",
            AgencyKind::YouthWelfareOffice => "youth_welfare_office",
            AgencyKind::Housing => "housing",
            AgencyKind::Health => "health",
            AgencyKind::Other => "other",
        }
    }

    /// The German label.
    pub fn label_de(self) -> &'static str {
        match self {
            AgencyKind::IntegrationCentre => "Kommunales Integrationszentrum",
            AgencyKind::Mbe => "Migrationsberatung für Erwachsene (MBE)",
            AgencyKind::Jmd => "Jugendmigrationsdienst (JMD)",
            AgencyKind::RefugeeCounselling => "Flüchtlingsberatung",
            AgencyKind::IntegrationAgency => "Integrationsagentur",
            AgencyKind::JobCentre => "Jobcenter",
            AgencyKind::ImmigrationAuthority => "Ausländerbehörde",
            AgencyKind::SocialWelfareOffice => "Sozialamt",
            AgencyKind::YouthWelfareOffice => "Jugendamt",
            AgencyKind::Housing => "Wohnungshilfe",
            AgencyKind::Health => "Gesundheit",
            AgencyKind::Other => "Sonstige",
        }
    }
}

/// A name that is not an [`AgencyKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown agency kind {0:?}; use one of: {names}", names = AgencyKind::ALL.map(AgencyKind::as_str).join(", "))]
pub struct UnknownAgencyKind(pub String);

impl std::str::FromStr for AgencyKind {
    type Err = UnknownAgencyKind;
    fn from_str(s: &str) -> Result<Self, UnknownAgencyKind> {
        AgencyKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownAgencyKind(s.to_string()))
    }
}

/// A service's current capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Capacity {
    /// Places available.
    Available,
    /// Waiting list.
    WaitingList,
    /// Full.
    Full,
}

/// One service an agency offers (modelled on HSDS: name, description, eligibility, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Service {
    /// Stable id within the agency, e.g. `wohnungssuche`.
    pub id: String,
    /// Name.
    pub name: String,
    /// What the service does.
    pub description: String,
    /// Fields of action it covers.
    pub fields: Vec<FieldOfAction>,
    /// Target group in words (residence status, family situation, ...).
    pub target_group: String,
    /// Youngest age served.
    #[serde(default)]
    pub age_min: Option<u8>,
    /// Oldest age served.
    #[serde(default)]
    pub age_max: Option<u8>,
    /// Languages offered.
    pub languages: Vec<String>,
    /// Area served.
    pub area: String,
    /// Contact.
    pub contact: String,
    /// Opening hours.
    pub opening_hours: String,
    /// Current capacity.
    pub capacity: Capacity,
}

/// An agency's own entry, signed by its node key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgencyProfile {
    /// The node this profile belongs to.
    pub node_id: NodeId,
    /// Where to encrypt messages to.
    pub encryption: EncryptionRecipient,
    /// QUIC addresses (`host:port`).
    pub addresses: Vec<String>,
    /// Services offered.
    pub services: Vec<Service>,
    /// When the agency last changed it; newer replaces older.
    pub updated_at: Timestamp,
}

/// A profile as signed bytes: verified from the bytes, never re-serialised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedProfile {
    /// The encoded [`AgencyProfile`].
    #[serde(with = "crate::client::serde_bytes_compat")]
    pub bytes: Vec<u8>,
    /// The node's signature over them.
    pub signature: SignatureBytes,
}

/// A member as listed by the KI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The member's node id.
    pub node_id: NodeId,
    /// Agency name, as admitted by the KI.
    pub name: String,
    /// Kind of agency.
    pub kind: AgencyKind,
    /// When it was admitted.
    pub admitted_at: Timestamp,
    /// The agency's own signed profile.
    pub profile: SignedProfile,
}

/// What the authority signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryContent {
    /// The authority that signs this directory.
    pub authority: AuthorityId,
    /// Monotonically increasing serial.
    pub serial: u64,
    /// When this snapshot was issued.
    pub issued_at: Timestamp,
    /// Members.
    pub members: Vec<Member>,
    /// Revoked node ids; refused even if listed elsewhere.
    pub revoked: Vec<NodeId>,
}

/// A directory snapshot as signed bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedDirectory {
    /// The encoded [`DirectoryContent`].
    #[serde(with = "crate::client::serde_bytes_compat")]
    pub bytes: Vec<u8>,
    /// The authority's signature.
    pub signature: SignatureBytes,
}

/// Why a profile or directory was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// Could not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Signed by another authority.
    #[error("the directory is signed for authority {found:?}, but this node trusts {expected:?}")]
    WrongAuthority {
        /// The pinned authority.
        expected: AuthorityId,
        /// The one in the snapshot.
        found: AuthorityId,
    },
    /// The authority signature does not verify.
    #[error("the directory's signature does not verify: it was forged or changed")]
    BadSignature,
    /// A member's profile signature does not verify.
    #[error("the profile of member {node:?} is not signed by that member")]
    BadProfileSignature {
        /// The member.
        node: NodeId,
    },
    /// A profile is listed under another node.
    #[error("member {node:?} is listed with a profile of another node")]
    ProfileMismatch {
        /// The member.
        node: NodeId,
    },
    /// A node is listed twice.
    #[error("member {node:?} is listed twice")]
    Duplicate {
        /// The member.
        node: NodeId,
    },
    /// A field, text or count is out of bounds.
    #[error(transparent)]
    Bounds(#[from] BoundsError),
}

impl AgencyProfile {
    /// Signs this profile with the node's key.
    pub fn sign(&self, key: &NodeKey) -> SignedProfile {
        let bytes = codec::encode(self);
        let signature = SignatureBytes(key.sign(PROFILE_DOMAIN, &bytes));
        SignedProfile { bytes, signature }
    }
}

impl SignedProfile {
    /// Decodes the profile and checks that it is signed by the node it names.
    pub fn verify(&self) -> Result<AgencyProfile, DirectoryError> {
        let profile: AgencyProfile =
            codec::decode("agency profile", &self.bytes, limits::MAX_PROFILE_BYTES)?;
        profile
            .node_id
            .verify(PROFILE_DOMAIN, &self.bytes, &self.signature.0)
            .map_err(|_| DirectoryError::BadProfileSignature {
                node: profile.node_id,
            })?;
        bounds::check_profile(&profile)?;
        Ok(profile)
    }
}

impl DirectoryContent {
    /// Signs the content with the authority key.
    pub fn sign(&self, key: &AuthorityKey) -> SignedDirectory {
        let bytes = codec::encode(self);
        let signature = SignatureBytes(key.sign(DIRECTORY_DOMAIN, &bytes));
        SignedDirectory { bytes, signature }
    }
}

/// A member whose profile has been verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedMember {
    /// The KI's listing.
    pub member: Member,
    /// The decoded, verified profile.
    pub profile: AgencyProfile,
}

/// A verified directory snapshot.
#[derive(Debug, Clone)]
pub struct Directory {
    /// The signed form, to store and pass on.
    pub signed: SignedDirectory,
    /// Authority.
    pub authority: AuthorityId,
    /// Serial.
    pub serial: u64,
    /// Issue time.
    pub issued_at: Timestamp,
    /// Members by node id.
    pub members: BTreeMap<NodeId, VerifiedMember>,
    /// Revoked nodes.
    pub revoked: Vec<NodeId>,
}

impl SignedDirectory {
    /// Checks the authority signature and every member's profile.
    pub fn verify(&self, authority: &AuthorityId) -> Result<Directory, DirectoryError> {
        if self.bytes.len() > limits::MAX_DIRECTORY_BYTES {
            return Err(DecodeError::TooLarge {
                what: "directory",
                size: self.bytes.len(),
                limit: limits::MAX_DIRECTORY_BYTES,
            }
            .into());
        }
        authority
            .verify(DIRECTORY_DOMAIN, &self.bytes, &self.signature.0)
            .map_err(|_| DirectoryError::BadSignature)?;
        let content: DirectoryContent =
            codec::decode("directory", &self.bytes, limits::MAX_DIRECTORY_BYTES)?;
        if &content.authority != authority {
            return Err(DirectoryError::WrongAuthority {
                expected: *authority,
                found: content.authority,
            });
        }
        bounds::check_content(&content)?;
        let mut members = BTreeMap::new();
        for member in content.members {
            let profile = member.profile.verify()?;
            if profile.node_id != member.node_id {
                return Err(DirectoryError::ProfileMismatch {
                    node: member.node_id,
                });
            }
            let node = member.node_id;
            if members
                .insert(node, VerifiedMember { member, profile })
                .is_some()
            {
                return Err(DirectoryError::Duplicate { node });
            }
        }
        Ok(Directory {
            signed: self.clone(),
            authority: content.authority,
            serial: content.serial,
            issued_at: content.issued_at,
            members,
            revoked: content.revoked,
        })
    }
}

impl Directory {
    /// True if this snapshot should replace `other`.
    pub fn is_newer_than(&self, other: &Directory) -> bool {
        self.serial > other.serial
    }

    /// True if `node` is listed and not revoked.
    pub fn is_active(&self, node: &NodeId) -> bool {
        self.members.contains_key(node) && !self.revoked.contains(node)
    }

    /// The active member `node`, if there is one.
    pub fn active_member(&self, node: &NodeId) -> Option<&VerifiedMember> {
        self.members
            .get(node)
            .filter(|_| !self.revoked.contains(node))
    }

    /// Active members in name order.
    pub fn active_members(&self) -> Vec<&VerifiedMember> {
        let mut v: Vec<&VerifiedMember> = self
            .members
            .values()
            .filter(|m| !self.revoked.contains(&m.member.node_id))
            .collect();
        v.sort_by(|a, b| a.member.name.cmp(&b.member.name));
        v
    }

    /// The content, for building the next snapshot (KI only).
    pub fn content(&self) -> DirectoryContent {
        DirectoryContent {
            authority: self.authority,
            serial: self.serial,
            issued_at: self.issued_at,
            members: self.members.values().map(|m| m.member.clone()).collect(),
            revoked: self.revoked.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EncryptionIdentity;

    fn profile(key: &NodeKey) -> SignedProfile {
        AgencyProfile {
            node_id: key.public(),
            encryption: EncryptionIdentity::generate().recipient(),
            addresses: vec!["127.0.0.1:4433".into()],
            services: vec![],
            updated_at: Timestamp(1),
        }
        .sign(key)
    }

    fn snapshot(auth: &AuthorityKey, serial: u64, members: &[&NodeKey]) -> SignedDirectory {
        DirectoryContent {
            authority: auth.public(),
            serial,
            issued_at: Timestamp(serial),
            members: members
                .iter()
                .map(|k| Member {
                    node_id: k.public(),
                    name: "Agentur".into(),
                    kind: AgencyKind::Mbe,
                    admitted_at: Timestamp(0),
                    profile: profile(k),
                })
                .collect(),
            revoked: vec![],
        }
        .sign(auth)
    }

    #[test]
    fn verifies_and_orders() {
        let auth = AuthorityKey::generate();
        let a = NodeKey::generate();
        let d1 = snapshot(&auth, 1, &[&a]).verify(&auth.public()).unwrap();
        let d2 = snapshot(&auth, 2, &[&a]).verify(&auth.public()).unwrap();
        assert!(d2.is_newer_than(&d1));
        assert!(!d1.is_newer_than(&d2));
        assert!(d1.is_active(&a.public()));
    }

    #[test]
    fn forged_and_foreign_snapshots_fail() {
        let auth = AuthorityKey::generate();
        let other = AuthorityKey::generate();
        let a = NodeKey::generate();
        let s = snapshot(&other, 5, &[&a]);
        assert_eq!(
            s.verify(&auth.public()).unwrap_err(),
            DirectoryError::BadSignature
        );
        let mut t = snapshot(&auth, 5, &[&a]);
        let n = t.bytes.len() - 1;
        t.bytes[n] ^= 1;
        assert_eq!(
            t.verify(&auth.public()).unwrap_err(),
            DirectoryError::BadSignature
        );
    }

    #[test]
    fn ki_cannot_alter_a_profile() {
        let auth = AuthorityKey::generate();
        let a = NodeKey::generate();
        let mut content = DirectoryContent {
            authority: auth.public(),
            serial: 1,
            issued_at: Timestamp(1),
            members: vec![Member {
                node_id: a.public(),
                name: "MBE".into(),
                kind: AgencyKind::Mbe,
                admitted_at: Timestamp(0),
                profile: profile(&a),
            }],
            revoked: vec![],
        };
        // The KI re-encodes the profile with a changed address and keeps the signature.
        let mut p: AgencyProfile =
            codec::decode("p", &content.members[0].profile.bytes, 1 << 20).unwrap();
        p.addresses = vec!["10.0.0.1:1".into()];
        content.members[0].profile.bytes = codec::encode(&p);
        let err = content.sign(&auth).verify(&auth.public()).unwrap_err();
        assert_eq!(
            err,
            DirectoryError::BadProfileSignature { node: a.public() }
        );
    }

    #[test]
    fn revoked_member_is_not_active() {
        let auth = AuthorityKey::generate();
        let a = NodeKey::generate();
        let mut c = snapshot(&auth, 1, &[&a])
            .verify(&auth.public())
            .unwrap()
            .content();
        c.revoked.push(a.public());
        c.serial = 2;
        let d = c.sign(&auth).verify(&auth.public()).unwrap();
        assert!(!d.is_active(&a.public()));
        assert!(d.active_members().is_empty());
    }
}
