//! Backups of a node: one age-encrypted file with the configuration, the keys, the case keys
//! and every entry of the store, and its restore into a new data directory.
//!
//! Every agency keeps its clients' data on its own node and nowhere else, so a lost disk
//! loses it for good unless there is a backup. A backup is made while the node is stopped
//! (the store's lock tells), so it is one consistent state; the store-and-forward delivery
//! means peers keep what they send meanwhile and deliver it once the node is back. The
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
/// Store entries read or written at a time.
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
        "the node is running (its data directory is locked); stop it (for example `systemctl stop lotse`), make the backup, then start it again: peers keep what they send meanwhile"
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

/// Writes a backup of the stopped node in `dir` to the new file `to`.
pub async fn create(
    dir: &DataDir,
    to: &Path,
    protection: &Protection,
) -> Result<Summary, BackupError> {
    if to.exists() {
        return Err(BackupError::TargetExists(to.display().to_string()));
    }
    let core = match Core::open(dir.clone()) {
        Err(OpenError::Store(StoreError::Locked)) => return Err(BackupError::NodeRunning),
        other => other?,
    };
    // A backup reads all case data: it is recorded like any other read of it.
    let detail = format!("all data exported to the encrypted backup {}", to.display());
    audit::record(&core, audit::CLI, "backup.export", None, &detail).await?;
    let partial = PathBuf::from(format!("{}.partial", to.display()));
    let written = write(&core, dir, &partial, protection);
    drop(core);
    let summary = match written {
        Ok(summary) => summary,
        Err(e) => {
            let _ = fs::remove_file(&partial);
            return Err(e);
        }
    };
    fs::rename(&partial, to).map_err(io(to))?;
    sync_parent(to)?;
    Ok(summary)
}

fn write(
    core: &Core,
    dir: &DataDir,
    partial: &Path,
    protection: &Protection,
) -> Result<Summary, BackupError> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(partial)
        .map_err(io(partial))?;
    let encryptor = match protection {
        Protection::Recipients(keys) => {
            age::Encryptor::with_recipients(keys.iter().map(|k| k as &dyn age::Recipient))
                .map_err(|e| BackupError::Encrypt(e.to_string()))?
        }
        Protection::Passphrase(p) => age::Encryptor::with_user_passphrase(p.clone()),
    };
    let sealed = encryptor
        .wrap_output(BufWriter::new(file))
        .map_err(io(partial))?;
    let mut out = Records::start(sealed).map_err(io(partial))?;
    // No background refill of case keys runs in an offline node, but wait in case.
    core.vault.wait_for_refill();
    for name in FILES {
        let path = dir.root().join(name);
        match fs::read(&path) {
            Ok(bytes) => out
                .file(name, &Zeroizing::new(bytes))
                .map_err(io(partial))?,
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
    }
    for space in Space::ALL {
        let mut start = Vec::new();
        loop {
            let page = core.store.scan_from(space, &start, PAGE)?;
            for (key, value) in &page {
                out.entry(space, key, value).map_err(io(partial))?;
            }
            match page.last() {
                Some((last, _)) if page.len() == PAGE => {
                    start = last.clone();
                    start.push(0);
                }
                _ => break,
            }
        }
    }
    let summary = Summary {
        name: core.config.name.clone(),
        node_id: core.id.to_string(),
        created_at: core.clock.now().to_rfc3339(),
        files: out.files,
        entries: out.entries,
    };
    out.end(&summary).map_err(io(partial))?;
    let file = out
        .inner
        .finish()
        .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
        .map_err(io(partial))?;
    file.sync_all().map_err(io(partial))?;
    Ok(summary)
}

/// The record writer.
struct Records<W: Write> {
    inner: W,
    files: u64,
    entries: u64,
}

impl<W: Write> Records<W> {
    /// Starts a backup's plaintext in `inner`: the magic and the version.
    fn start(inner: W) -> std::io::Result<Self> {
        let mut out = Records {
            inner,
            files: 0,
            entries: 0,
        };
        out.raw(MAGIC)?;
        out.raw(&[VERSION])?;
        Ok(out)
    }

    fn raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(bytes)
    }

    fn file(&mut self, name: &str, content: &[u8]) -> std::io::Result<()> {
        self.raw(b"F")?;
        self.raw(&(name.len() as u16).to_be_bytes())?;
        self.raw(name.as_bytes())?;
        self.raw(&(content.len() as u64).to_be_bytes())?;
        self.raw(content)?;
        self.files += 1;
        Ok(())
    }

    fn entry(&mut self, space: Space, key: &[u8], value: &[u8]) -> std::io::Result<()> {
        let name = space.name();
        self.raw(b"E")?;
        // Space names are short constants; keys and values are bounded by the store's users.
        self.raw(&[name.len() as u8])?;
        self.raw(name.as_bytes())?;
        self.raw(&(key.len() as u32).to_be_bytes())?;
        self.raw(key)?;
        self.raw(&(value.len() as u32).to_be_bytes())?;
        self.raw(value)?;
        self.entries += 1;
        Ok(())
    }

    fn end(&mut self, summary: &Summary) -> std::io::Result<()> {
        let json = serde_json::to_vec(summary).map_err(std::io::Error::other)?;
        self.raw(b"Z")?;
        self.raw(&(json.len() as u32).to_be_bytes())?;
        self.raw(&json)
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
    let damaged = |reason: String| BackupError::Damaged {
        path: from.display().to_string(),
        reason,
    };
    let file = File::open(from).map_err(io(from))?;
    let decryptor = age::Decryptor::new(BufReader::new(file))
        .map_err(|e| damaged(format!("it is not an age-encrypted file ({e})")))?;
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
    let plain = plain.map_err(|e| match e {
        age::DecryptError::NoMatchingKeys | age::DecryptError::DecryptionFailed => {
            BackupError::Decrypt("the backup key or passphrase does not fit this backup".into())
        }
        other => BackupError::Decrypt(other.to_string()),
    })?;
    records(BufReader::new(plain), from, each)
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
        extra: impl FnOnce(&mut Records<Vec<u8>>),
        files: u64,
        entries: u64,
    ) -> Vec<u8> {
        let mut r = Records::start(Vec::new()).unwrap();
        for name in names {
            r.file(name, b"x").unwrap();
        }
        r.entry(Space::Meta, b"k", b"v").unwrap();
        extra(&mut r);
        r.end(&Summary {
            name: "n".into(),
            node_id: "id".into(),
            created_at: "t".into(),
            files,
            entries,
        })
        .unwrap();
        r.inner
    }

    /// A plaintext with the required files, an entry, and `extra` before the end.
    fn plaintext(extra: impl FnOnce(&mut Records<Vec<u8>>), files: u64, entries: u64) -> Vec<u8> {
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
                plaintext(|r| r.file("../../etc/passwd", b"x").unwrap(), 5, 1),
                "unknown file",
            ),
            (
                plaintext(|r| r.file("lotse.toml", b"again").unwrap(), 5, 1),
                "lotse.toml twice",
            ),
            (
                plaintext(|r| r.raw(b"E\x05nosuch").unwrap(), 4, 1),
                "unknown space",
            ),
            (
                plaintext(
                    |r| {
                        r.raw(b"F\x00\x0ekeys/case-keys\xff\xff\xff\xff\xff\xff\xff\xff")
                            .unwrap()
                    },
                    4,
                    1,
                ),
                "claims",
            ),
            (
                plaintext(|r| r.raw(b"Q").unwrap(), 4, 1),
                "unknown record tag",
            ),
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
