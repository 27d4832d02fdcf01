//! Fuzz target: `Invitation::from_token` must never panic, and what it accepts must survive
//! `to_token`.
//!
//! Each input is tried as token text (when it is UTF-8) and as the decoded body of a token
//! (base64-encoded behind the `lotse-invite-1.` prefix), so the decoder behind the base64 is
//! reached too.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lotse_protocol::invitation::Invitation;

fn check(text: &str) {
    if let Ok(invitation) = Invitation::from_token(text) {
        assert!(!invitation.ki_addresses.is_empty());
        let again = Invitation::from_token(&invitation.to_token());
        assert_eq!(again, Ok(invitation), "an accepted token must round-trip");
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
    let body = data_encoding::BASE64URL_NOPAD.encode(data);
    check(&format!("lotse-invite-1.{body}"));
});
