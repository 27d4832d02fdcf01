//! Stable HSDS ids: UUIDs derived from what Lotse already identifies things by.
//!
//! HSDS wants a UUID for every object; Lotse names a member by its node id and a service
//! by the agency's own service id. [`HsdsId::derive`] turns such a name into a UUID version
//! 8 as RFC 9562 (appendix B.2) shows for name-based ids with SHA-256: the first 16 bytes of
//! `SHA-256(namespace || name)` with the version and variant bits set. The same name gives
//! the same id on every node and after every restart, so a consumer of the feed can follow
//! a service over time, and two ids never collide unless their names are equal. The names
//! are written down in `docs/hsds.md`; [`names`] is the one place that builds them.

use sha2::{Digest, Sha256};

/// Lotse's namespace for HSDS ids (a random UUID chosen once; never change it, or every id
/// in every feed changes).
pub const NAMESPACE: HsdsId = HsdsId([
    0xde, 0x77, 0x2e, 0xd9, 0xd7, 0x3b, 0x43, 0x8e, 0x83, 0x24, 0x3e, 0xc6, 0x97, 0xe3, 0x12, 0x2a,
]);

/// A UUID as HSDS uses it for ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HsdsId(pub [u8; 16]);

impl HsdsId {
    /// The version 8 UUID of `name` in `namespace` (RFC 9562, B.2, SHA-256).
    pub fn derive(namespace: HsdsId, name: &str) -> HsdsId {
        let digest = Sha256::new()
            .chain_update(namespace.0)
            .chain_update(name.as_bytes())
            .finalize();
        let mut b = [0u8; 16];
        b.copy_from_slice(&digest[..16]);
        b[6] = (b[6] & 0x0f) | 0x80; // version 8
        b[8] = (b[8] & 0x3f) | 0x80; // variant 10 (RFC 9562)
        HsdsId(b)
    }

    /// The id of `name` in Lotse's namespace.
    pub fn lotse(name: &str) -> HsdsId {
        Self::derive(NAMESPACE, name)
    }
}

impl std::fmt::Display for HsdsId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// Text that is not a UUID in the 8-4-4-4-12 hex form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a UUID (expected 32 hex digits as 8-4-4-4-12, e.g. 0d8e3c1a-5b7f-8a21-9c3d-4e5f60718293)"
)]
pub struct NotAUuid(pub String);

impl std::str::FromStr for HsdsId {
    type Err = NotAUuid;

    fn from_str(s: &str) -> Result<Self, NotAUuid> {
        let bad = || NotAUuid(s.chars().take(80).collect());
        let t = s.trim();
        let groups: Vec<&str> = t.split('-').collect();
        if groups.iter().map(|g| g.len()).collect::<Vec<_>>() != [8, 4, 4, 4, 12] {
            return Err(bad());
        }
        let hex: String = groups.concat();
        let mut b = [0u8; 16];
        for (i, out) in b.iter_mut().enumerate() {
            *out = u8::from_str_radix(hex.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16)
                .map_err(|_| bad())?;
        }
        Ok(HsdsId(b))
    }
}

/// The names ids are derived from: one function per kind of object.
pub mod names {
    use lotse_protocol::NodeId;

    use super::HsdsId;

    /// An agency (HSDS `organization`): `organization/<node id>`.
    pub fn organization(node: &NodeId) -> HsdsId {
        HsdsId::lotse(&format!("organization/{node}"))
    }

    /// A service: `service/<node id>/<service id>`.
    pub fn service(node: &NodeId, service: &str) -> HsdsId {
        HsdsId::lotse(&format!("service/{node}/{service}"))
    }

    /// A part of a service (its languages, schedules, ...):
    /// `service/<node id>/<service id>/<kind>/<key>`.
    pub fn service_part(node: &NodeId, service: &str, kind: &str, key: &str) -> HsdsId {
        HsdsId::lotse(&format!("service/{node}/{service}/{kind}/{key}"))
    }

    /// A taxonomy: `taxonomy/<key>`.
    pub fn taxonomy(key: &str) -> HsdsId {
        HsdsId::lotse(&format!("taxonomy/{key}"))
    }

    /// A taxonomy term: `taxonomy-term/<taxonomy key>/<term key>`.
    pub fn taxonomy_term(taxonomy: &str, term: &str) -> HsdsId {
        HsdsId::lotse(&format!("taxonomy-term/{taxonomy}/{term}"))
    }

    /// The unit of Lotse's capacity status: `unit/capacity-status`.
    pub fn capacity_unit() -> HsdsId {
        HsdsId::lotse("unit/capacity-status")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_version_8_uuids() {
        let a = HsdsId::lotse("service/x/beratung");
        assert_eq!(a, HsdsId::lotse("service/x/beratung"));
        assert_ne!(a, HsdsId::lotse("service/x/beratung2"));
        let text = a.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "8", "version nibble: {text}");
        assert!(
            matches!(&text[19..20], "8" | "9" | "a" | "b"),
            "variant: {text}"
        );
        assert_eq!(text.parse::<HsdsId>().unwrap(), a);
        // Computed independently (Python's hashlib and uuid), so a change of the derivation,
        // which would change every id in every feed, fails here first.
        assert_eq!(
            HsdsId::lotse("taxonomy/fields-of-action").to_string(),
            "5e19678e-81b7-8fd8-b2ea-a2cb47feee02"
        );
    }

    #[test]
    fn malformed_uuids_are_refused() {
        for bad in [
            "",
            "abc",
            "de772ed9d73b438e83243ec697e3122a",
            "de772ed9-d73b-438e-8324-3ec697e3122g",
        ] {
            assert!(bad.parse::<HsdsId>().is_err(), "{bad}");
        }
        assert_eq!(
            "DE772ED9-D73B-438E-8324-3EC697E3122A"
                .parse::<HsdsId>()
                .unwrap(),
            NAMESPACE
        );
    }
}
