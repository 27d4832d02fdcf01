//! Fuzz target: the JSON bodies the API decodes from strangers must never panic, whatever
//! bytes arrive: a new referral (and its validation: client data bounds, consent), an
//! action on a referral, and the sign-in body.
//!
//! The first byte picks the body type; the rest is the JSON text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lotse_node::http::session::LoginRequest;
use lotse_node::referrals::{Action, NewReferral};
use lotse_protocol::Timestamp;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, json)) = data.split_first() else {
        return;
    };
    match selector % 3 {
        0 => {
            if let Ok(new) = serde_json::from_slice::<NewReferral>(json) {
                let _ = new.client.validate();
                if let Some(consent) = &new.consent {
                    let today = Timestamp(1_800_000_000_000).date();
                    let _ = consent.validate(&new.recipient, today, &new.client);
                }
                if let Some(h) = &new.handover {
                    let _ = h.validate();
                }
            }
        }
        1 => {
            if let Ok(action) = serde_json::from_slice::<Action>(json) {
                let text = serde_json::to_vec(&action).expect("an action serialises");
                let again: Action = serde_json::from_slice(&text).expect("and parses again");
                assert_eq!(again, action);
            }
        }
        _ => {
            let _ = serde_json::from_slice::<LoginRequest>(json);
        }
    }
});
