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
//! Nothing in it may be open to other users of the machine: the directory itself, `keys/`
//! and `store/` (and every directory below) are 0700, every key file, store file and the
//! admin token 0600. [`DataDir::create`] makes them so, and a process that opens a data
//! directory creates files only for its own user from then on (umask 0077, see
//! [`private_files`]), since the store adds files while it runs. Loading the configuration
//! ([`DataDir::load_config`], the first thing every command and `lotse run` do) checks
//! every one of them and refuses the directory with the file and the `chmod` that fixes it
//! ([`DataDir::check_modes`]). Initialising refuses a directory that already holds a node.

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
    /// A file or directory of the data directory is open to other users.
    #[error(
        "{path} can be read by other users of this machine (mode {mode:o}); run `chmod {fix:o} {path}`, or `chmod -R go= {root}` for the whole data directory, and start again"
    )]
    Permissions {
        /// The file or directory.
        path: String,
        /// Its mode.
        mode: u32,
        /// The mode it must have (0600 for files, 0700 for directories).
        fix: u32,
        /// The data directory.
        root: String,
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
        private_files();
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

    /// Reads the configuration, after checking that nothing in the data directory is open
    /// to other users ([`DataDir::check_modes`]); from then on this process creates files
    /// for its own user only ([`private_files`]).
    pub fn load_config(&self) -> Result<Config, DataDirError> {
        if !self.is_initialised() {
            return Err(DataDirError::NotInitialised(
                self.root.display().to_string(),
            ));
        }
        private_files();
        self.check_modes()?;
        Ok(Config::load(&self.config_path())?)
    }

    /// Checks that the data directory, `keys/` and `store/` with everything below them,
    /// and the admin token are not open to other users: directories 0700 (or stricter),
    /// files 0600. The first that is not is named, with the `chmod` that fixes it.
    pub fn check_modes(&self) -> Result<(), DataDirError> {
        self.check_mode(&self.root)?;
        let token = self.token_path();
        if token.exists() {
            self.check_mode(&token)?;
        }
        for dir in [self.root.join("keys"), self.store_path()] {
            if dir.exists() {
                self.check_tree(&dir, 0)?;
            }
        }
        Ok(())
    }

    /// Checks `dir` and everything below it, at most [`MAX_DEPTH`] levels deep.
    fn check_tree(&self, dir: &Path, depth: usize) -> Result<(), DataDirError> {
        self.check_mode(dir)?;
        if depth >= MAX_DEPTH {
            return Ok(());
        }
        for entry in fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            if fs::symlink_metadata(&path).map_err(io(&path))?.is_dir() {
                self.check_tree(&path, depth + 1)?;
            } else {
                self.check_mode(&path)?;
            }
        }
        Ok(())
    }

    fn check_mode(&self, path: &Path) -> Result<(), DataDirError> {
        let meta = fs::symlink_metadata(path).map_err(io(path))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            return Ok(());
        }
        Err(DataDirError::Permissions {
            path: path.display().to_string(),
            mode,
            fix: if meta.is_dir() { 0o700 } else { 0o600 },
            root: self.root.display().to_string(),
        })
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

/// How deep [`DataDir::check_modes`] looks below `keys/` and `store/` (sled uses two).
const MAX_DEPTH: usize = 4;

/// From now on, this process creates files and directories for its own user only (umask
/// 0077): the store adds files while the node runs (sled's blobs and snapshots), and they
/// must be as private as the ones made at `lotse init`. Called by everything that creates
/// or opens a data directory; a process of Lotse makes no file that others should read.
pub fn private_files() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
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
            fix: 0o600,
            root: path
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
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
            hsds: Default::default(),
            auth: crate::config::AuthConfig::default(),
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
    fn everything_is_private_and_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path().join("node"));
        dir.create(&config(), &keys()).unwrap();
        let store = dir.store_path();
        fs::create_dir_all(store.join("blobs")).unwrap();
        fs::write(store.join("blobs").join("1"), b"x").unwrap();
        fs::write(store.join("db"), b"x").unwrap();
        for p in [
            dir.root().to_path_buf(),
            dir.root().join("keys"),
            store.join("blobs"),
        ] {
            let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", p.display());
        }
        for p in [dir.token_path(), store.join("db"), store.join("blobs/1")] {
            let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", p.display());
        }
        dir.load_config().unwrap();
        for (path, mode, fix) in [
            (dir.root().to_path_buf(), 0o755, "chmod 700"),
            (store.join("blobs"), 0o750, "chmod 700"),
            (store.join("blobs/1"), 0o644, "chmod 600"),
            (dir.case_keys_path(), 0o640, "chmod 600"),
            (dir.token_path(), 0o604, "chmod 600"),
        ] {
            if !path.exists() {
                fs::write(&path, b"").unwrap();
            }
            let before = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = dir.load_config().unwrap_err().to_string();
            assert!(
                err.contains(&format!("{fix} {}", path.display())) && err.contains("chmod -R go="),
                "{err}"
            );
            fs::set_permissions(&path, fs::Permissions::from_mode(before)).unwrap();
        }
        dir.load_config().unwrap();
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
