//! Case data at rest: encrypted with a key per referral, and erased by destroying the key.
//!
//! The keys live outside the store, in one file of fixed 64-byte slots (`keys/case-keys`,
//! mode 0600): a 32-byte key and a 16-byte check (SHA-256 over a label, the slot's index and
//! the key) that tells a written slot from a zeroed or torn one. Which referral owns which
//! slot is a row in the store (`case_keys`: referral id → slot index), committed in the
//! same atomic batch as the referral's first rows. Case content (client data, consent,
//! notes, slots) is only ever written to the store as XChaCha20-Poly1305 ciphertext under
//! its referral's key, with the referral id as associated data so ciphertexts cannot be
//! moved between referrals.
//!
//! Keys are handed out from a pool of slots that were written and synced ahead, many with
//! one `fdatasync`: a key is durable before any row that needs it can be committed, and
//! creating a referral costs no sync of its own. At start, every written slot that no
//! stored row claims (the pool, or a key whose referral never committed) is zeroed, so a
//! key is never used for two referrals.
//!
//! Erasure overwrites the slot with zeros in place and syncs the file; the slot is never
//! reused, and its row stays to say the key was destroyed. Old copies of the ciphertext
//! that the log-structured store may still hold in its segments become unreadable, which
//! deleting rows alone would not achieve. The keys are kept in memory while the node runs,
//! so sealing and opening read no file.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use lotse_protocol::ReferralId;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::store::{Batch, Space, Store, StoreError};

/// Bytes per slot: key (32), check (16), reserved (16, zero).
const SLOT: usize = 64;
/// Keys written and synced at once when the pool runs dry.
const POOL_REFILL: usize = 1024;
/// Below this many pool keys, a refill starts in the background, so that creating a
/// referral seldom waits for a sync.
const POOL_LOW: usize = 256;
/// Domain separation of the slot check.
const CHECK_LABEL: &[u8] = b"lotse/case-key/v2\0";

/// A vault failure.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The key is gone: the case data was erased.
    #[error("the case data of this referral was erased")]
    Erased,
    /// File system error.
    #[error("case key storage: {0}")]
    Io(#[from] std::io::Error),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Decryption failed (damaged data).
    #[error("case data is damaged and cannot be decrypted")]
    Damaged,
}

/// A key in memory, and its slot.
struct Slot {
    index: u64,
    key: Zeroizing<[u8; 32]>,
}

#[derive(Default)]
struct Slots {
    keys: HashMap<ReferralId, Slot>,
    /// Written and synced, not yet handed out.
    pool: Vec<Slot>,
    /// A background refill is under way.
    refilling: bool,
    /// The thread of the last background refill.
    refill_thread: Option<std::thread::JoinHandle<()>>,
    /// Slots in the file.
    len: u64,
}

/// The per-referral keys of one node. Cloning shares the same vault.
#[derive(Clone)]
pub struct Vault {
    file: Arc<File>,
    slots: Arc<Mutex<Slots>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys.
        f.debug_struct("Vault")
            .field("keys", &self.lock().keys.len())
            .finish_non_exhaustive()
    }
}

fn check(index: u64, key: &[u8]) -> [u8; 16] {
    let digest = Sha256::new()
        .chain_update(CHECK_LABEL)
        .chain_update(index.to_be_bytes())
        .chain_update(key)
        .finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// The key in a slot's bytes, if the slot holds a valid one.
fn parse(index: u64, raw: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
    if raw.len() != SLOT || raw[32..48] != check(index, &raw[..32]) {
        return None;
    }
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&raw[..32]);
    Some(key)
}

impl Vault {
    /// Opens (or creates) the key file at `path`, takes the keys that rows in `store`
    /// claim, and zeroes every other written slot.
    pub fn load(path: &Path, store: &dyn Store) -> Result<Self, VaultError> {
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
        let mut slots = Slots {
            // A torn tail (a crash while the pool grew) is overwritten by the next refill.
            len: (bytes.len() / SLOT) as u64,
            ..Slots::default()
        };
        let slot_bytes = |index: u64| {
            let at = index as usize * SLOT;
            bytes.get(at..at + SLOT).unwrap_or_default()
        };
        let mut claimed = HashSet::new();
        for (id, value) in store.scan(Space::CaseKeys, b"", usize::MAX)? {
            let (Ok(id), Ok(index)) = (
                <[u8; 16]>::try_from(id.as_slice()).map(ReferralId),
                <[u8; 8]>::try_from(value.as_slice()).map(u64::from_be_bytes),
            ) else {
                continue;
            };
            claimed.insert(index);
            // A zeroed slot: the key was destroyed (the referral was erased).
            if let Some(key) = parse(index, slot_bytes(index)) {
                slots.keys.insert(id, Slot { index, key });
            }
        }
        let vault = Self {
            file: Arc::new(file),
            slots: Arc::new(Mutex::new(slots)),
        };
        let mut zeroed = false;
        for index in 0..vault.lock().len {
            if !claimed.contains(&index) && slot_bytes(index).iter().any(|b| *b != 0) {
                vault.file.write_all_at(&[0u8; SLOT], index * SLOT as u64)?;
                zeroed = true;
            }
        }
        if zeroed {
            vault.file.sync_data()?;
        }
        Ok(vault)
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes and syncs `POOL_REFILL` new keys into the slots from `first` on (reserved by
    /// the caller); returns them, lowest index last.
    fn write_keys(file: &File, first: u64) -> Result<Vec<Slot>, VaultError> {
        let mut raw = Zeroizing::new(vec![0u8; POOL_REFILL * SLOT]);
        let mut fresh = Vec::with_capacity(POOL_REFILL);
        for (i, chunk) in raw.chunks_mut(SLOT).enumerate() {
            let index = first + i as u64;
            let key = Zeroizing::new(rand::random::<[u8; 32]>());
            chunk[..32].copy_from_slice(key.as_ref());
            chunk[32..48].copy_from_slice(&check(index, key.as_ref()));
            fresh.push(Slot { index, key });
        }
        file.write_all_at(&raw, first * SLOT as u64)?;
        file.sync_data()?;
        // Handed out lowest first.
        fresh.reverse();
        Ok(fresh)
    }

    /// Reserves the next `POOL_REFILL` slots.
    fn reserve(slots: &mut Slots) -> u64 {
        let first = slots.len;
        slots.len += POOL_REFILL as u64;
        first
    }

    /// Starts a refill on its own thread (the sync takes a while) unless one runs.
    fn refill_in_background(&self, slots: &mut Slots) {
        if slots.refilling {
            return;
        }
        slots.refilling = true;
        let first = Self::reserve(slots);
        let vault = self.clone();
        slots.refill_thread = Some(std::thread::spawn(move || {
            let written = Self::write_keys(&vault.file, first);
            let mut slots = vault.lock();
            slots.refilling = false;
            match written {
                // Below the keys still in the pool, which go first.
                Ok(fresh) => {
                    slots.pool.splice(0..0, fresh);
                }
                // The next one tries again; unused written slots are zeroed at start.
                Err(e) => tracing::error!(error = %e, "could not write case keys ahead"),
            }
        }));
    }

    /// Waits for a background refill to finish (before the node's files are handed to a
    /// new process or a new `Vault`).
    pub fn wait_for_refill(&self) {
        let thread = self.lock().refill_thread.take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    /// Gives referral `id` its key (idempotent) and adds the row that claims it to `batch`:
    /// the key belongs to the referral once `batch` is committed. The key itself is
    /// already durable.
    pub fn create(&self, id: &ReferralId, batch: &mut Batch) -> Result<(), VaultError> {
        let mut slots = self.lock();
        let index = match slots.keys.get(id) {
            Some(slot) => slot.index,
            None => {
                if slots.pool.is_empty() {
                    // Nothing ahead: write keys now, while the caller waits.
                    let first = Self::reserve(&mut slots);
                    let fresh = Self::write_keys(&self.file, first)?;
                    slots.pool.extend(fresh);
                }
                let slot = slots.pool.pop().ok_or(VaultError::Damaged)?;
                if slots.pool.len() < POOL_LOW {
                    self.refill_in_background(&mut slots);
                }
                let index = slot.index;
                slots.keys.insert(*id, slot);
                index
            }
        };
        batch.put(Space::CaseKeys, id.0.to_vec(), index.to_be_bytes().to_vec());
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

    /// Destroys the key: overwrites its slot with zeros and syncs before returning.
    /// Idempotent.
    pub fn destroy(&self, id: &ReferralId) -> Result<(), VaultError> {
        let mut slots = self.lock();
        let Some(slot) = slots.keys.get(id) else {
            return Ok(());
        };
        self.file
            .write_all_at(&[0u8; SLOT], slot.index * SLOT as u64)?;
        self.file.sync_data()?;
        slots.keys.remove(id);
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
    use crate::store::SledStore;

    fn key_bytes(vault: &Vault, id: &ReferralId) -> Vec<u8> {
        vault.key(id).unwrap().to_vec()
    }

    #[tokio::test]
    async fn keys_belong_to_referrals_once_committed_and_erasure_destroys_them() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("keys").join("case-keys");
        let store = SledStore::open(&tmp.path().join("store")).unwrap();
        let vault = Vault::load(&path, &store).unwrap();
        let (id, other, lost) = (
            ReferralId::random(),
            ReferralId::random(),
            ReferralId::random(),
        );
        let mut batch = Batch::new();
        vault.create(&id, &mut batch).unwrap();
        vault.create(&other, &mut batch).unwrap();
        // Idempotent: the same key again.
        let first = key_bytes(&vault, &id);
        vault.create(&id, &mut batch).unwrap();
        assert_eq!(key_bytes(&vault, &id), first);
        store.commit(batch).unwrap();
        store.flush().await.unwrap();
        // A referral whose rows never committed: its key must not survive a restart.
        vault.create(&lost, &mut Batch::new()).unwrap();
        let lost_key = key_bytes(&vault, &lost);

        let sealed = vault.seal(&id, b"Amina K.").unwrap();
        assert!(!sealed.windows(5).any(|w| w == b"Amina"));
        assert_eq!(vault.open(&id, &sealed).unwrap().as_slice(), b"Amina K.");
        // Bound to its referral.
        assert!(matches!(
            vault.open(&other, &sealed),
            Err(VaultError::Damaged)
        ));

        vault.destroy(&id).unwrap();
        assert!(matches!(vault.open(&id, &sealed), Err(VaultError::Erased)));
        vault.destroy(&id).unwrap();
        drop(vault);

        let again = Vault::load(&path, &store).unwrap();
        assert!(!again.has(&id), "an erased key came back");
        assert!(again.has(&other));
        assert!(!again.has(&lost));
        // Neither the erased key nor the unclaimed ones are left in the file.
        let file = std::fs::read(&path).unwrap();
        for gone in [&first, &lost_key] {
            assert!(!file.windows(32).any(|w| w == gone.as_slice()));
        }
        let written = file.chunks(SLOT).filter(|s| s.iter().any(|b| *b != 0));
        assert_eq!(written.count(), 1, "only the claimed key stays");
        // New keys come from new slots, never from the erased one.
        let third = ReferralId::random();
        let mut batch = Batch::new();
        again.create(&third, &mut batch).unwrap();
        assert_ne!(key_bytes(&again, &third), key_bytes(&again, &other));
    }

    #[test]
    fn keys_across_background_refills_are_distinct_and_survive_a_restart() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("case-keys");
        let store = SledStore::open(&tmp.path().join("store")).unwrap();
        let vault = Vault::load(&path, &store).unwrap();
        let ids: Vec<ReferralId> = (0..3 * POOL_REFILL).map(|_| ReferralId::random()).collect();
        let mut batch = Batch::new();
        for id in &ids {
            vault.create(id, &mut batch).unwrap();
        }
        store.commit(batch).unwrap();
        let keys: Vec<Vec<u8>> = ids.iter().map(|id| key_bytes(&vault, id)).collect();
        let distinct: HashSet<&Vec<u8>> = keys.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "a key was handed out twice");
        vault.wait_for_refill();
        drop(vault);
        let again = Vault::load(&path, &store).unwrap();
        for (id, key) in ids.iter().zip(&keys) {
            assert_eq!(&key_bytes(&again, id), key);
        }
    }

    #[test]
    fn damaged_slots_and_torn_tails_hold_no_key() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("case-keys");
        let store = SledStore::open(&tmp.path().join("store")).unwrap();
        let vault = Vault::load(&path, &store).unwrap();
        let (a, b) = (ReferralId::random(), ReferralId::random());
        let mut batch = Batch::new();
        vault.create(&a, &mut batch).unwrap();
        vault.create(&b, &mut batch).unwrap();
        store.commit(batch).unwrap();
        let a_key = key_bytes(&vault, &a);
        drop(vault);
        // The second slot damaged, and half a slot after the end.
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes
            .windows(32)
            .position(|w| w == a_key.as_slice())
            .unwrap();
        let b_at = if at == 0 { SLOT } else { 0 };
        bytes[b_at + 3] ^= 0xff;
        bytes.extend_from_slice(&[7u8; 10]);
        std::fs::write(&path, &bytes).unwrap();
        let vault = Vault::load(&path, &store).unwrap();
        assert!(vault.has(&a));
        assert!(!vault.has(&b));
        let c = ReferralId::random();
        vault.create(&c, &mut Batch::new()).unwrap();
        assert!(vault.has(&c));
    }
}
