//! Creating a node's data directory (`lotse init`).
//!
//! An agency node gets a node key and an encryption identity; the KI's directory node also
//! gets the authority key and publishes the first directory snapshot, listing itself.
//! Every node gets a first user `admin` (role admin) with a generated password, which the
//! caller shows once.

use std::net::SocketAddr;

use lotse_protocol::{AuthorityId, AuthorityKey, EncryptionIdentity, Fingerprint, NodeId, NodeKey};

use crate::auth::AuthError;
use crate::auth::users::{self, NewUser};
use crate::config::{
    Config, DeliveryConfig, NetworkConfig, ReferralConfig, Role, StatisticsConfig,
};
use crate::core::{Core, OpenError};
use crate::datadir::{DataDir, DataDirError, Keys};
use crate::directory::authority::{self, AuthorityError};

/// What to create.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The agency's name.
    pub name: String,
    /// Make this the KI's directory node.
    pub directory: bool,
    /// QUIC listen address.
    pub quic_listen: SocketAddr,
    /// HTTP listen address.
    pub http_listen: SocketAddr,
    /// Addresses to publish; defaults to the QUIC listen address.
    pub public_addresses: Vec<String>,
}

/// What was created.
#[derive(Debug, Clone)]
pub struct InitReport {
    /// Node id.
    pub node_id: NodeId,
    /// Its fingerprint.
    pub fingerprint: Fingerprint,
    /// The authority key (directory node).
    pub authority: Option<AuthorityId>,
    /// The first admin account and its generated password (show it once).
    pub first_admin: NewUser,
}

/// Initialisation failed.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// Data directory.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// Opening.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// First snapshot.
    #[error(transparent)]
    Authority(#[from] AuthorityError),
    /// Bad options.
    #[error("{0}")]
    Invalid(String),
    /// Creating the first admin.
    #[error("could not create the first admin user: {0}")]
    FirstAdmin(#[from] AuthError),
}

/// Creates the data directory.
pub async fn init(datadir: &DataDir, opts: &InitOptions) -> Result<InitReport, InitError> {
    if opts.name.trim().is_empty() || opts.name.len() > 200 {
        return Err(InitError::Invalid(
            "--name must be 1 to 200 characters".into(),
        ));
    }
    if datadir.is_initialised() {
        return Err(DataDirError::AlreadyInitialised(datadir.root().display().to_string()).into());
    }
    let authority = opts.directory.then(AuthorityKey::generate);
    let authority_id = authority.as_ref().map(|a| a.public());
    let keys = Keys {
        node: NodeKey::generate(),
        encryption: EncryptionIdentity::generate(),
        authority,
    };
    let node_id = keys.node.public();
    let public_addresses = if opts.public_addresses.is_empty() {
        vec![opts.quic_listen.to_string()]
    } else {
        opts.public_addresses.clone()
    };
    let config = Config {
        name: opts.name.trim().to_string(),
        role: if opts.directory {
            Role::Directory
        } else {
            Role::Agency
        },
        network: NetworkConfig {
            quic_listen: opts.quic_listen,
            public_addresses,
            http_listen: opts.http_listen,
            authority: authority_id,
            directory_addresses: vec![],
        },
        delivery: DeliveryConfig::default(),
        referrals: ReferralConfig::default(),
        statistics: StatisticsConfig::default(),
        hsds: Default::default(),
        auth: crate::config::AuthConfig::default(),
        transport: Default::default(),
        directory: Default::default(),
    };
    Config::parse(&config.to_toml()).map_err(InitError::Invalid)?;
    datadir.create(&config, &keys)?;
    let core = Core::open(datadir.clone())?;
    if opts.directory {
        authority::publish_initial(&core).await?;
    }
    let first_admin = users::create_first_admin(&core).await?;
    Ok(InitReport {
        node_id,
        fingerprint: node_id.fingerprint(),
        authority: authority_id,
        first_admin,
    })
}

/// A node initialised in `root/node` for the crate's unit tests, with loopback addresses
/// on port 0; the KI's directory node if `directory`.
#[cfg(test)]
pub(crate) async fn for_test(root: &std::path::Path, directory: bool) -> DataDir {
    let dir = DataDir::new(root.join("node"));
    init(
        &dir,
        &InitOptions {
            name: "Testagentur".into(),
            directory,
            quic_listen: "127.0.0.1:0".parse().expect("address"),
            http_listen: "127.0.0.1:0".parse().expect("address"),
            public_addresses: vec![],
        },
    )
    .await
    .expect("init a test node");
    dir
}
