//! Backups of a node: one age-encrypted file with the configuration, the keys, the case keys
//! and every entry of the store, and its restore into a new data directory.
//!
//! Every agency keeps its clients' data on its own node and nowhere else, so a lost disk
//! loses it for good unless there is a backup. A backup is one consistent state of the
//! node. A stopped node is read here directly. A running node makes the backup itself
//! when the CLI asks through the admin API: it copies every store entry while commits wait
//! (so no batch is half in it), then its files, and sends the result encrypted to a
//! one-time key of the CLI's, which checks it and encrypts it for keeping. The
//! file holds everything needed to read the case data, so it is always encrypted with age:
//! to a backup key whose secret half is kept away from the server (unattended backups), or
//! with a passphrase. It is written under a temporary name, synced, and then renamed, so a
//! backup file is always complete. Making and restoring one are audited.
//!
//! Restoring writes into a staging directory beside the target, checks that the restored
//! node opens and its audit chain verifies, and only then renames it into place. An
//! existing node is never overwritten.
//!
//! The plaintext inside age (integers big-endian):
//!
//! ```text
//! "LOTSE-BACKUP\0", version (1)
//! then records, each starting with a tag byte:
//!   'F'  a file:  path (u16 length, bytes; one of `datadir::FILES`), content (u64 length, bytes)
//!   'E'  an entry of the store: space name (u8 length, bytes), key (u32 length, bytes),
//!        value (u32 length, bytes)
//!   'Z'  the end: a JSON [`Summary`] (u32 length, bytes), whose counts must match; nothing
//!        may follow
//! ```

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter, ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use age::secrecy::SecretString;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::audit;
use crate::core::{Core, OpenError};
use crate::datadir::{DataDir, FILES};
use crate::store::{Batch, SledStore, Space, Store, StoreError};

/// The first bytes of a backup's plaintext.
pub const MAGIC: &[u8; 13] = b"LOTSE-BACKUP\0";
/// The format version this build writes and reads.
pub const VERSION: u8 = 1;
/// Store entries restored per commit.
const PAGE: usize = 256;
/// Files a backup must hold to make a node.
const REQUIRED: [&str; 4] = [
    "lotse.toml",
    "admin.token",
    "keys/node.key",
    "keys/encryption.key",
];
/// Bounds on what a record may claim, so a damaged length cannot exhaust memory.
const MAX_FILE: u64 = 1 << 30;
const MAX_KEY: usize = 1 << 16;
const MAX_VALUE: usize = 1 << 28;
const MAX_SUMMARY: usize = 1 << 16;

/// What a backup holds; its last record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The node's name.
    pub name: String,
    /// The node's id.
    pub node_id: String,
    /// When the backup was made (RFC 3339).
    pub created_at: String,
    /// Files of the data directory.
    pub files: u64,
    /// Entries of the store.
    pub entries: u64,
}

/// How a new backup is encrypted.
pub enum Protection {
    /// To these backup keys (their secret halves restore it).
    Recipients(Vec<age::x25519::Recipient>),
    /// With this passphrase.
    Passphrase(SecretString),
}

/// How a backup is decrypted.
pub enum Unlock {
    /// With this backup key.
    Identity(age::x25519::Identity),
    /// With this passphrase.
    Passphrase(SecretString),
}

/// A backup could not be made, read or restored.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The node runs.
    #[error(
        "the node is running (its data directory is locked); back it up with `lotse backup create`, which asks the running node through its admin API"
    )]
    NodeRunning,
    /// The backup file exists.
    #[error("{0} already exists; choose a new file name (a backup never overwrites a file)")]
    TargetExists(String),
    /// The restore target holds something.
    #[error(
        "{0} is not empty; restore into a new or empty directory (move an old node's directory away first)"
    )]
    DirNotEmpty(String),
    /// The node cannot be opened.
    #[error("the node cannot be opened: {0}")]
    Open(#[from] OpenError),
    /// age refused to encrypt (no backup key given).
    #[error("cannot encrypt the backup: {0}")]
    Encrypt(String),
    /// The wrong key or passphrase, or the wrong kind of it.
    #[error("cannot decrypt the backup: {0}")]
    Decrypt(String),
    /// Not a backup, or a damaged or incomplete one.
    #[error("{path} is not a usable Lotse backup: {reason}")]
    Damaged {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The restored node does not open or its audit log does not verify.
    #[error("the restored node does not check out ({0}); nothing was restored")]
    Check(String),
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Store error.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes a backup of the stopped node in `dir` to the new file `to`. (A running node is
/// backed up through its admin API: [`export`] there, [`receive`] and [`seal_to_file`] in
/// the CLI.)
pub async fn create(
    dir: &DataDir,
    to: &Path,
    protection: &Protection,
) -> Result<Summary, BackupError> {
    let core = match Core::open(dir.clone()) {
        Err(OpenError::Store(StoreError::Locked)) => return Err(BackupError::NodeRunning),
        other => other?,
    };
    create_with(&core, to, protection).await
}

/// Writes a backup of the node `core`, opened here while it is stopped, to the new file `to`.
pub async fn create_with(
    core: &Arc<Core>,
    to: &Path,
    protection: &Protection,
) -> Result<Summary, BackupError> {
    // Checked before the export, so a refused name leaves no `backup.export` in the log.
    ensure_new(to)?;
    let detail = format!("all data exported to the encrypted backup {}", to.display());
    let export = export(core, &detail).await?;
    seal_to_file(&export.plain, to, protection)?;
    Ok(export.summary)
}

/// Refuses a backup file name that is taken: a backup never overwrites a file.
pub fn ensure_new(to: &Path) -> Result<(), BackupError> {
    if to.exists() {
        return Err(BackupError::TargetExists(to.display().to_string()));
    }
    Ok(())
}

/// A node's whole state, read for a backup.
pub struct Export {
    /// The backup's plaintext.
    pub plain: Zeroizing<Vec<u8>>,
    /// What it holds.
    pub summary: Summary,
    /// How long commits waited while the store's entries were copied.
    pub commits_waited: std::time::Duration,
}

/// Records the export in the audit log (with `detail`), then reads the node's whole state
/// into a backup's plaintext. It works while the node runs: the store's entries are copied
/// as one consistent state, and commits wait only while they are copied.
pub async fn export(core: &Arc<Core>, detail: &str) -> Result<Export, BackupError> {
    // A backup reads all case data: it is recorded like any other read of it.
    audit::record(core, audit::CLI, "backup.export", None, detail).await?;
    let core = core.clone();
    tokio::task::spawn_blocking(move || snapshot(&core))
        .await
        .map_err(|e| BackupError::Io {
            path: "(backup export)".into(),
            source: std::io::Error::other(e),
        })?
}

/// The plaintext of a backup of `core`, and its summary.
fn snapshot(core: &Core) -> Result<Export, BackupError> {
    let mut out = Records::start();
    // The entries first: a case key is in its file before any entry that claims it is
    // committed, so the file, read after the entries, holds every key they need.
    let started = std::time::Instant::now();
    core.store
        .read_all(&mut |space, key, value| out.entry(space, key, value))?;
    let commits_waited = started.elapsed();
    // A key pool refill may be writing slots no entry claims yet; let it finish.
    core.vault.wait_for_refill();
    for name in FILES {
        let path = core.datadir.root().join(name);
        match fs::read(&path) {
            Ok(bytes) => out.file(name, &Zeroizing::new(bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
    }
    let summary = Summary {
        name: core.config.name.clone(),
        node_id: core.id.to_string(),
        created_at: core.clock.now().to_rfc3339(),
        files: out.files,
        entries: out.entries,
    };
    tracing::info!(
        entries = summary.entries,
        bytes = out.inner.len(),
        commits_waited_ms = commits_waited.as_millis() as u64,
        "backup exported"
    );
    Ok(Export {
        plain: out.end(&summary),
        summary,
        commits_waited,
    })
}

/// Encrypts a backup's plaintext with `protection` into `out`; `what` names `out` in errors.
pub fn seal<W: Write>(
    plain: &[u8],
    protection: &Protection,
    out: W,
    what: &Path,
) -> Result<W, BackupError> {
    let encryptor = match protection {
        Protection::Recipients(keys) => {
            age::Encryptor::with_recipients(keys.iter().map(|k| k as &dyn age::Recipient))
                .map_err(|e| BackupError::Encrypt(e.to_string()))?
        }
        Protection::Passphrase(p) => age::Encryptor::with_user_passphrase(p.clone()),
    };
    let mut sealed = encryptor.wrap_output(out).map_err(io(what))?;
    sealed.write_all(plain).map_err(io(what))?;
    sealed.finish().map_err(io(what))
}

/// Encrypts a backup's plaintext into the new file `to`: written under a temporary name,
/// synced, then renamed, so a backup file is always whole.
pub fn seal_to_file(plain: &[u8], to: &Path, protection: &Protection) -> Result<(), BackupError> {
    ensure_new(to)?;
    let partial = PathBuf::from(format!("{}.partial", to.display()));
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .map_err(io(&partial))
        .and_then(|file| seal(plain, protection, BufWriter::new(file), &partial))
        .and_then(|w| {
            let file = w.into_inner().map_err(|e| io(&partial)(e.into_error()))?;
            file.sync_all().map_err(io(&partial))
        });
    if let Err(e) = written {
        let _ = fs::remove_file(&partial);
        return Err(e);
    }
    fs::rename(&partial, to).map_err(io(to))?;
    sync_parent(to)
}

/// Decrypts a backup that a running node sent to the CLI, and checks it is whole.
pub fn receive(
    sealed: &[u8],
    unlock: &Unlock,
) -> Result<(Zeroizing<Vec<u8>>, Summary), BackupError> {
    let from = Path::new("the backup the node sent");
    let mut plain = Zeroizing::new(Vec::new());
    decrypt(sealed, unlock, from)?
        .read_to_end(&mut plain)
        .map_err(|e| BackupError::Damaged {
            path: from.display().to_string(),
            reason: format!("it cannot be decrypted whole ({e})"),
        })?;
    let summary = records(&plain[..], from, |_| Ok(()))?;
    Ok((plain, summary))
}

/// The record writer: a backup's plaintext, in memory.
struct Records {
    inner: Zeroizing<Vec<u8>>,
    files: u64,
    entries: u64,
}

impl Records {
    /// Starts a backup's plaintext: the magic and the version.
    fn start() -> Self {
        let mut out = Records {
            inner: Zeroizing::new(Vec::new()),
            files: 0,
            entries: 0,
        };
        out.raw(MAGIC);
        out.raw(&[VERSION]);
        out
    }

    fn raw(&mut self, bytes: &[u8]) {
        self.inner.extend_from_slice(bytes);
    }

    fn file(&mut self, name: &str, content: &[u8]) {
        self.raw(b"F");
        self.raw(&(name.len() as u16).to_be_bytes());
        self.raw(name.as_bytes());
        self.raw(&(content.len() as u64).to_be_bytes());
        self.raw(content);
        self.files += 1;
    }

    fn entry(&mut self, space: Space, key: &[u8], value: &[u8]) {
        let name = space.name();
        self.raw(b"E");
        // Space names are short constants; keys and values are bounded by the store's users.
        self.raw(&[name.len() as u8]);
        self.raw(name.as_bytes());
        self.raw(&(key.len() as u32).to_be_bytes());
        self.raw(key);
        self.raw(&(value.len() as u32).to_be_bytes());
        self.raw(value);
        self.entries += 1;
    }

    /// Ends the plaintext with `summary` and returns it.
    fn end(mut self, summary: &Summary) -> Zeroizing<Vec<u8>> {
        let json = crate::store::to_json(summary);
        self.raw(b"Z");
        self.raw(&(json.len() as u32).to_be_bytes());
        self.raw(&json);
        self.inner
    }
}

/// One record read from a backup.
enum Item {
    File(&'static str, Zeroizing<Vec<u8>>),
    Entry(Space, Vec<u8>, Vec<u8>),
}

/// Reads and checks the whole backup `from` without writing anything.
pub fn check(from: &Path, unlock: &Unlock) -> Result<Summary, BackupError> {
    read(from, unlock, |_| Ok(()))
}

/// Restores the backup `from` into `target`, which must not exist or be empty.
pub async fn restore(from: &Path, target: &Path, unlock: &Unlock) -> Result<Summary, BackupError> {
    if target.exists() {
        let mut inside = fs::read_dir(target).map_err(io(target))?;
        if inside.next().is_some() {
            return Err(BackupError::DirNotEmpty(target.display().to_string()));
        }
    }
    let staging = staging_path(target)?;
    if staging.exists() {
        // Left by a restore that was interrupted: ours to replace.
        fs::remove_dir_all(&staging).map_err(io(&staging))?;
    }
    let restored = restore_into(from, &staging, unlock).await;
    let summary = match restored {
        Ok(summary) => summary,
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    if target.exists() {
        fs::remove_dir(target).map_err(io(target))?;
    }
    fs::rename(&staging, target).map_err(io(target))?;
    sync_parent(target)?;
    Ok(summary)
}

/// `.<name>.restoring` beside `target`, on the same file system, so the final step is a
/// rename.
fn staging_path(target: &Path) -> Result<PathBuf, BackupError> {
    let name = target
        .file_name()
        .ok_or_else(|| BackupError::DirNotEmpty(target.display().to_string()))?;
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(io(&parent))?;
    Ok(parent.join(format!(".{}.restoring", name.to_string_lossy())))
}

async fn restore_into(
    from: &Path,
    staging: &Path,
    unlock: &Unlock,
) -> Result<Summary, BackupError> {
    // The store makes its own files: they must be private like everything restored.
    crate::datadir::private_files();
    for dir in [staging.to_path_buf(), staging.join("keys")] {
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(io(&dir))?;
    }
    let store = SledStore::open(&staging.join("store"))?;
    let mut batch = Batch::new();
    let mut pending = 0;
    let summary = read(from, unlock, |item| {
        match item {
            Item::File(name, content) => {
                let path = staging.join(name);
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(io(&path))?;
                f.write_all(&content).map_err(io(&path))?;
                f.sync_all().map_err(io(&path))?;
            }
            Item::Entry(space, key, value) => {
                batch.put(space, key, value);
                pending += 1;
                if pending == PAGE {
                    store.commit(std::mem::take(&mut batch))?;
                    pending = 0;
                }
            }
        }
        Ok(())
    })?;
    store.commit(batch)?;
    store.flush().await?;
    drop(store);
    // The restored node must open and its audit log verify before it takes the place.
    let core = Core::open(DataDir::new(staging)).map_err(|e| BackupError::Check(e.to_string()))?;
    audit::verify(core.store.as_ref()).map_err(|e| BackupError::Check(e.to_string()))?;
    let detail = format!(
        "restored from the backup of {} made at {}",
        summary.name, summary.created_at
    );
    audit::record(&core, audit::CLI, "backup.restore", None, &detail).await?;
    Ok(summary)
}

/// Reads `from` record by record, handing each to `each`, and checks that it is whole.
fn read(
    from: &Path,
    unlock: &Unlock,
    each: impl FnMut(Item) -> Result<(), BackupError>,
) -> Result<Summary, BackupError> {
    let file = File::open(from).map_err(io(from))?;
    let plain = decrypt(BufReader::new(file), unlock, from)?;
    records(BufReader::new(plain), from, each)
}

/// The decrypted stream of the backup in `sealed`; `from` names it in errors.
fn decrypt<'a, R: Read + 'a>(
    sealed: R,
    unlock: &Unlock,
    from: &Path,
) -> Result<Box<dyn Read + 'a>, BackupError> {
    let decryptor = age::Decryptor::new(sealed).map_err(|e| BackupError::Damaged {
        path: from.display().to_string(),
        reason: format!("it is not an age-encrypted file ({e})"),
    })?;
    let plain = match unlock {
        Unlock::Identity(key) => {
            if decryptor.is_scrypt() {
                return Err(BackupError::Decrypt(
                    "it was made with a passphrase; restore it with --passphrase-file".into(),
                ));
            }
            decryptor.decrypt(std::iter::once(key as &dyn age::Identity))
        }
        Unlock::Passphrase(p) => {
            if !decryptor.is_scrypt() {
                return Err(BackupError::Decrypt(
                    "it was made for a backup key; restore it with --identity".into(),
                ));
            }
            let identity = age::scrypt::Identity::new(p.clone());
            decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity))
        }
    };
    match plain {
        Ok(plain) => Ok(Box::new(plain)),
        Err(age::DecryptError::NoMatchingKeys | age::DecryptError::DecryptionFailed) => Err(
            BackupError::Decrypt("the backup key or passphrase does not fit this backup".into()),
        ),
        Err(other) => Err(BackupError::Decrypt(other.to_string())),
    }
}

/// Reads the records of a decrypted backup from `plain`, as [`check`] does after
/// decryption (a fuzz target drives this with arbitrary bytes).
pub fn check_records(plain: &[u8]) -> Result<Summary, BackupError> {
    records(plain, Path::new("(plaintext)"), |_| Ok(()))
}

/// Reads the decrypted records from `plain`, handing each to `each`, and checks that the
/// backup is whole.
fn records(
    plain: impl Read,
    from: &Path,
    mut each: impl FnMut(Item) -> Result<(), BackupError>,
) -> Result<Summary, BackupError> {
    let damaged = |reason: String| BackupError::Damaged {
        path: from.display().to_string(),
        reason,
    };
    let mut r = Reader { inner: plain };
    let read_err = |e: std::io::Error| {
        if e.kind() == ErrorKind::UnexpectedEof {
            damaged("it ends early (incomplete)".into())
        } else {
            damaged(format!("it is damaged ({e})"))
        }
    };
    let mut magic = [0u8; MAGIC.len()];
    r.exact(&mut magic).map_err(read_err)?;
    if &magic != MAGIC {
        return Err(damaged("it is not a Lotse backup".into()));
    }
    let version = r.u8().map_err(read_err)?;
    if version != VERSION {
        return Err(damaged(format!(
            "it has format version {version}; this lotse reads version {VERSION} (use the lotse version that made it)"
        )));
    }
    let (mut files, mut entries) = (0u64, 0u64);
    let mut seen = HashSet::new();
    loop {
        match r.u8().map_err(read_err)? {
            b'F' => {
                let len = usize::from(r.u16().map_err(read_err)?);
                let name = String::from_utf8(r.bytes(len).map_err(read_err)?)
                    .map_err(|_| damaged("a file name is not text".into()))?;
                let Some(known) = FILES.iter().find(|f| **f == name) else {
                    return Err(damaged(format!("it holds an unknown file {name:?}")));
                };
                if !seen.insert(*known) {
                    return Err(damaged(format!("it holds {name} twice")));
                }
                let size = r.u64().map_err(read_err)?;
                if size > MAX_FILE {
                    return Err(damaged(format!("{name} claims {size} bytes")));
                }
                let content = Zeroizing::new(r.bytes(size as usize).map_err(read_err)?);
                files += 1;
                each(Item::File(known, content))?;
            }
            b'E' => {
                let len = usize::from(r.u8().map_err(read_err)?);
                let name = String::from_utf8(r.bytes(len).map_err(read_err)?).unwrap_or_default();
                let space = Space::from_name(&name)
                    .ok_or_else(|| damaged(format!("it holds an unknown space {name:?}")))?;
                let key_len = r.u32().map_err(read_err)? as usize;
                if key_len > MAX_KEY {
                    return Err(damaged(format!("a key claims {key_len} bytes")));
                }
                let key = r.bytes(key_len).map_err(read_err)?;
                let value_len = r.u32().map_err(read_err)? as usize;
                if value_len > MAX_VALUE {
                    return Err(damaged(format!("a value claims {value_len} bytes")));
                }
                let value = r.bytes(value_len).map_err(read_err)?;
                entries += 1;
                each(Item::Entry(space, key, value))?;
            }
            b'Z' => {
                let len = r.u32().map_err(read_err)? as usize;
                if len > MAX_SUMMARY {
                    return Err(damaged(format!("its summary claims {len} bytes")));
                }
                let summary: Summary = serde_json::from_slice(&r.bytes(len).map_err(read_err)?)
                    .map_err(|e| damaged(format!("its summary is unreadable ({e})")))?;
                if r.u8().is_ok() {
                    return Err(damaged("something follows its end".into()));
                }
                if (summary.files, summary.entries) != (files, entries) {
                    return Err(damaged(format!(
                        "it holds {files} files and {entries} entries, its summary says {} and {}",
                        summary.files, summary.entries
                    )));
                }
                if let Some(missing) = REQUIRED.iter().find(|f| !seen.contains(*f)) {
                    return Err(damaged(format!("it lacks {missing}")));
                }
                return Ok(summary);
            }
            other => return Err(damaged(format!("unknown record tag {other:#04x}"))),
        }
    }
}

/// Big-endian reads from the decrypted stream.
struct Reader<R: Read> {
    inner: R,
}

impl<R: Read> Reader<R> {
    fn exact(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        self.inner.read_exact(buf)
    }

    fn bytes(&mut self, len: usize) -> std::io::Result<Vec<u8>> {
        // `take` grows the buffer as data arrives, not by what a length claims.
        let mut out = Vec::with_capacity(len.min(1 << 20));
        (&mut self.inner).take(len as u64).read_to_end(&mut out)?;
        if out.len() < len {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> std::io::Result<[u8; N]> {
        let mut b = [0u8; N];
        self.exact(&mut b)?;
        Ok(b)
    }

    fn u8(&mut self) -> std::io::Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> std::io::Result<u16> {
        self.array().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> std::io::Result<u32> {
        self.array().map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> std::io::Result<u64> {
        self.array().map(u64::from_be_bytes)
    }
}

fn sync_parent(path: &Path) -> Result<(), BackupError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(io(parent))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> (Protection, Unlock) {
        let key = age::x25519::Identity::generate();
        (
            Protection::Recipients(vec![key.to_public()]),
            Unlock::Identity(key),
        )
    }

    /// Encrypts `plain` as a backup file would be, to `key`.
    fn sealed(path: &Path, plain: &[u8], key: &age::x25519::Identity) {
        let public = key.to_public();
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&public as &dyn age::Recipient))
                .unwrap();
        let mut out = encryptor.wrap_output(File::create(path).unwrap()).unwrap();
        out.write_all(plain).unwrap();
        out.finish().unwrap();
    }

    /// A plaintext with the files `names`, an entry, and `extra` before an end that claims
    /// `files` and `entries`.
    fn plaintext_of(
        names: &[&str],
        extra: impl FnOnce(&mut Records),
        files: u64,
        entries: u64,
    ) -> Vec<u8> {
        let mut r = Records::start();
        for name in names {
            r.file(name, b"x");
        }
        r.entry(Space::Meta, b"k", b"v");
        extra(&mut r);
        r.end(&Summary {
            name: "n".into(),
            node_id: "id".into(),
            created_at: "t".into(),
            files,
            entries,
        })
        .to_vec()
    }

    /// A plaintext with the required files, an entry, and `extra` before the end.
    fn plaintext(extra: impl FnOnce(&mut Records), files: u64, entries: u64) -> Vec<u8> {
        plaintext_of(&REQUIRED, extra, files, entries)
    }

    #[tokio::test]
    async fn every_entry_of_a_large_store_comes_back() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::init::for_test(tmp.path(), true).await;
        {
            let store = SledStore::open(&dir.store_path()).unwrap();
            // More than a page, in two spaces, with empty and large values.
            let mut batch = Batch::new();
            for i in 0..1000u32 {
                batch.put(Space::Events, i.to_be_bytes().to_vec(), vec![7; i as usize]);
            }
            batch.put(Space::Seen, vec![0xff; 40], Vec::new());
            store.commit(batch).unwrap();
            store.flush().await.unwrap();
        }
        let (protect, unlock) = key();
        let file = tmp.path().join("b");
        let made = create(&dir, &file, &protect).await.unwrap();
        assert_eq!(check(&file, &unlock).unwrap(), made);
        let target = tmp.path().join("copy");
        restore(&file, &target, &unlock).await.unwrap();
        let (a, b) = (
            SledStore::open(&dir.store_path()).unwrap(),
            SledStore::open(&DataDir::new(&target).store_path()).unwrap(),
        );
        for space in [Space::Events, Space::Seen, Space::Users] {
            assert_eq!(
                a.scan(space, b"", usize::MAX).unwrap(),
                b.scan(space, b"", usize::MAX).unwrap(),
                "{space:?}"
            );
        }
        assert_eq!(a.scan(Space::Events, b"", usize::MAX).unwrap().len(), 1000);
        for name in FILES {
            let (x, y) = (dir.root().join(name), target.join(name));
            assert_eq!(x.exists(), y.exists(), "{name}");
            if name != "keys/case-keys" && x.exists() {
                assert_eq!(fs::read(&x).unwrap(), fs::read(&y).unwrap(), "{name}");
            }
        }
    }

    #[tokio::test]
    async fn a_passphrase_backup_needs_that_passphrase() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::init::for_test(tmp.path(), true).await;
        let file = tmp.path().join("b");
        let pass = |p: &str| SecretString::from(p.to_owned());
        create(
            &dir,
            &file,
            &Protection::Passphrase(pass("richtig und lang")),
        )
        .await
        .unwrap();
        check(&file, &Unlock::Passphrase(pass("richtig und lang"))).unwrap();
        let wrong = check(&file, &Unlock::Passphrase(pass("falsch und lang")));
        assert!(
            wrong.unwrap_err().to_string().contains("does not fit"),
            "wrong passphrase"
        );
        let (_, identity) = key();
        let err = check(&file, &identity).unwrap_err().to_string();
        assert!(err.contains("--passphrase-file"), "{err}");
    }

    #[tokio::test]
    async fn a_backup_without_a_key_is_refused_and_leaves_no_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::init::for_test(tmp.path(), true).await;
        let file = tmp.path().join("b");
        let err = create(&dir, &file, &Protection::Recipients(Vec::new()))
            .await
            .unwrap_err();
        assert!(
            err.to_string().starts_with("cannot encrypt the backup"),
            "{err}"
        );
        assert!(!file.exists());
        assert!(!tmp.path().join("b.partial").exists());
    }

    #[tokio::test]
    async fn existing_files_and_directories_are_never_overwritten() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::init::for_test(tmp.path(), true).await;
        let (protect, unlock) = key();
        let file = tmp.path().join("b");
        fs::write(&file, b"an older backup").unwrap();
        let err = create(&dir, &file, &protect).await.unwrap_err();
        assert!(matches!(err, BackupError::TargetExists(_)), "{err}");
        assert_eq!(fs::read(&file).unwrap(), b"an older backup");
        fs::remove_file(&file).unwrap();
        create(&dir, &file, &protect).await.unwrap();
        // The node's own directory, or any directory with something in it, is refused.
        let err = restore(&file, dir.root(), &unlock).await.unwrap_err();
        assert!(matches!(err, BackupError::DirNotEmpty(_)), "{err}");
        assert!(err.to_string().contains("new or empty directory"), "{err}");
        // An empty directory is fine.
        let empty = tmp.path().join("empty");
        fs::create_dir(&empty).unwrap();
        restore(&file, &empty, &unlock).await.unwrap();
        assert!(DataDir::new(&empty).is_initialised());
    }

    #[tokio::test]
    async fn damaged_backups_are_refused_and_restore_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::init::for_test(tmp.path(), true).await;
        let key = age::x25519::Identity::generate();
        let unlock = Unlock::Identity(key.clone());
        let file = tmp.path().join("b");
        create(&dir, &file, &Protection::Recipients(vec![key.to_public()]))
            .await
            .unwrap();
        let good = fs::read(&file).unwrap();
        let bad = tmp.path().join("bad");
        let refused = |bytes: &[u8]| {
            fs::write(&bad, bytes).unwrap();
            check(&bad, &unlock).unwrap_err().to_string()
        };
        // Cut short, or a byte changed in the middle: age's authentication catches both.
        assert!(refused(&good[..good.len() - 20]).contains("not a usable Lotse backup"));
        let mut flipped = good.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 1;
        assert!(refused(&flipped).contains("not a usable Lotse backup"));
        assert!(refused(b"not even age").contains("not an age-encrypted file"));
        // Another key.
        let other = Unlock::Identity(age::x25519::Identity::generate());
        let err = check(&file, &other).unwrap_err().to_string();
        assert!(err.contains("does not fit this backup"), "{err}");

        // Well encrypted, but wrong inside. (The plaintext reader alone, as fuzzed, accepts
        // a whole one.)
        assert_eq!(check_records(&plaintext(|_| {}, 4, 1)).unwrap().entries, 1);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"LOTSE-BACKUX\0\x01".to_vec(), "not a Lotse backup"),
            (b"LOTSE-BACKUP\0\x09".to_vec(), "format version 9"),
            (
                plaintext(|r| r.file("../../etc/passwd", b"x"), 5, 1),
                "unknown file",
            ),
            (
                plaintext(|r| r.file("lotse.toml", b"again"), 5, 1),
                "lotse.toml twice",
            ),
            (plaintext(|r| r.raw(b"E\x05nosuch"), 4, 1), "unknown space"),
            (
                plaintext(
                    |r| r.raw(b"F\x00\x0ekeys/case-keys\xff\xff\xff\xff\xff\xff\xff\xff"),
                    4,
                    1,
                ),
                "claims",
            ),
            (plaintext(|r| r.raw(b"Q"), 4, 1), "unknown record tag"),
            (plaintext(|_| {}, 4, 2), "its summary says"),
            (
                [plaintext(|_| {}, 4, 1), b"more".to_vec()].concat(),
                "follows its end",
            ),
            (plaintext(|_| {}, 4, 1)[..40].to_vec(), "ends early"),
        ];
        for (plain, expected) in cases {
            sealed(&bad, &plain, &key);
            let err = check(&bad, &unlock).unwrap_err().to_string();
            assert!(err.contains(expected), "{expected}: {err}");
            let target = tmp.path().join("never");
            let err = restore(&bad, &target, &unlock).await.unwrap_err();
            assert!(err.to_string().contains(expected), "{err}");
            assert!(!target.exists() && !tmp.path().join(".never.restoring").exists());
        }
        // A whole backup without a required file.
        sealed(&bad, &plaintext_of(&["lotse.toml"], |_| {}, 1, 1), &key);
        let err = check(&bad, &unlock).unwrap_err().to_string();
        assert!(err.contains("lacks admin.token"), "{err}");
    }
}
