//! The node's view of the network directory: the newest verified snapshot it has.
//!
//! A snapshot is accepted only if it verifies against the pinned authority key and its
//! serial is higher than the current one (an older or forged snapshot is ignored, with the
//! reason logged). The state also answers the transport's question "may this key
//! connect?" ([`PeerPolicy`]). [`sync`] fetches newer snapshots from the KI and from
//! other members, so the network keeps its directory while the KI node is down.

pub mod authority;
pub mod sync;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use lotse_protocol::codec;
use lotse_protocol::directory::{Directory, DirectoryError, SignedDirectory, VerifiedMember};
use lotse_protocol::{AuthorityId, NodeId, limits};

use crate::store::{Batch, Space, Store, StoreError};
use crate::transport::tls::PeerPolicy;

const DIRECTORY_KEY: &[u8] = b"directory";

/// Why a snapshot was not taken.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// This node has not joined a network yet.
    #[error("this node has not joined a network (no authority key pinned); run `lotse join`")]
    NoAuthority,
    /// Verification failed.
    #[error(transparent)]
    Invalid(#[from] DirectoryError),
    /// Not newer than what we have.
    #[error("snapshot serial {offered} is not newer than the current serial {current}")]
    NotNewer {
        /// Offered serial.
        offered: u64,
        /// Current serial.
        current: u64,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The current directory and the pinned authority.
#[derive(Debug)]
pub struct DirectoryState {
    authority: RwLock<Option<AuthorityId>>,
    current: RwLock<Option<Arc<Directory>>>,
    is_directory_node: bool,
    /// On the KI: each member's pace of profile updates.
    pub(crate) profile_updates: authority::UpdateLimiter,
    /// On the KI: how many pushes of a new snapshot to the members went out.
    pushes: AtomicU64,
}

impl DirectoryState {
    /// Loads the stored snapshot, verifying it again.
    pub fn load(
        store: &dyn Store,
        authority: Option<AuthorityId>,
        is_directory_node: bool,
    ) -> Result<Self, AcceptError> {
        let current = match (store.get(Space::Meta, DIRECTORY_KEY)?, authority) {
            (Some(bytes), Some(auth)) => {
                let signed: SignedDirectory =
                    codec::decode("directory", &bytes, limits::MAX_DIRECTORY_BYTES + 1024)
                        .map_err(DirectoryError::from)?;
                Some(Arc::new(signed.verify(&auth)?))
            }
            _ => None,
        };
        Ok(Self {
            authority: RwLock::new(authority),
            current: RwLock::new(current),
            is_directory_node,
            profile_updates: authority::UpdateLimiter::default(),
            pushes: AtomicU64::new(0),
        })
    }

    /// On the KI: how many times a new snapshot was pushed to the members (several
    /// changes within `directory.push_interval_ms` go out in one push).
    pub fn pushes(&self) -> u64 {
        self.pushes.load(Ordering::Relaxed)
    }

    pub(crate) fn count_push(&self) {
        self.pushes.fetch_add(1, Ordering::Relaxed);
    }

    /// The pinned authority.
    pub fn authority(&self) -> Option<AuthorityId> {
        *self.authority.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Pins the authority (when joining).
    pub fn set_authority(&self, authority: AuthorityId) {
        *self.authority.write().unwrap_or_else(|p| p.into_inner()) = Some(authority);
    }

    /// The current snapshot.
    pub fn current(&self) -> Option<Arc<Directory>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The current serial (0 if none).
    pub fn serial(&self) -> u64 {
        self.current().map(|d| d.serial).unwrap_or(0)
    }

    /// True if `node` is an active member.
    pub fn is_active(&self, node: &NodeId) -> bool {
        self.current().is_some_and(|d| d.is_active(node))
    }

    /// The active member `node`.
    pub fn member(&self, node: &NodeId) -> Option<VerifiedMember> {
        self.current()?.active_member(node).cloned()
    }

    /// The KI's directory node (the active member of kind integration centre).
    pub fn ki(&self) -> Option<VerifiedMember> {
        self.current()?
            .active_members()
            .into_iter()
            .find(|m| m.member.kind == lotse_protocol::directory::AgencyKind::IntegrationCentre)
            .cloned()
    }

    /// Verifies `signed` and, if newer, stores it (durably) and makes it current.
    /// Returns the nodes that were active before and are not any more.
    pub async fn accept(
        &self,
        store: &dyn Store,
        signed: &SignedDirectory,
    ) -> Result<Vec<NodeId>, AcceptError> {
        self.accept_with(store, signed, Batch::new()).await
    }

    /// Like [`DirectoryState::accept`], committing `extra` in the same atomic batch as the
    /// snapshot: if the snapshot is refused, none of `extra` is written (the KI spends an
    /// invitation this way, so a failed join leaves it usable).
    pub async fn accept_with(
        &self,
        store: &dyn Store,
        signed: &SignedDirectory,
        extra: Batch,
    ) -> Result<Vec<NodeId>, AcceptError> {
        let authority = self.authority().ok_or(AcceptError::NoAuthority)?;
        let dir = signed.verify(&authority)?;
        let current = self.current();
        if let Some(cur) = &current
            && !dir.is_newer_than(cur)
        {
            return Err(AcceptError::NotNewer {
                offered: dir.serial,
                current: cur.serial,
            });
        }
        let mut batch = Batch::new();
        let mut guard_value = None;
        if let Some(stored) = store.get(Space::Meta, DIRECTORY_KEY)? {
            guard_value = Some(stored);
        }
        batch.guard(
            Space::Meta,
            DIRECTORY_KEY.to_vec(),
            match guard_value {
                Some(v) => crate::store::Expect::Value(v),
                None => crate::store::Expect::Absent,
            },
        );
        batch.put(Space::Meta, DIRECTORY_KEY.to_vec(), codec::encode(signed));
        batch.extend(extra);
        store.commit(batch)?;
        store.flush().await?;
        let dropped = current
            .map(|old| {
                old.members
                    .keys()
                    .filter(|n| old.is_active(n) && !dir.is_active(n))
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        tracing::info!(
            serial = dir.serial,
            members = dir.members.len(),
            "directory updated"
        );
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(dir));
        Ok(dropped)
    }
}

impl PeerPolicy for DirectoryState {
    fn may_connect(&self, peer: &NodeId) -> bool {
        // The directory node lets anyone finish the handshake: joining nodes are not
        // members yet. Its request handler then refuses non-members everything but a join.
        self.is_directory_node || self.is_active(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SledStore;
    use lotse_protocol::directory::{AgencyKind, AgencyProfile, DirectoryContent, Member};
    use lotse_protocol::{AuthorityKey, EncryptionIdentity, NodeKey, Timestamp};

    fn snapshot(auth: &AuthorityKey, serial: u64) -> SignedDirectory {
        let node = NodeKey::generate();
        let profile = AgencyProfile {
            node_id: node.public(),
            encryption: EncryptionIdentity::generate().recipient(),
            addresses: vec!["127.0.0.1:1".into()],
            services: vec![],
            updated_at: Timestamp(1),
        }
        .sign(&node);
        DirectoryContent {
            authority: auth.public(),
            serial,
            issued_at: Timestamp(serial),
            members: vec![Member {
                node_id: node.public(),
                name: "KI".into(),
                kind: AgencyKind::IntegrationCentre,
                admitted_at: Timestamp(0),
                profile,
            }],
            revoked: vec![],
        }
        .sign(auth)
    }

    #[tokio::test]
    async fn a_refused_snapshot_writes_none_of_what_comes_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(&dir.path().join("store")).unwrap();
        let auth = AuthorityKey::generate();
        let state = DirectoryState::load(&store, Some(auth.public()), true).unwrap();
        let spend = || {
            let mut b = Batch::new();
            b.put(
                Space::Invitations,
                b"used".to_vec(),
                b"by the joiner".to_vec(),
            );
            b
        };
        // A snapshot that does not verify: the invitation stays unspent.
        let mut forged = snapshot(&auth, 1);
        forged.signature.0[0] ^= 1;
        assert!(state.accept_with(&store, &forged, spend()).await.is_err());
        assert_eq!(store.get(Space::Invitations, b"used").unwrap(), None);
        // One that does: both are written.
        state
            .accept_with(&store, &snapshot(&auth, 1), spend())
            .await
            .unwrap();
        assert!(store.get(Space::Invitations, b"used").unwrap().is_some());
        assert_eq!(state.serial(), 1);
    }
}
