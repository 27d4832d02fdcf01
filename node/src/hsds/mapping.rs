//! Lotse's directory as HSDS objects: one agency is an `organization`, each of its services
//! a `service` with its languages, schedules, area, contact, fields of action and capacity.
//!
//! Only what the signed directory holds goes out: names, services and what agencies
//! published about them. Nothing about referrals, users or keys; not even the nodes'
//! network addresses. The table of which Lotse field becomes which HSDS field is in
//! `docs/hsds.md`; this file is its implementation, and the tests in
//! `tests/tests/hsds.rs` check its output against Open Referral's schemas.

use lotse_protocol::directory::{Capacity, Directory, Service as LotseService, VerifiedMember};

use super::ids::{HsdsId, names};
use super::model::{
    Attribute, Contact, Language, Organization, Phone, Schedule, Service, ServiceArea,
    ServiceCapacity, TaxonomyTerm, Unit,
};
use super::taxonomy::{Taxonomy, Term};
use super::{languages, schedule};

/// The `link_type` of the attributes that carry a service's fields of action.
pub const FIELD_LINK_TYPE: &str = "field_of_action";

/// The `link_type` of the attribute that carries the agency's own service id (its `value`),
/// so an export imports back under the same ids. It links no taxonomy term.
pub const SERVICE_ID_LINK_TYPE: &str = "lotse_service_id";

/// How much of a service to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// One-to-one fields and the organization (list items).
    Flat,
    /// Everything, with the nested objects.
    Full,
}

/// One service of one member, with what the mapping needs around it.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// The agency.
    pub member: &'a VerifiedMember,
    /// The service.
    pub service: &'a LotseService,
}

impl Entry<'_> {
    /// The service's HSDS id.
    pub fn id(&self) -> HsdsId {
        names::service(&self.member.member.node_id, &self.service.id)
    }
}

/// Every service of every active member, in the directory's order (agency name, then the
/// agency's own order).
pub fn entries(directory: &Directory) -> Vec<Entry<'_>> {
    directory
        .active_members()
        .into_iter()
        .flat_map(|member| {
            member
                .profile
                .services
                .iter()
                .map(move |service| Entry { member, service })
        })
        .collect()
}

/// The agency as an HSDS `organization` (without its services).
pub fn organization(member: &VerifiedMember) -> Organization {
    Organization {
        id: names::organization(&member.member.node_id).to_string(),
        name: member.member.name.clone(),
        description: format!(
            "{}, Mitglied im Lotse-Netz seit {}",
            member.member.kind.label_de(),
            member.member.admitted_at.date()
        ),
        ..Organization::default()
    }
}

/// A service as HSDS `service`.
pub fn service(entry: Entry<'_>, taxonomy: &Taxonomy, depth: Depth) -> Service {
    let node = &entry.member.member.node_id;
    let s = entry.service;
    let id = entry.id().to_string();
    let mut out = Service {
        id: id.clone(),
        organization_id: Some(names::organization(node).to_string()),
        name: s.name.clone(),
        description: non_empty(&s.description),
        status: "active".into(),
        eligibility_description: non_empty(&s.target_group),
        minimum_age: s.age_min.map(f64::from),
        maximum_age: s.age_max.map(f64::from),
        last_modified: Some(entry.member.profile.updated_at.to_rfc3339()),
        organization: Some(Box::new(organization(entry.member))),
        ..Service::default()
    };
    if depth == Depth::Flat {
        return out;
    }
    let part = |kind: &str, key: &str| names::service_part(node, &s.id, kind, key).to_string();
    out.languages = s
        .languages
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| Language {
            id: part("language", l.trim()),
            service_id: Some(id.clone()),
            name: Some(languages::display_name(l)),
            code: languages::code_of(l).map(str::to_string),
        })
        .collect();
    out.schedules = schedules(&s.opening_hours, &id, |i| part("schedule", &i.to_string()));
    if let Some(area) = non_empty(&s.area) {
        out.service_areas = vec![ServiceArea {
            id: part("service-area", "0"),
            service_id: Some(id.clone()),
            name: Some(area),
            description: None,
        }];
    }
    if let Some(text) = non_empty(&s.contact) {
        out.contacts = vec![Contact {
            id: part("contact", "0"),
            service_id: Some(id.clone()),
            email: email_in(&text),
            phones: phones_in(&text)
                .into_iter()
                .enumerate()
                .map(|(i, number)| Phone {
                    id: part("phone", &i.to_string()),
                    number,
                })
                .collect(),
            name: Some(text),
            ..Contact::default()
        }];
    }
    out.attributes = s
        .fields
        .iter()
        .filter_map(|f| taxonomy.term_of(*f))
        .map(|term| Attribute {
            id: part("attribute", &term.key),
            link_id: Some(id.clone()),
            link_type: Some(FIELD_LINK_TYPE.into()),
            link_entity: Some("service".into()),
            taxonomy_term_id: Some(term.id.to_string()),
            value: None,
            taxonomy_term: Some(taxonomy_term(taxonomy, term)),
        })
        .collect();
    out.attributes.push(Attribute {
        id: part("attribute", SERVICE_ID_LINK_TYPE),
        link_id: Some(id.clone()),
        link_type: Some(SERVICE_ID_LINK_TYPE.into()),
        link_entity: Some("service".into()),
        value: Some(s.id.clone()),
        ..Attribute::default()
    });
    out.capacities = vec![capacity(
        s.capacity,
        &id,
        part("capacity", "0"),
        &out.last_modified,
    )];
    out
}

/// Opening hours as schedules: structured where [`schedule::parse`] accepts the text, and
/// always with the text itself as `description`.
fn schedules(text: &str, service_id: &str, id: impl Fn(usize) -> String) -> Vec<Schedule> {
    let Some(text) = non_empty(text) else {
        return Vec::new();
    };
    match schedule::parse(&text) {
        Some(openings) => openings
            .iter()
            .enumerate()
            .map(|(i, o)| Schedule {
                id: id(i),
                service_id: Some(service_id.to_string()),
                freq: Some("WEEKLY".into()),
                byday: Some(o.byday()),
                opens_at: Some(o.opens_at()),
                closes_at: Some(o.closes_at()),
                description: Some(text.clone()),
                ..Schedule::default()
            })
            .collect(),
        None => vec![Schedule {
            id: id(0),
            service_id: Some(service_id.to_string()),
            description: Some(text),
            ..Schedule::default()
        }],
    }
}

/// The German words for Lotse's capacity states, as `service_capacity.description`.
pub const CAPACITY_TEXT: [(Capacity, &str); 3] = [
    (Capacity::Available, "freie Plätze"),
    (Capacity::WaitingList, "Warteliste"),
    (Capacity::Full, "keine freien Plätze"),
];

/// The unit of Lotse's capacity: a status, not a count.
pub fn capacity_unit() -> Unit {
    Unit {
        id: names::capacity_unit().to_string(),
        name: "Platzstatus (1: freie Plätze, 0: Warteliste oder voll)".into(),
        scheme: Some("lotse".into()),
        identifier: Some("capacity-status".into()),
    }
}

/// Capacity as HSDS 3.1 `service_capacity`: Lotse knows whether places are free, not how
/// many, so `available` is 1 for "places free" and 0 otherwise, and the description says
/// which state it is (the profile in `docs/hsds.md` explains this).
fn capacity(
    c: Capacity,
    service_id: &str,
    id: String,
    updated: &Option<String>,
) -> ServiceCapacity {
    let text = CAPACITY_TEXT
        .iter()
        .find(|(k, _)| *k == c)
        .map(|(_, t)| (*t).to_string());
    ServiceCapacity {
        id,
        service_id: Some(service_id.to_string()),
        unit: Some(capacity_unit()),
        available: Some(if c == Capacity::Available { 1.0 } else { 0.0 }),
        maximum: None,
        description: text,
        updated: updated.clone(),
    }
}

/// A term as HSDS `taxonomy_term`.
pub fn taxonomy_term(taxonomy: &Taxonomy, term: &Term) -> TaxonomyTerm {
    TaxonomyTerm {
        id: term.id.to_string(),
        code: Some(term.key.clone()),
        name: term.label_de.clone(),
        description: format!("Handlungsfeld {}", term.label_de),
        parent_id: None,
        taxonomy: Some(taxonomy.name.clone()),
        language: Some("de".into()),
        taxonomy_id: Some(taxonomy.id.to_string()),
    }
}

/// The taxonomy as HSDS `taxonomy`.
pub fn taxonomy(t: &Taxonomy) -> super::model::Taxonomy {
    super::model::Taxonomy {
        id: t.id.to_string(),
        name: t.name.clone(),
        description: t.description.clone(),
        version: Some(t.version.clone()),
    }
}

fn non_empty(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// The first e-mail address in a contact line, if it looks like one (`a@b.c`).
pub fn email_in(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '<' | '>' | '(' | ')'))
        .map(|w| w.trim_end_matches('.').trim_start_matches("mailto:"))
        .find(|w| {
            let Some((local, domain)) = w.split_once('@') else {
                return false;
            };
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "@.-_+".contains(c))
        })
        .map(str::to_string)
}

/// Phone numbers in a contact line: a run of at least six digits, spaces, `/`, `-`, `(`,
/// `)` and a leading `+` that follows "Tel", "Telefon" or "Fon".
pub fn phones_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    // ASCII lowercase keeps byte offsets, so positions in `lower` are positions in `text`.
    let lower = text.to_ascii_lowercase();
    for marker in ["telefon", "tel", "fon"] {
        let mut from = 0;
        while let Some(pos) = lower[from..].find(marker) {
            let start = from + pos + marker.len();
            from = start;
            let rest = text.get(start..).unwrap_or("");
            let rest = rest.trim_start_matches(['.', ':', ' ']);
            let number: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || " /-()+".contains(*c))
                .collect();
            let number = number
                .trim()
                .trim_end_matches(['-', '/'])
                .trim()
                .to_string();
            if number.chars().filter(char::is_ascii_digit).count() >= 6 && !out.contains(&number) {
                out.push(number);
            }
        }
    }
    out
}

/// The node id an organization id stands for, among the directory's members.
pub fn member_by_organization(directory: &Directory, id: HsdsId) -> Option<&VerifiedMember> {
    directory
        .active_members()
        .into_iter()
        .find(|m| names::organization(&m.member.node_id) == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_lines_yield_phones_and_mail() {
        let line = "Caritasverband Musterstadt, Lindenstraße 12, Tel. 0211 555-120, beratung@caritas-muster.de";
        assert_eq!(phones_in(line), vec!["0211 555-120".to_string()]);
        assert_eq!(
            email_in(line).as_deref(),
            Some("beratung@caritas-muster.de")
        );
        assert_eq!(
            phones_in("Telefon: +49 (211) 555 130"),
            vec!["+49 (211) 555 130".to_string()]
        );
        assert!(phones_in("Raum 12, Tel. 12").is_empty());
        assert_eq!(email_in("kein@ Kontakt"), None);
        assert_eq!(email_in("info@localhost"), None);
    }
}
