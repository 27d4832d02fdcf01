//! Searching the directory's services: by words, field of action, language, age, area and
//! capacity. Used by the directory page and by the first step of a new referral.
//!
//! The directory holds no personal data, so the search runs over the node's current
//! verified snapshot in memory.

use lotse_node::core::Core;
use lotse_protocol::NodeId;
use lotse_protocol::client::FieldOfAction;
use lotse_protocol::directory::{AgencyKind, Capacity, Service};

use crate::forms::FormData;
use crate::labels;

/// What the user searches for (all optional).
#[derive(Debug, Clone, Default)]
pub(crate) struct ServiceQuery {
    /// Words in the agency's or service's name, description or target group.
    pub(crate) text: Option<String>,
    /// Field of action.
    pub(crate) field: Option<FieldOfAction>,
    /// A language offered.
    pub(crate) language: Option<String>,
    /// The client's age.
    pub(crate) age: Option<u8>,
    /// Words in the area served.
    pub(crate) area: Option<String>,
    /// Only services with places available (or a waiting list).
    pub(crate) capacity: Option<Capacity>,
}

impl ServiceQuery {
    /// Reads the query from a page's query string (`q`, `feld`, `sprache`, `alter`,
    /// `gebiet`, `kapazitaet`).
    pub(crate) fn from_form(f: &FormData) -> Self {
        ServiceQuery {
            text: f.get("q"),
            field: f.get("feld").and_then(|k| labels::field_from_key(&k)),
            language: f.get("sprache"),
            age: f.get("alter").and_then(|a| a.parse().ok()),
            area: f.get("gebiet"),
            capacity: match f.get("kapazitaet").as_deref() {
                Some("available") => Some(Capacity::Available),
                Some("waiting_list") => Some(Capacity::WaitingList),
                _ => None,
            },
        }
    }

    /// True if nothing is asked for.
    pub(crate) fn is_empty(&self) -> bool {
        self.text.is_none()
            && self.field.is_none()
            && self.language.is_none()
            && self.age.is_none()
            && self.area.is_none()
            && self.capacity.is_none()
    }
}

/// One agency with the services that match.
#[derive(Debug, Clone)]
pub(crate) struct AgencyHit {
    /// Node id.
    pub(crate) node_id: NodeId,
    /// Name.
    pub(crate) name: String,
    /// Kind.
    pub(crate) kind: AgencyKind,
    /// Matching services.
    pub(crate) services: Vec<Service>,
}

fn contains(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

fn matches(q: &ServiceQuery, agency: &str, s: &Service) -> bool {
    let text_ok = q.text.as_deref().is_none_or(|t| {
        t.split_whitespace().all(|word| {
            [agency, &s.name, &s.description, &s.target_group, &s.area]
                .iter()
                .any(|h| contains(h, word))
        })
    });
    let field_ok = q.field.is_none_or(|f| s.fields.contains(&f));
    let lang_ok = q
        .language
        .as_deref()
        .is_none_or(|l| s.languages.iter().any(|x| contains(x, l)));
    let age_ok = q.age.is_none_or(|a| {
        s.age_min.is_none_or(|min| a >= min) && s.age_max.is_none_or(|max| a <= max)
    });
    let area_ok = q.area.as_deref().is_none_or(|a| contains(&s.area, a));
    let cap_ok = match q.capacity {
        None => true,
        Some(Capacity::Available) => s.capacity == Capacity::Available,
        Some(_) => s.capacity != Capacity::Full,
    };
    text_ok && field_ok && lang_ok && age_ok && area_ok && cap_ok
}

/// The agencies (other than this node and the KI) with their matching services; agencies
/// without a matching service are left out unless the query is empty.
pub(crate) fn search(core: &Core, q: &ServiceQuery) -> Vec<AgencyHit> {
    let Some(dir) = core.directory.current() else {
        return Vec::new();
    };
    dir.active_members()
        .into_iter()
        .filter(|m| m.member.kind != AgencyKind::IntegrationCentre)
        .filter_map(|m| {
            let services: Vec<Service> = m
                .profile
                .services
                .iter()
                .filter(|s| matches(q, &m.member.name, s))
                .cloned()
                .collect();
            (q.is_empty() || !services.is_empty()).then(|| AgencyHit {
                node_id: m.member.node_id,
                name: m.member.name.clone(),
                kind: m.member.kind,
                services,
            })
        })
        .collect()
}

/// Every language any service offers, sorted (for the language filter).
pub(crate) fn languages(core: &Core) -> Vec<String> {
    let mut v: Vec<String> = core
        .directory
        .current()
        .map(|d| {
            d.active_members()
                .iter()
                .flat_map(|m| m.profile.services.iter())
                .flat_map(|s| s.languages.iter().cloned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> Service {
        Service {
            id: "wohnen".into(),
            name: "Wohnungssuche".into(),
            description: "Hilfe bei der Suche nach einer Wohnung".into(),
            fields: vec![FieldOfAction::Housing],
            target_group: "Erwachsene".into(),
            age_min: Some(27),
            age_max: None,
            languages: vec!["Deutsch".into(), "Arabisch".into()],
            area: "Musterstadt Nord".into(),
            contact: "0211 1".into(),
            opening_hours: "Mo–Fr".into(),
            capacity: Capacity::WaitingList,
        }
    }

    #[test]
    fn each_filter_narrows() {
        let s = service();
        let q = |f: fn(&mut ServiceQuery)| {
            let mut q = ServiceQuery::default();
            f(&mut q);
            matches(&q, "MBE Caritas", &s)
        };
        assert!(q(|_| {}));
        assert!(q(|q| q.text = Some("caritas wohnung".into())));
        assert!(!q(|q| q.text = Some("schule".into())));
        assert!(q(|q| q.field = Some(FieldOfAction::Housing)));
        assert!(!q(|q| q.field = Some(FieldOfAction::Work)));
        assert!(q(|q| q.language = Some("arab".into())));
        assert!(!q(|q| q.language = Some("Farsi".into())));
        assert!(q(|q| q.age = Some(30)));
        assert!(!q(|q| q.age = Some(19)));
        assert!(q(|q| q.area = Some("nord".into())));
        assert!(!q(|q| q.capacity = Some(Capacity::Available)));
        assert!(q(|q| q.capacity = Some(Capacity::WaitingList)));
    }
}
