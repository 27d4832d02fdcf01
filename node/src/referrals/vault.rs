//! Case data at rest: encrypted with a key per referral, and erased by destroying the key.
//!
//! The keys live outside the store, in one file of fixed 64-byte slots
//! (`keys/case-keys`, mode 0600): referral id (16 bytes), key (32), and a 16-byte check
//! (SHA-256 over a label, the id and the key) that tells a written slot from a free or torn
//! one. Case content (client data, consent, notes, slots) is only ever written to the store
//! as XChaCha20-Poly1305 ciphertext under its referral's key, with the referral id as
//! associated data so ciphertexts cannot be moved between referrals.
//!
//! Erasure overwrites the slot with zeros in place and syncs the file before the slot can
//! be reused: old copies of the ciphertext that the log-structured store may still hold in
//! its segments become unreadable, which deleting rows alone would not achieve.
//!
//! Creating a key writes its slot; [`Vault::sync`] makes every written slot durable with
//! one `fdatasync` for all callers waiting at that moment (group commit, as the store's
//! flush). A caller syncs the vault *before* it commits store rows that need the key, so
//! the store can never durably hold ciphertext whose key a crash could take away. The
//! keys are kept in memory while the node runs, so sealing and opening read no file.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use lotse_protocol::ReferralId;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Bytes per slot: id, key, check.
const SLOT: usize = 64;
/// Domain separation of the slot check.
const CHECK_LABEL: &[u8] = b"lotse/case-key/v1\0";

/// A vault failure.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The key is gone: the case data was erased.
    #[error("the case data of this referral was erased")]
    Erased,
    /// File system error.
    #[error("case key storage: {0}")]
    Io(#[from] std::io::Error),
    /// Decryption failed (damaged data).
    #[error("case data is damaged and cannot be decrypted")]
    Damaged,
}

/// A key in memory, and where it is written.
struct Slot {
    index: u64,
    key: Zeroizing<[u8; 32]>,
}

#[derive(Default)]
struct Slots {
    keys: HashMap<ReferralId, Slot>,
    /// Slots erased and synced, free for reuse.
    free: Vec<u64>,
    /// Slots in the file.
    len: u64,
}

/// The per-referral keys of one node. Cloning shares the same vault.
#[derive(Clone)]
pub struct Vault {
    file: Arc<File>,
    slots: Arc<Mutex<Slots>>,
    /// Slot writes so far (a write's number is the value after its increment).
    written: Arc<AtomicU64>,
    /// The highest write number known to be durable; the lock serialises syncs.
    synced: Arc<tokio::sync::Mutex<u64>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys.
        f.debug_struct("Vault")
            .field("keys", &self.lock().keys.len())
            .finish_non_exhaustive()
    }
}

fn check(id: &[u8], key: &[u8]) -> [u8; 16] {
    let digest = Sha256::new()
        .chain_update(CHECK_LABEL)
        .chain_update(id)
        .chain_update(key)
        .finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

impl Vault {
    /// Opens (or creates) the key file at `path` and reads its keys.
    pub fn load(path: &Path) -> Result<Self, VaultError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        let bytes = Zeroizing::new(std::fs::read(path)?);
        let mut slots = Slots::default();
        for (index, raw) in bytes.chunks(SLOT).enumerate() {
            let index = index as u64;
            slots.len = index + 1;
            let parsed =
                (raw.len() == SLOT && raw[48..] == check(&raw[..16], &raw[16..48])).then(|| {
                    let mut id = [0u8; 16];
                    id.copy_from_slice(&raw[..16]);
                    let mut key = Zeroizing::new([0u8; 32]);
                    key.copy_from_slice(&raw[16..48]);
                    (ReferralId(id), key)
                });
            match parsed {
                // A slot written twice for one referral cannot happen (create is
                // idempotent under the lock); if it did, the first one wins.
                Some((id, key)) if !slots.keys.contains_key(&id) => {
                    slots.keys.insert(id, Slot { index, key });
                }
                // Free, erased, or torn by a crash before its sync (nothing refers to it).
                _ if raw.len() == SLOT => slots.free.push(index),
                // A torn tail: the next new slot overwrites it.
                _ => slots.len = index,
            }
        }
        Ok(Self {
            file: Arc::new(file),
            slots: Arc::new(Mutex::new(slots)),
            written: Arc::default(),
            synced: Arc::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates the key for a new referral. Idempotent. The key is durable after the next
    /// [`Vault::sync`].
    pub fn create(&self, id: &ReferralId) -> Result<(), VaultError> {
        let mut slots = self.lock();
        if slots.keys.contains_key(id) {
            return Ok(());
        }
        let key = Zeroizing::new(rand::random::<[u8; 32]>());
        let index = match slots.free.pop() {
            Some(i) => i,
            None => {
                slots.len += 1;
                slots.len - 1
            }
        };
        let mut raw = Zeroizing::new([0u8; SLOT]);
        raw[..16].copy_from_slice(id.as_bytes());
        raw[16..48].copy_from_slice(key.as_ref());
        raw[48..].copy_from_slice(&check(id.as_bytes(), key.as_ref()));
        if let Err(e) = self.file.write_all_at(raw.as_ref(), index * SLOT as u64) {
            slots.free.push(index);
            return Err(e.into());
        }
        slots.keys.insert(*id, Slot { index, key });
        self.written.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Makes every key created so far durable (one `fdatasync` for all waiting callers).
    pub async fn sync(&self) -> Result<(), VaultError> {
        let wanted = self.written.load(Ordering::SeqCst);
        let mut synced = self.synced.lock().await;
        if *synced >= wanted {
            return Ok(());
        }
        let covers = self.written.load(Ordering::SeqCst);
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || file.sync_data())
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        *synced = covers;
        Ok(())
    }

    fn key(&self, id: &ReferralId) -> Result<Zeroizing<[u8; 32]>, VaultError> {
        self.lock()
            .keys
            .get(id)
            .map(|s| s.key.clone())
            .ok_or(VaultError::Erased)
    }

    /// Encrypts `plain` for referral `id`: nonce (24 bytes) followed by the ciphertext.
    pub fn seal(&self, id: &ReferralId, plain: &[u8]) -> Result<Vec<u8>, VaultError> {
        let key = self.key(id)?;
        let cipher = XChaCha20Poly1305::new(key.as_ref().into());
        let nonce: [u8; 24] = rand::random();
        let ct = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: id.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Damaged)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypts what [`Vault::seal`] produced.
    pub fn open(&self, id: &ReferralId, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let key = self.key(id)?;
        if sealed.len() < 24 {
            return Err(VaultError::Damaged);
        }
        let cipher = XChaCha20Poly1305::new(key.as_ref().into());
        cipher
            .decrypt(
                XNonce::from_slice(&sealed[..24]),
                Payload {
                    msg: &sealed[24..],
                    aad: id.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Damaged)
    }

    /// Destroys the key: overwrites its slot with zeros and syncs before returning (and
    /// before the slot can be reused). Idempotent.
    pub fn destroy(&self, id: &ReferralId) -> Result<(), VaultError> {
        let mut slots = self.lock();
        let Some(slot) = slots.keys.get(id) else {
            return Ok(());
        };
        let index = slot.index;
        self.file.write_all_at(&[0u8; SLOT], index * SLOT as u64)?;
        self.file.sync_data()?;
        slots.keys.remove(id);
        slots.free.push(index);
        Ok(())
    }

    /// True if the key exists.
    pub fn has(&self, id: &ReferralId) -> bool {
        self.lock().keys.contains_key(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn seal_open_destroy_and_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("keys").join("case-keys");
        let vault = Vault::load(&path).unwrap();
        let id = ReferralId::random();
        vault.create(&id).unwrap();
        vault.sync().await.unwrap();
        let sealed = vault.seal(&id, b"Amina K.").unwrap();
        assert!(!sealed.windows(5).any(|w| w == b"Amina"));
        assert_eq!(vault.open(&id, &sealed).unwrap().as_slice(), b"Amina K.");
        // Bound to its referral.
        let other = ReferralId::random();
        vault.create(&other).unwrap();
        vault.sync().await.unwrap();
        assert!(matches!(
            vault.open(&other, &sealed),
            Err(VaultError::Damaged)
        ));
        // Keys survive a restart.
        let again = Vault::load(&path).unwrap();
        assert_eq!(again.open(&id, &sealed).unwrap().as_slice(), b"Amina K.");
        drop(again);

        let key = vault.key(&id).unwrap();
        vault.destroy(&id).unwrap();
        assert!(matches!(vault.open(&id, &sealed), Err(VaultError::Erased)));
        vault.destroy(&id).unwrap();
        // The key bytes are gone from the file, not only from memory.
        let file = std::fs::read(&path).unwrap();
        assert!(!file.windows(32).any(|w| w == key.as_ref()));
        let again = Vault::load(&path).unwrap();
        assert!(!again.has(&id));
        assert!(again.has(&other));
        // The erased slot is reused, the file does not grow.
        let third = ReferralId::random();
        again.create(&third).unwrap();
        again.sync().await.unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * SLOT as u64);
    }

    #[test]
    fn torn_and_damaged_slots_are_free() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("case-keys");
        let vault = Vault::load(&path).unwrap();
        let (a, b) = (ReferralId::random(), ReferralId::random());
        vault.create(&a).unwrap();
        vault.create(&b).unwrap();
        drop(vault);
        // A crash tore the second slot and left half a third one.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[SLOT + 20] ^= 0xff;
        bytes.extend_from_slice(&[7u8; 10]);
        std::fs::write(&path, &bytes).unwrap();
        let vault = Vault::load(&path).unwrap();
        assert!(vault.has(&a));
        assert!(!vault.has(&b));
        let c = ReferralId::random();
        vault.create(&c).unwrap();
        let d = ReferralId::random();
        vault.create(&d).unwrap();
        drop(vault);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 3 * SLOT as u64);
        let vault = Vault::load(&path).unwrap();
        assert!(vault.has(&a) && vault.has(&c) && vault.has(&d));
    }
}
