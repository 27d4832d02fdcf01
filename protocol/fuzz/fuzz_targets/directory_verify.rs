//! Fuzz target: directory and profile verification must never panic.
//!
//! Each input is tried three ways:
//! 1. as a codec-encoded `SignedDirectory` (how a snapshot arrives), verified against the
//!    fixed authority of the test vectors;
//! 2. as directory content correctly signed by that authority, so that the content decoder
//!    and every member's profile check run (a compromised authority could send this);
//! 3. as the bytes of a `SignedProfile`, which is decoded before its signature is checked.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use lotse_protocol::AuthorityKey;
use lotse_protocol::codec;
use lotse_protocol::directory::{DIRECTORY_DOMAIN, SignedDirectory, SignedProfile};
use lotse_protocol::keys::SignatureBytes;
use lotse_protocol::limits::MAX_DIRECTORY_BYTES;

static AUTHORITY: LazyLock<AuthorityKey> =
    LazyLock::new(|| AuthorityKey::from_secret_bytes([5; 32]));

fuzz_target!(|data: &[u8]| {
    let authority = &*AUTHORITY;
    let pinned = authority.public();

    if let Ok(signed) = codec::decode::<SignedDirectory>("directory", data, MAX_DIRECTORY_BYTES) {
        let _ = signed.verify(&pinned);
    }

    let signed = SignedDirectory {
        bytes: data.to_vec(),
        signature: SignatureBytes(authority.sign(DIRECTORY_DOMAIN, data)),
    };
    if let Ok(dir) = signed.verify(&pinned) {
        assert_eq!(dir.authority, pinned);
        for (id, member) in &dir.members {
            assert_eq!(*id, member.member.node_id);
            assert_eq!(*id, member.profile.node_id);
            assert_eq!(dir.is_active(id), !dir.revoked.contains(id));
        }
    }

    let _ = SignedProfile {
        bytes: data.to_vec(),
        signature: SignatureBytes([0; 64]),
    }
    .verify();
});
