//! The KI directory node's administration: the first snapshot, invitations, admitting
//! joining agencies, profile updates and revocation. Each change publishes a new snapshot
//! with the next serial, signed by the authority key.
//!
//! The KI lists an agency's name and kind (from the invitation it issued) but publishes the
//! agency's profile exactly as the agency signed it: it cannot change an agency's services.
//! Invitation secrets are stored only as hashes and are accepted once, before expiry.
//!
//! Issue 14, row 3: a join is checked completely (invitation, profile and its bounds, room
//! for another member under [`limits::MAX_MEMBERS`]) before anything is written, and the
//! spent invitation is committed in the same atomic batch as the snapshot that lists the
//! new member, so a join that fails for any reason leaves the invitation usable. A member
//! may update its profile `profile_update_burst` times in a row, then once per
//! `profile_update_interval_ms` ([`UpdateLimiter`]); a refused update tells the wait, and the
//! member's node sends it again by itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use lotse_protocol::directory::{
    AgencyKind, AgencyProfile, DirectoryContent, Member, SignedDirectory, SignedProfile,
};
use lotse_protocol::invitation::{Invitation, secret_hash};
use lotse_protocol::payload::JoinRequest;
use lotse_protocol::{NodeId, Timestamp, limits};
use serde::{Deserialize, Serialize};

use super::AcceptError;
use crate::core::Core;
use crate::store::{Batch, Expect, Space, StoreError, from_json, to_json};

/// Why a directory change was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    /// Not the directory node.
    #[error(
        "this is not the KI's directory node (no authority key); run this on the directory node"
    )]
    NotDirectoryNode,
    /// Unknown or used invitation.
    #[error("the invitation is unknown or has already been used; ask the KI for a new one")]
    InvitationInvalid,
    /// Expired invitation.
    #[error("the invitation expired on {0}; ask the KI for a new one")]
    InvitationExpired(Timestamp),
    /// The profile is bad.
    #[error("the agency profile is not valid: {0}")]
    BadProfile(#[source] lotse_protocol::directory::DirectoryError),
    /// The profile names another node than the one that sent it.
    #[error("the agency profile is not valid: it belongs to another node than the one sending it")]
    ProfileOfAnotherNode,
    /// No such member.
    #[error("{0} is not a member of the network")]
    UnknownMember(NodeId),
    /// Cannot revoke self.
    #[error("the directory node cannot revoke itself")]
    RevokeSelf,
    /// Invalid input.
    #[error("{0}")]
    Invalid(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The new snapshot was not accepted.
    #[error(transparent)]
    Accept(#[from] AcceptError),
    /// The directory lists as many members as its format holds.
    #[error(
        "the network has {max} members, as many as the directory holds; revoke members that left before admitting another",
        max = limits::MAX_MEMBERS
    )]
    NetworkFull,
    /// The next snapshot would be larger than a snapshot may be (the bounds make this
    /// impossible; kept as a last check before anything is written).
    #[error("the next directory would be {size} bytes, more than the limit of {max} bytes", max = limits::MAX_DIRECTORY_BYTES)]
    DirectoryFull {
        /// Its size.
        size: usize,
    },
    /// A member updates its profile too often.
    #[error(
        "too many profile updates from this member: the next one is taken in {wait_secs} s; it is sent again automatically"
    )]
    TooManyUpdates {
        /// Seconds until the next update is taken.
        wait_secs: u64,
    },
}

/// Paces each member's profile updates: `burst` in a row, then one per `interval` (a
/// token bucket per member; at most one entry per member, so bounded by
/// [`limits::MAX_MEMBERS`]). Kept in memory: a restart of the KI gives every member a
/// fresh burst.
#[derive(Debug, Default)]
pub struct UpdateLimiter {
    buckets: Mutex<HashMap<NodeId, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: u32,
    refilled_at: Timestamp,
}

impl UpdateLimiter {
    /// Takes one update for `member` at `now`, or says how many milliseconds to wait.
    pub fn take(
        &self,
        member: NodeId,
        now: Timestamp,
        config: &DirectoryConfig,
    ) -> Result<(), u64> {
        let interval = config.profile_update_interval_ms.max(1);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(member).or_insert(Bucket {
            tokens: config.profile_update_burst,
            refilled_at: now,
        });
        let elapsed = now.0.saturating_sub(bucket.refilled_at.0);
        let gained = elapsed / interval;
        if gained > 0 {
            let tokens = u64::from(bucket.tokens).saturating_add(gained);
            bucket.tokens = u32::try_from(tokens)
                .unwrap_or(u32::MAX)
                .min(config.profile_update_burst);
            bucket.refilled_at = Timestamp(bucket.refilled_at.0 + gained * interval);
        }
        if bucket.tokens == 0 {
            return Err(interval - (now.0.saturating_sub(bucket.refilled_at.0)).min(interval));
        }
        if bucket.tokens == config.profile_update_burst {
            // A full bucket starts its refill clock now, not when it was last full.
            bucket.refilled_at = now;
        }
        bucket.tokens -= 1;
        Ok(())
    }
}

/// The `[directory]` section: how the KI paces profile updates and snapshot pushes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectoryConfig {
    /// Profile updates a member may make in a row before the rate below applies.
    pub profile_update_burst: u32,
    /// After the burst, a member may update its profile once per this many milliseconds;
    /// an update beyond that is refused with the time to wait, and the member's node sends
    /// it again by itself.
    pub profile_update_interval_ms: u64,
    /// The KI pushes a new snapshot to the members at most once per this many
    /// milliseconds; changes made meanwhile go out together in the next push.
    pub push_interval_ms: u64,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        Self {
            profile_update_burst: 5,
            profile_update_interval_ms: 60_000,
            push_interval_ms: 2_000,
        }
    }
}

/// A `[directory]` value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryConfigError {
    /// A value is zero.
    #[error("directory.{0} must be greater than 0")]
    Zero(&'static str),
}

impl DirectoryConfig {
    /// Checks that every value can work.
    pub fn check(&self) -> Result<(), DirectoryConfigError> {
        if self.profile_update_burst == 0 {
            return Err(DirectoryConfigError::Zero("profile_update_burst"));
        }
        if self.profile_update_interval_ms == 0 {
            return Err(DirectoryConfigError::Zero("profile_update_interval_ms"));
        }
        if self.push_interval_ms == 0 {
            return Err(DirectoryConfigError::Zero("push_interval_ms"));
        }
        Ok(())
    }
}

/// An invitation as the KI stores it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InvitationRecord {
    /// Agency name.
    pub agency_name: String,
    /// Agency kind.
    pub agency_kind: AgencyKind,
    /// Created.
    pub created_at: Timestamp,
    /// Expires.
    pub expires_at: Timestamp,
    /// The node that used it.
    pub used_by: Option<NodeId>,
    /// When.
    pub used_at: Option<Timestamp>,
}

/// The KI's own profile: its addresses, no services.
pub fn own_profile(core: &Core, addresses: Vec<String>) -> SignedProfile {
    AgencyProfile {
        node_id: core.id,
        encryption: core.encryption.recipient(),
        addresses,
        services: vec![],
        updated_at: core.clock.now(),
    }
    .sign(&core.node_key)
}

/// Creates serial 1 with the KI itself as the only member.
pub async fn publish_initial(core: &Core) -> Result<SignedDirectory, AuthorityError> {
    let key = core
        .authority_key
        .as_ref()
        .ok_or(AuthorityError::NotDirectoryNode)?;
    let now = core.clock.now();
    let content = DirectoryContent {
        authority: key.public(),
        serial: 1,
        issued_at: now,
        members: vec![Member {
            node_id: core.id,
            name: core.config.name.clone(),
            kind: AgencyKind::IntegrationCentre,
            admitted_at: now,
            profile: own_profile(core, core.config.network.public_addresses.clone()),
        }],
        revoked: vec![],
    };
    let signed = content.sign(key);
    core.directory.accept(core.store.as_ref(), &signed).await?;
    core.directory_published.notify_one();
    Ok(signed)
}

/// Applies `change` to the current content and publishes the result as the next serial.
/// `extra` (e.g. the spent invitation) is committed in the same atomic batch as the
/// snapshot: both happen, or neither.
async fn publish(
    core: &Core,
    extra: Batch,
    change: impl FnOnce(&mut DirectoryContent) -> Result<(), AuthorityError>,
) -> Result<SignedDirectory, AuthorityError> {
    let key = core
        .authority_key
        .as_ref()
        .ok_or(AuthorityError::NotDirectoryNode)?;
    let _guard = core.publish_lock.lock().await;
    let current = core.directory.current().ok_or(AuthorityError::Invalid(
        "the directory has no snapshot yet".into(),
    ))?;
    let mut content = current.content();
    change(&mut content)?;
    content.serial = current.serial + 1;
    content.issued_at = core.clock.now();
    let signed = content.sign(key);
    if signed.bytes.len() > limits::MAX_DIRECTORY_BYTES {
        return Err(AuthorityError::DirectoryFull {
            size: signed.bytes.len(),
        });
    }
    core.directory
        .accept_with(core.store.as_ref(), &signed, extra)
        .await?;
    core.directory_published.notify_one();
    Ok(signed)
}

/// Creates an invitation for `agency_name`, valid for `valid_for_ms`.
pub async fn create_invitation(
    core: &Core,
    agency_name: &str,
    agency_kind: AgencyKind,
    valid_for_ms: u64,
) -> Result<Invitation, AuthorityError> {
    let key = core
        .authority_key
        .as_ref()
        .ok_or(AuthorityError::NotDirectoryNode)?;
    if agency_kind == AgencyKind::IntegrationCentre {
        // Members find the KI by this kind; a second one would take its place.
        return Err(AuthorityError::Invalid(
            "the integration centre is the directory node itself; invite agencies with another kind".into(),
        ));
    }
    let name = agency_name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(AuthorityError::Invalid(
            "the agency name must be 1 to 200 characters".into(),
        ));
    }
    let now = core.clock.now();
    let secret: [u8; 32] = rand::random();
    let record = InvitationRecord {
        agency_name: name.to_string(),
        agency_kind,
        created_at: now,
        expires_at: now.plus_millis(valid_for_ms),
        used_by: None,
        used_at: None,
    };
    let mut batch = Batch::new();
    batch.put(
        Space::Invitations,
        secret_hash(&secret).to_vec(),
        to_json(&record),
    );
    core.store.commit(batch)?;
    core.store.flush().await?;
    Ok(Invitation {
        agency_name: record.agency_name,
        agency_kind,
        // The addresses the directory lists for the KI: those are the ones it actually
        // listens on (a configured port 0 is replaced at start).
        ki_addresses: core
            .directory
            .member(&core.id)
            .map(|m| m.profile.addresses)
            .unwrap_or_else(|| core.config.network.public_addresses.clone()),
        ki_node: core.id,
        ki_encryption: core.encryption.recipient(),
        authority: key.public(),
        secret,
        expires_at: record.expires_at,
    })
}

/// All invitations, newest first.
pub fn list_invitations(core: &Core) -> Result<Vec<InvitationRecord>, AuthorityError> {
    let mut v: Vec<InvitationRecord> = core
        .store
        .scan(Space::Invitations, b"", usize::MAX)?
        .iter()
        .map(|(_, bytes)| from_json(Space::Invitations, bytes))
        .collect::<Result<_, _>>()?;
    v.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    Ok(v)
}

/// Admits the node that sent `request`, if its invitation is valid.
pub async fn admit(
    core: &Core,
    sender: NodeId,
    request: &JoinRequest,
) -> Result<SignedDirectory, AuthorityError> {
    let hash = secret_hash(&request.secret).to_vec();
    let stored = core
        .store
        .get(Space::Invitations, &hash)?
        .ok_or(AuthorityError::InvitationInvalid)?;
    let mut record: InvitationRecord = from_json(Space::Invitations, &stored)?;
    if let Some(node) = record.used_by {
        // A retry by the same node (its answer got lost) gets the directory again.
        if node == sender
            && let Some(d) = core.directory.current()
            && d.is_active(&sender)
        {
            return Ok(d.signed.clone());
        }
        return Err(AuthorityError::InvitationInvalid);
    }
    let now = core.clock.now();
    if now >= record.expires_at {
        return Err(AuthorityError::InvitationExpired(record.expires_at));
    }
    let profile = request
        .profile
        .verify()
        .map_err(AuthorityError::BadProfile)?;
    if profile.node_id != sender {
        return Err(AuthorityError::ProfileOfAnotherNode);
    }
    if core
        .directory
        .current()
        .is_some_and(|d| d.members.len() >= limits::MAX_MEMBERS)
    {
        return Err(AuthorityError::NetworkFull);
    }
    record.used_by = Some(sender);
    record.used_at = Some(now);
    let mut spend = Batch::new();
    spend.guard(Space::Invitations, hash.clone(), Expect::Value(stored));
    spend.put(Space::Invitations, hash, to_json(&record));
    let member = Member {
        node_id: sender,
        name: record.agency_name.clone(),
        kind: record.agency_kind,
        admitted_at: now,
        profile: request.profile.clone(),
    };
    publish(core, spend, move |c| {
        if c.members.iter().any(|m| m.node_id == sender) || c.revoked.contains(&sender) {
            return Err(AuthorityError::Invalid(
                "this node is already a member or was revoked".into(),
            ));
        }
        if c.members.len() >= limits::MAX_MEMBERS {
            return Err(AuthorityError::NetworkFull);
        }
        c.members.push(member);
        Ok(())
    })
    .await
}

/// Replaces a member's profile with a newer one it signed.
pub async fn update_profile(
    core: &Core,
    sender: NodeId,
    signed: &SignedProfile,
) -> Result<Option<SignedDirectory>, AuthorityError> {
    let profile = signed.verify().map_err(AuthorityError::BadProfile)?;
    if profile.node_id != sender {
        return Err(AuthorityError::ProfileOfAnotherNode);
    }
    let current = core
        .directory
        .member(&sender)
        .ok_or(AuthorityError::UnknownMember(sender))?;
    if profile.updated_at <= current.profile.updated_at {
        // Already applied (a retry) or stale: nothing to publish.
        return Ok(None);
    }
    if sender != core.id {
        core.directory
            .profile_updates
            .take(sender, core.clock.now(), &core.config.directory)
            .map_err(|wait_ms| AuthorityError::TooManyUpdates {
                wait_secs: wait_ms.div_ceil(1000),
            })?;
    }
    let signed = signed.clone();
    publish(core, Batch::new(), move |c| {
        let m = c
            .members
            .iter_mut()
            .find(|m| m.node_id == sender)
            .ok_or(AuthorityError::UnknownMember(sender))?;
        m.profile = signed;
        Ok(())
    })
    .await
    .map(Some)
}

/// Revokes a member.
pub async fn revoke(core: &Core, node: NodeId) -> Result<SignedDirectory, AuthorityError> {
    if node == core.id {
        return Err(AuthorityError::RevokeSelf);
    }
    publish(core, Batch::new(), move |c| {
        let before = c.members.len();
        c.members.retain(|m| m.node_id != node);
        if c.members.len() == before {
            return Err(AuthorityError::UnknownMember(node));
        }
        c.revoked.push(node);
        // The oldest revocations go first: those nodes are not listed either, so they stay
        // out (and the KI refuses a join by a key it lists as revoked only while listed).
        let excess = c.revoked.len().saturating_sub(limits::MAX_REVOKED);
        c.revoked.drain(..excess);
        Ok(())
    })
    .await
}

/// Republishes the KI's own entry if its addresses changed (e.g. a new port).
pub async fn refresh_own_entry(
    core: &Arc<Core>,
    addresses: Vec<String>,
) -> Result<(), AuthorityError> {
    let Some(me) = core.directory.member(&core.id) else {
        return Ok(());
    };
    if me.profile.addresses == addresses {
        return Ok(());
    }
    let profile = own_profile(core, addresses);
    let id = core.id;
    publish(core, Batch::new(), move |c| {
        if let Some(m) = c.members.iter_mut().find(|m| m.node_id == id) {
            m.profile = profile;
        }
        Ok(())
    })
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_gets_its_burst_then_one_update_per_interval() {
        let config = DirectoryConfig {
            profile_update_burst: 2,
            profile_update_interval_ms: 1_000,
            push_interval_ms: 1_000,
        };
        let limiter = UpdateLimiter::default();
        let (a, b) = (
            lotse_protocol::NodeKey::generate().public(),
            lotse_protocol::NodeKey::generate().public(),
        );
        assert_eq!(limiter.take(a, Timestamp(0), &config), Ok(()));
        assert_eq!(limiter.take(a, Timestamp(10), &config), Ok(()));
        assert_eq!(limiter.take(a, Timestamp(20), &config), Err(980));
        assert_eq!(
            limiter.take(b, Timestamp(20), &config),
            Ok(()),
            "per member"
        );
        assert_eq!(limiter.take(a, Timestamp(1_000), &config), Ok(()));
        assert_eq!(limiter.take(a, Timestamp(1_500), &config), Err(500));
        // A long pause refills the burst, never more.
        assert_eq!(limiter.take(a, Timestamp(60_000), &config), Ok(()));
        assert_eq!(limiter.take(a, Timestamp(60_000), &config), Ok(()));
        assert!(limiter.take(a, Timestamp(60_000), &config).is_err());
    }
}
