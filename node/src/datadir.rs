//! The data directory: configuration, key files, admin token and the store, in one place.
//!
//! ```text
//! DIR/lotse.toml            configuration
//! DIR/keys/node.key         ed25519 node key            (0600)
//! DIR/keys/encryption.key   age X25519 identity          (0600)
//! DIR/keys/authority.key    directory authority key, KI only (0600)
//! DIR/keys/case-keys        per-referral case keys, in slots (0600)
//! DIR/admin.token           token for the local admin API (0600)
//! DIR/store/                the database
//! ```
//!
//! Key files must not be readable by group or others; loading refuses them otherwise, with
//! the `chmod` that fixes it. Initialising refuses a directory that already holds a node.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use lotse_protocol::{AuthorityKey, EncryptionIdentity, NodeKey};

use crate::config::{Config, ConfigError};

/// The files of a data directory besides the store, relative to its root: what a backup
/// copies. The authority key exists on the KI's node only.
pub const FILES: [&str; 6] = [
    "lotse.toml",
    "admin.token",
    "keys/node.key",
    "keys/encryption.key",
    "keys/authority.key",
    "keys/case-keys",
];

/// Paths inside a data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

/// A data directory could not be created or read.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// Already initialised.
    #[error(
        "{0} already contains a Lotse node (lotse.toml exists); choose an empty directory, or use the existing node"
    )]
    AlreadyInitialised(String),
    /// Not initialised.
    #[error("{0} is not a Lotse data directory (no lotse.toml); create one with `lotse init`")]
    NotInitialised(String),
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A key file is readable by others.
    #[error(
        "the key file {path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`"
    )]
    Permissions {
        /// The file.
        path: String,
        /// Its mode.
        mode: u32,
    },
    /// A key file is damaged.
    #[error("the key file {path} is damaged: {message}")]
    BadKey {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Config problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError + '_ {
    move |source| DataDirError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The node's secret keys.
pub struct Keys {
    /// Signing key (node id).
    pub node: NodeKey,
    /// Encryption identity.
    pub encryption: EncryptionIdentity,
    /// Authority key (directory node only).
    pub authority: Option<AuthorityKey>,
}

impl DataDir {
    /// The data directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `lotse.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.root.join("lotse.toml")
    }

    /// The store directory.
    pub fn store_path(&self) -> PathBuf {
        self.root.join("store")
    }

    /// The admin token file.
    pub fn token_path(&self) -> PathBuf {
        self.root.join("admin.token")
    }

    /// The per-referral case key file.
    pub fn case_keys_path(&self) -> PathBuf {
        self.key_path("case-keys")
    }

    fn key_path(&self, name: &str) -> PathBuf {
        self.root.join("keys").join(name)
    }

    /// True if a node lives here.
    pub fn is_initialised(&self) -> bool {
        self.config_path().exists()
    }

    /// Creates the directory, keys, token and config. Refuses an initialised directory.
    pub fn create(&self, config: &Config, keys: &Keys) -> Result<(), DataDirError> {
        if self.is_initialised() {
            return Err(DataDirError::AlreadyInitialised(
                self.root.display().to_string(),
            ));
        }
        // Case data lives below: nobody but the node's user may enter.
        fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700))
            .map_err(io(&self.root))?;
        let keys_dir = self.root.join("keys");
        fs::create_dir_all(&keys_dir).map_err(io(&keys_dir))?;
        fs::set_permissions(&keys_dir, fs::Permissions::from_mode(0o700)).map_err(io(&keys_dir))?;
        write_secret(&self.key_path("node.key"), &keys.node.to_secret_text())?;
        write_secret(
            &self.key_path("encryption.key"),
            &keys.encryption.to_secret_text(),
        )?;
        if let Some(a) = &keys.authority {
            write_secret(&self.key_path("authority.key"), &a.to_secret_text())?;
        }
        let token = data_encoding::HEXLOWER.encode(&rand::random::<[u8; 32]>());
        write_secret(&self.token_path(), &token)?;
        // The config is written last: its presence marks a complete node.
        self.save_config(config)
    }

    /// Writes the configuration (atomically, via a temporary file).
    pub fn save_config(&self, config: &Config) -> Result<(), DataDirError> {
        let path = self.config_path();
        let tmp = self.root.join("lotse.toml.tmp");
        let text = format!(
            "# Lotse node configuration. Changes take effect at the next `lotse run`.\n{}",
            config.to_toml()
        );
        fs::write(&tmp, text).map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))
    }

    /// Reads the configuration.
    pub fn load_config(&self) -> Result<Config, DataDirError> {
        if !self.is_initialised() {
            return Err(DataDirError::NotInitialised(
                self.root.display().to_string(),
            ));
        }
        Ok(Config::load(&self.config_path())?)
    }

    /// Reads the keys, checking permissions.
    pub fn load_keys(&self) -> Result<Keys, DataDirError> {
        let node = read_secret(&self.key_path("node.key"))?;
        let node =
            NodeKey::from_secret_text(&node).map_err(|e| bad_key(&self.key_path("node.key"), e))?;
        let enc = read_secret(&self.key_path("encryption.key"))?;
        let encryption = EncryptionIdentity::from_secret_text(&enc)
            .map_err(|e| bad_key(&self.key_path("encryption.key"), e))?;
        let auth_path = self.key_path("authority.key");
        let authority = if auth_path.exists() {
            let text = read_secret(&auth_path)?;
            Some(AuthorityKey::from_secret_text(&text).map_err(|e| bad_key(&auth_path, e))?)
        } else {
            None
        };
        Ok(Keys {
            node,
            encryption,
            authority,
        })
    }

    /// Reads the admin API token.
    pub fn load_token(&self) -> Result<String, DataDirError> {
        Ok(read_secret(&self.token_path())?.trim().to_string())
    }
}

fn bad_key(path: &Path, e: impl std::fmt::Display) -> DataDirError {
    DataDirError::BadKey {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn write_secret(path: &Path, text: &str) -> Result<(), DataDirError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    f.write_all(text.as_bytes()).map_err(io(path))?;
    f.write_all(b"\n").map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

fn read_secret(path: &Path) -> Result<zeroize::Zeroizing<String>, DataDirError> {
    let meta = fs::metadata(path).map_err(io(path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(DataDirError::Permissions {
            path: path.display().to_string(),
            mode,
        });
    }
    Ok(zeroize::Zeroizing::new(
        fs::read_to_string(path).map_err(io(path))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DeliveryConfig, NetworkConfig, ReferralConfig, Role, StatisticsConfig};

    fn config() -> Config {
        Config {
            name: "Test".into(),
            role: Role::Agency,
            network: NetworkConfig {
                quic_listen: "127.0.0.1:0".parse().unwrap(),
                public_addresses: vec!["127.0.0.1:1".into()],
                http_listen: "127.0.0.1:0".parse().unwrap(),
                authority: None,
                directory_addresses: vec![],
            },
            delivery: DeliveryConfig::default(),
            referrals: ReferralConfig::default(),
            statistics: StatisticsConfig::default(),
            transport: Default::default(),
            directory: Default::default(),
        }
    }

    fn keys() -> Keys {
        Keys {
            node: NodeKey::generate(),
            encryption: EncryptionIdentity::generate(),
            authority: None,
        }
    }

    #[test]
    fn create_load_and_refuse_second() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path().join("node"));
        let k = keys();
        dir.create(&config(), &k).unwrap();
        let mode = fs::metadata(dir.key_path("node.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(dir.load_keys().unwrap().node.public(), k.node.public());
        assert!(matches!(
            dir.create(&config(), &keys()),
            Err(DataDirError::AlreadyInitialised(_))
        ));
    }

    #[test]
    fn open_key_file_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path());
        dir.create(&config(), &keys()).unwrap();
        let p = dir.key_path("node.key");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        let err = dir.load_keys().err().unwrap();
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }
}
