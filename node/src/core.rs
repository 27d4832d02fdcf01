//! The node's shared state: identity, configuration, store, clock and directory, opened
//! once per process and passed (as `Arc<Core>`) to every task and handler.

use std::sync::Arc;

use lotse_protocol::{AuthorityKey, EncryptionIdentity, NodeId, NodeKey};
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::config::{Config, Role};
use crate::datadir::{DataDir, DataDirError};
use crate::directory::DirectoryState;
use crate::inbox::Applier;
use crate::store::{SledStore, Store, StoreError};

/// How many delivery notices a slow listener may fall behind before it misses some.
const DELIVERED_BUFFER: usize = 65_536;

/// Opening the node failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Data directory problem.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// Store problem.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Directory problem.
    #[error("the stored directory is not valid: {0}")]
    Directory(String),
    /// The case key file cannot be opened.
    #[error("the case key file cannot be opened: {0}")]
    Vault(#[from] crate::referrals::vault::VaultError),
}

/// Everything a node's tasks share.
pub struct Core {
    /// Configuration.
    pub config: Config,
    /// Paths.
    pub datadir: DataDir,
    /// This node's id.
    pub id: NodeId,
    /// Signing key.
    pub node_key: Arc<NodeKey>,
    /// Decryption identity.
    pub encryption: EncryptionIdentity,
    /// Directory authority key (KI only).
    pub authority_key: Option<AuthorityKey>,
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Per-referral case keys (outside the store, so erasure can destroy them).
    pub vault: crate::referrals::vault::Vault,
    /// Time.
    pub clock: Clock,
    /// The current verified directory.
    pub directory: Arc<DirectoryState>,
    /// Wakes the delivery task when something was queued.
    pub outbox_notify: Notify,
    /// Serialises directory publication on the KI node.
    pub publish_lock: tokio::sync::Mutex<()>,
    /// Wakes the KI's push of a newly published directory to the members.
    pub directory_published: Notify,
    /// Serialises in-order application of received messages, and the applier's settle
    /// step after it.
    pub apply_lock: tokio::sync::Mutex<()>,
    /// What received messages do.
    pub applier: Arc<dyn Applier>,
    /// Announces every outgoing message whose receipt was stored (for `lotse bench` and
    /// tests; sending costs nothing when nobody listens).
    pub delivered: tokio::sync::broadcast::Sender<crate::delivery::Delivered>,
    /// Outgoing messages committed but not yet flushed: not sent until they are durable.
    pub not_yet_durable: std::sync::Mutex<std::collections::HashSet<lotse_protocol::MessageId>>,
    /// Messages queued since the delivery task last looked (it drains this list).
    pub newly_queued: std::sync::Mutex<Vec<lotse_protocol::MessageId>>,
}

impl Core {
    /// Opens an initialised data directory.
    pub fn open(datadir: DataDir) -> Result<Arc<Core>, OpenError> {
        Self::open_with(datadir, Arc::new(crate::referrals::Workflow))
    }

    /// Opens with a specific application layer.
    pub fn open_with(datadir: DataDir, applier: Arc<dyn Applier>) -> Result<Arc<Core>, OpenError> {
        let config = datadir.load_config()?;
        let keys = datadir.load_keys()?;
        let store: Arc<dyn Store> = Arc::new(SledStore::open(&datadir.store_path())?);
        let vault =
            crate::referrals::vault::Vault::load(&datadir.case_keys_path(), store.as_ref())?;
        let id = keys.node.public();
        let directory = Arc::new(
            DirectoryState::load(
                store.as_ref(),
                config.network.authority,
                config.role == Role::Directory,
            )
            .map_err(|e| OpenError::Directory(e.to_string()))?,
        );
        Ok(Arc::new(Core {
            config,
            datadir,
            id,
            node_key: Arc::new(keys.node),
            encryption: keys.encryption,
            authority_key: keys.authority,
            store,
            vault,
            clock: Clock::default(),
            directory,
            outbox_notify: Notify::new(),
            publish_lock: tokio::sync::Mutex::new(()),
            directory_published: Notify::new(),
            apply_lock: tokio::sync::Mutex::new(()),
            applier,
            delivered: tokio::sync::broadcast::channel(DELIVERED_BUFFER).0,
            not_yet_durable: std::sync::Mutex::default(),
            newly_queued: std::sync::Mutex::default(),
        }))
    }

    /// True on the KI's directory node.
    pub fn is_directory_node(&self) -> bool {
        self.config.role == Role::Directory && self.authority_key.is_some()
    }
}
