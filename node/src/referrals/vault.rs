//! Case data at rest: encrypted with a key per referral, and erased by destroying the key.
//!
//! Each referral's key is a 32-byte file `keys/case/<referral id>` (mode 0600), separate
//! from the store. Case content (client data, consent, notes, slots) is only ever written to
//! the store as ChaCha20-Poly1305 ciphertext under that key, with the referral id as
//! associated data so ciphertexts cannot be moved between referrals. Erasure overwrites the
//! key file with zeros, syncs it, and unlinks it: old copies of the ciphertext that the
//! log-structured store may still hold in its segments become unreadable, which deleting
//! rows alone would not achieve.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use lotse_protocol::ReferralId;
use zeroize::Zeroizing;

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

/// The per-referral keys of one node.
#[derive(Debug, Clone)]
pub struct Vault {
    dir: PathBuf,
}

impl Vault {
    /// The vault in `dir` (created on first use).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn path(&self, id: &ReferralId) -> PathBuf {
        self.dir.join(id.to_string())
    }

    /// Creates the key for a new referral (durably). Idempotent.
    pub fn create(&self, id: &ReferralId) -> Result<(), VaultError> {
        if self.path(id).exists() {
            return Ok(());
        }
        fs::create_dir_all(&self.dir)?;
        let key = Zeroizing::new(rand::random::<[u8; 32]>());
        let tmp = self.dir.join(format!("{id}.tmp"));
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(key.as_ref())?;
        f.sync_all()?;
        fs::rename(&tmp, self.path(id))?;
        fs::File::open(&self.dir)?.sync_all()?;
        Ok(())
    }

    fn key(&self, id: &ReferralId) -> Result<Zeroizing<[u8; 32]>, VaultError> {
        let bytes = match fs::read(self.path(id)) {
            Ok(b) => Zeroizing::new(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(VaultError::Erased),
            Err(e) => return Err(e.into()),
        };
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| VaultError::Damaged)?;
        Ok(Zeroizing::new(key))
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

    /// Destroys the key: overwrite, sync, unlink. Idempotent.
    pub fn destroy(&self, id: &ReferralId) -> Result<(), VaultError> {
        let path = self.path(id);
        match OpenOptions::new().write(true).open(&path) {
            Ok(mut f) => {
                f.write_all(&[0u8; 32])?;
                f.sync_all()?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        fs::remove_file(&path)?;
        if let Ok(d) = fs::File::open(&self.dir) {
            d.sync_all()?;
        }
        Ok(())
    }

    /// True if the key exists.
    pub fn has(&self, id: &ReferralId) -> bool {
        self.path(id).exists()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_destroy() {
        let tmp = tempfile::tempdir().unwrap();
        let vault = Vault::new(tmp.path().join("case"));
        let id = ReferralId::random();
        vault.create(&id).unwrap();
        let sealed = vault.seal(&id, b"Amina K.").unwrap();
        assert!(!sealed.windows(5).any(|w| w == b"Amina"));
        assert_eq!(vault.open(&id, &sealed).unwrap().as_slice(), b"Amina K.");
        // Bound to its referral.
        let other = ReferralId::random();
        vault.create(&other).unwrap();
        assert!(matches!(
            vault.open(&other, &sealed),
            Err(VaultError::Damaged)
        ));
        vault.destroy(&id).unwrap();
        assert!(matches!(vault.open(&id, &sealed), Err(VaultError::Erased)));
        vault.destroy(&id).unwrap();
    }
}
