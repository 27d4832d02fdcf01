//! Helpers for `tests/tests/hostile_peers.rs`: profiles of a given encoded size (the largest
//! one a member may publish, and the oversized ones of issue 14's attacks) and hand-made
//! join requests.

use lotse_node::core::Core;
use lotse_protocol::directory::{AgencyProfile, Capacity, Service};
use lotse_protocol::envelope::{self, Address};
use lotse_protocol::invitation::Invitation;
use lotse_protocol::payload::{JoinRequest, Payload};
use lotse_protocol::{MessageId, NodeKey, codec, limits};

/// A service numbered `id` with `description` and every other text empty.
pub fn service(id: usize, description: String) -> Service {
    Service {
        id: format!("dienst-{id}"),
        name: format!("Dienst {id}"),
        description,
        fields: vec![],
        target_group: String::new(),
        age_min: None,
        age_max: None,
        languages: vec![],
        area: String::new(),
        contact: String::new(),
        opening_hours: String::new(),
        capacity: Capacity::Available,
    }
}

/// `core`'s own profile (its listed addresses) with `services`, updated now.
pub fn profile(core: &Core, services: Vec<Service>) -> AgencyProfile {
    AgencyProfile {
        node_id: core.id,
        encryption: core.encryption.recipient(),
        addresses: core
            .directory
            .member(&core.id)
            .expect("a member of the network")
            .profile
            .addresses,
        services,
        updated_at: core.clock.now(),
    }
}

/// Services whose profile encodes to exactly `size` bytes (descriptions of up to 4 KiB).
pub fn services_of_size(core: &Core, size: usize) -> Vec<Service> {
    let mut services: Vec<Service> = (0..3)
        .map(|i| service(i, "x".repeat(limits::MAX_SERVICE_DESCRIPTION_BYTES)))
        .collect();
    loop {
        let now = codec::encode(&profile(core, services.clone())).len();
        if now == size {
            return services;
        }
        let last = services.last_mut().expect("three services");
        let want = (last.description.len() + size)
            .checked_sub(now)
            .expect("the size fits three services");
        last.description = "x".repeat(want);
    }
}

/// The `slot`-th text of 64 services × 5 texts.
pub fn text(p: &mut AgencyProfile, slot: usize) -> &mut String {
    let s = &mut p.services[slot / 5];
    match slot % 5 {
        0 => &mut s.description,
        1 => &mut s.target_group,
        2 => &mut s.area,
        3 => &mut s.contact,
        _ => &mut s.opening_hours,
    }
}

/// `p` with 64 services whose texts (each under 16 KiB, as the bounds before issue 14
/// allowed) make it exactly `size` bytes long: the attacker's profile.
pub fn fill_to(mut p: AgencyProfile, size: usize) -> AgencyProfile {
    p.services = (0..64).map(|i| service(i, String::new())).collect();
    let base = codec::encode(&p).len();
    let full = (size - base) / 15_001;
    for slot in 0..full {
        *text(&mut p, slot) = "y".repeat(15_000);
    }
    let mut slot = full;
    loop {
        let now = codec::encode(&p).len();
        if now == size {
            return p;
        }
        let t = text(&mut p, slot);
        if now < size {
            let add = (size - now).min(15_000 - t.len());
            t.push_str(&"y".repeat(add));
        } else {
            // The length's varint grew by a byte: take it back and go on in the next text.
            t.truncate(t.len() - (now - size));
        }
        if t.len() == 15_000 || now > size {
            slot += 1;
        }
    }
}

/// Seals a join request with `invitation`'s secret and the stranger's `profile`.
pub fn join_request(key: &NodeKey, invitation: &Invitation, profile: AgencyProfile) -> Vec<u8> {
    envelope::seal(
        key,
        Address {
            message_id: MessageId::random(),
            recipient: invitation.ki_node,
            created_at: profile.updated_at,
            referral_id: None,
            sequence: 0,
        },
        &invitation.ki_encryption,
        &Payload::JoinRequest(JoinRequest {
            secret: invitation.secret,
            profile: profile.sign(key),
        }),
    )
    .expect("seal the join request")
}
