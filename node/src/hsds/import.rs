//! Reading an HSDS 3.0 export into an agency's services, for `lotse services import`.
//!
//! Accepted input (docs/hsds.md, "Import"): one JSON file holding services (an array, an
//! HSDS `Page` such as `/hsds/services?full=true` answers, one organization with its
//! `services`, or an object with a `services` array), or a directory of per-table JSON files
//! as HSDS's tabular form names them (`services.json`, `organizations.json`,
//! `languages.json`, ...; each an array of rows joined by their `service_id`, `link_id`,
//! ... columns). The result is checked with the protocol's own profile checks, so what
//! this returns the node will publish. Nothing is guessed silently: every HSDS field that
//! has no place in Lotse is listed in [`Imported::notes`], and input that cannot be read as
//! HSDS is an [`ImportError`] that says what is wrong and what to do.

use std::collections::BTreeSet;
use std::path::Path;

use lotse_protocol::client::FieldOfAction;
use lotse_protocol::directory::{AgencyProfile, Capacity, Service as LotseService};
use serde_json::{Map, Value};

use super::mapping::{CAPACITY_TEXT, SERVICE_ID_LINK_TYPE, phones_in};
use super::model::{self, Service};
use super::schedule::{self, WeeklyOpening};
use super::taxonomy::Taxonomy;
use super::{languages, tabular};

/// Largest file read: a municipal guide with thousands of services fits.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Choices the agency makes on the command line.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Take the services of this organization (id or name) when the export has several.
    pub organization: Option<String>,
    /// Extra term mappings: a foreign term's id, code or name → a field of action.
    pub terms: Vec<(String, FieldOfAction)>,
    /// Leave out terms that are neither fields of action nor in `terms` (and list them).
    pub ignore_unknown_terms: bool,
}

/// The services read, and what could not be carried over.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The services, ready for the services file.
    pub services: Vec<LotseService>,
    /// The organization they belong to, if the export names it.
    pub organization: Option<String>,
    /// What was not mapped, shortened, skipped or defaulted, one line each.
    pub notes: Vec<String>,
}

/// Why an export cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Cannot read a file or directory.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Too large.
    #[error(
        "{path} is {size} bytes; the import reads files up to {limit} bytes: export only your organization's services"
    )]
    TooLarge {
        /// The path.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Not JSON.
    #[error("{path} is not JSON ({cause}); export the services as HSDS 3.0 JSON (CSV is not read)")]
    NotJson {
        /// The path.
        path: String,
        /// Parser message with line and column.
        cause: String,
    },
    /// JSON, but not an HSDS export.
    #[error("{path} is not an HSDS 3.0 export: {why}")]
    NotHsds {
        /// The path.
        path: String,
        /// What was expected.
        why: String,
    },
    /// A service lacks a required field or has one of the wrong type.
    #[error("service {service}: {problem}; correct it in the export and import again")]
    BadService {
        /// Which (position and name or id).
        service: String,
        /// What is wrong.
        problem: String,
    },
    /// No services.
    #[error("the export holds no services{0}")]
    NoServices(String),
    /// Services of several organizations, none chosen.
    #[error(
        "the export holds services of {count} organizations; choose yours with --organization ID_OR_NAME: {list}"
    )]
    SeveralOrganizations {
        /// How many.
        count: usize,
        /// Their names, ids and service counts.
        list: String,
    },
    /// The chosen organization is not there.
    #[error("no organization {given:?} in the export; it has: {list}")]
    UnknownOrganization {
        /// As given.
        given: String,
        /// The ones there.
        list: String,
    },
    /// More services than one agency may publish.
    #[error(
        "the export holds {count} services; an agency publishes at most {limit}: choose an organization with --organization, or split the export"
    )]
    TooMany {
        /// How many.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// Terms that are not fields of action.
    #[error(
        "these taxonomy terms are not Lotse fields of action: {terms}. Map each with --term 'TERM=FIELD' (FIELD one of: {fields}), or leave them out with --ignore-unknown-terms"
    )]
    UnknownTerms {
        /// The terms (up to 10).
        terms: String,
        /// The field keys.
        fields: String,
    },
    /// The protocol's profile checks refuse the result.
    #[error(
        "the imported services would not be accepted by the network: {0}; correct the export (or the written file) and try again"
    )]
    Refused(String),
}

/// The most services an agency publishes (the protocol's limit).
pub const MAX_SERVICES: usize = 64;

/// The fields of a service Lotse reads; any other field with a value is reported.
const MAPPED: &[&str] = &[
    "id",
    "organization_id",
    "name",
    "description",
    "url",
    "email",
    "status",
    "eligibility_description",
    "minimum_age",
    "maximum_age",
    "last_modified",
    "organization",
    "phones",
    "schedules",
    "service_areas",
    "languages",
    "contacts",
    "attributes",
    "capacities",
    "metadata",
];

/// Reads the export at `path` (a JSON file or a directory of per-table JSON files).
pub fn read(path: &Path, opts: &ImportOptions) -> Result<Imported, ImportError> {
    let meta = std::fs::metadata(path).map_err(|source| ImportError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let (services, mut notes) = if meta.is_dir() {
        tabular::load(path)?
    } else {
        (
            services_in(&read_json(path)?, &path.display().to_string())?,
            Vec::new(),
        )
    };
    let mut imported = convert(services, opts)?;
    notes.append(&mut imported.notes);
    imported.notes = notes;
    Ok(imported)
}

/// Reads and parses one JSON file, bounded in size.
pub(super) fn read_json(path: &Path) -> Result<Value, ImportError> {
    let shown = path.display().to_string();
    let size = std::fs::metadata(path)
        .map_err(|source| ImportError::Read {
            path: shown.clone(),
            source,
        })?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(ImportError::TooLarge {
            path: shown,
            size,
            limit: MAX_FILE_BYTES,
        });
    }
    let bytes = std::fs::read(path).map_err(|source| ImportError::Read {
        path: shown.clone(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| ImportError::NotJson {
        path: shown,
        cause: e.to_string(),
    })
}

/// The service objects in one JSON document, each with its organization attached.
fn services_in(doc: &Value, path: &str) -> Result<Vec<Value>, ImportError> {
    let not_hsds = |why: &str| ImportError::NotHsds {
        path: path.to_string(),
        why: why.to_string(),
    };
    let expected = "expected an array of services, an HSDS Page (\"contents\"), an organization with \"services\", or an object with a \"services\" array";
    match doc {
        Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                let obj = item
                    .as_object()
                    .ok_or_else(|| not_hsds("an array item is not an object"))?;
                match obj.get("services") {
                    Some(Value::Array(services)) => out.extend(with_organization(services, obj)),
                    _ => out.push(item.clone()),
                }
            }
            Ok(out)
        }
        Value::Object(obj) => {
            if let Some(contents) = obj.get("contents") {
                let total = obj.get("total_items").and_then(Value::as_u64);
                let items = contents
                    .as_array()
                    .ok_or_else(|| not_hsds("\"contents\" is not an array"))?;
                if let Some(total) = total
                    && total > items.len() as u64
                {
                    return Err(not_hsds(&format!(
                        "this is one page of a paged answer: it holds {} of {total} items; fetch them all at once (per_page=200) or import each page's organization with --organization",
                        items.len()
                    )));
                }
                return services_in(contents, path);
            }
            match obj.get("services") {
                Some(Value::Array(services)) if obj.contains_key("name") => {
                    Ok(with_organization(services, obj))
                }
                Some(Value::Array(services)) => Ok(services.clone()),
                Some(_) => Err(not_hsds("\"services\" is not an array")),
                None if obj.contains_key("name") && obj.contains_key("id") => Ok(vec![doc.clone()]),
                None => Err(not_hsds(expected)),
            }
        }
        _ => Err(not_hsds(expected)),
    }
}

/// The services of an organization object, each naming that organization.
fn with_organization(services: &[Value], org: &Map<String, Value>) -> Vec<Value> {
    let mut slim = org.clone();
    slim.remove("services");
    services
        .iter()
        .map(|s| {
            let mut s = s.clone();
            if let Some(obj) = s.as_object_mut()
                && !obj.contains_key("organization")
            {
                obj.insert("organization".into(), Value::Object(slim.clone()));
            }
            s
        })
        .collect()
}

fn label(i: usize, s: &Map<String, Value>) -> String {
    let name = s
        .get("name")
        .and_then(Value::as_str)
        .or_else(|| s.get("id").and_then(Value::as_str));
    match name {
        Some(n) => format!("#{} ({n:?})", i + 1),
        None => format!("#{}", i + 1),
    }
}

/// The organization a service belongs to: (key, name).
fn organization_of(s: &Service) -> (String, String) {
    match &s.organization {
        Some(o) => (
            if o.id.is_empty() {
                o.name.clone()
            } else {
                o.id.clone()
            },
            if o.name.is_empty() {
                o.id.clone()
            } else {
                o.name.clone()
            },
        ),
        None => {
            let id = s.organization_id.clone().unwrap_or_default();
            (id.clone(), id)
        }
    }
}

/// Turns service objects into Lotse services (the part shared by both input forms).
pub fn convert(raw: Vec<Value>, opts: &ImportOptions) -> Result<Imported, ImportError> {
    let mut notes = Vec::new();
    let mut parsed = Vec::new();
    for (i, v) in raw.iter().enumerate() {
        let obj = v.as_object().ok_or_else(|| ImportError::BadService {
            service: format!("#{}", i + 1),
            problem: "is not a JSON object".into(),
        })?;
        let service: Service =
            serde_json::from_value(v.clone()).map_err(|e| ImportError::BadService {
                service: label(i, obj),
                problem: format!("a field has the wrong type ({e})"),
            })?;
        if service.name.trim().is_empty() {
            return Err(ImportError::BadService {
                service: label(i, obj),
                problem: "has no name (HSDS requires id, name and status)".into(),
            });
        }
        let unmapped: Vec<&str> = obj
            .iter()
            .filter(|(k, v)| !MAPPED.contains(&k.as_str()) && !is_blank(v))
            .map(|(k, _)| k.as_str())
            .collect();
        if !unmapped.is_empty() {
            notes.push(format!(
                "{:?}: not carried over: {}",
                service.name,
                unmapped.join(", ")
            ));
        }
        parsed.push(service);
    }
    if parsed.is_empty() {
        return Err(ImportError::NoServices(String::new()));
    }
    // One organization's services.
    let mut orgs: Vec<(String, String, usize)> = Vec::new();
    for s in &parsed {
        let (key, name) = organization_of(s);
        match orgs.iter_mut().find(|o| o.0 == key) {
            Some(o) => o.2 += 1,
            None => orgs.push((key, name, 1)),
        }
    }
    let list = || {
        orgs.iter()
            .map(|(k, n, c)| {
                if k == n {
                    format!("{n:?} ({c} services)")
                } else {
                    format!("{n:?} (id {k}, {c} services)")
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let chosen = match &opts.organization {
        Some(given) => {
            let g = given.trim().to_lowercase();
            let found = orgs
                .iter()
                .find(|(k, n, _)| k.to_lowercase() == g || n.to_lowercase() == g)
                .ok_or_else(|| ImportError::UnknownOrganization {
                    given: given.clone(),
                    list: list(),
                })?;
            Some(found.0.clone())
        }
        None if orgs.len() > 1 => {
            return Err(ImportError::SeveralOrganizations {
                count: orgs.len(),
                list: list(),
            });
        }
        None => None,
    };
    let organization = orgs
        .iter()
        .find(|o| chosen.as_ref().is_none_or(|c| *c == o.0))
        .map(|o| o.1.clone())
        .filter(|n| !n.is_empty());
    let mut selected: Vec<Service> = parsed
        .into_iter()
        .filter(|s| chosen.as_ref().is_none_or(|c| organization_of(s).0 == *c))
        .collect();
    selected.retain(|s| {
        let gone = matches!(s.status.trim(), "inactive" | "defunct");
        if gone {
            notes.push(format!(
                "{:?}: left out, its status is {:?}",
                s.name, s.status
            ));
        }
        !gone
    });
    if selected.is_empty() {
        return Err(ImportError::NoServices(" that are active".into()));
    }
    if selected.len() > MAX_SERVICES {
        return Err(ImportError::TooMany {
            count: selected.len(),
            limit: MAX_SERVICES,
        });
    }
    let taxonomy = Taxonomy::of_directory(None);
    let mut unknown_terms = BTreeSet::new();
    let mut used_ids = BTreeSet::new();
    let mut services = Vec::new();
    for s in &selected {
        let service = one(
            s,
            &taxonomy,
            opts,
            &mut unknown_terms,
            &mut used_ids,
            &mut notes,
        );
        services.push(service);
    }
    if !unknown_terms.is_empty() {
        if opts.ignore_unknown_terms {
            let list: Vec<String> = unknown_terms.iter().cloned().collect();
            notes.push(format!("taxonomy terms left out: {}", list.join(", ")));
        } else {
            let shown: Vec<String> = unknown_terms.iter().take(10).cloned().collect();
            let more = unknown_terms.len().saturating_sub(10);
            return Err(ImportError::UnknownTerms {
                terms: shown.join(", ")
                    + &if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    },
                fields: taxonomy
                    .terms
                    .iter()
                    .map(|t| t.key.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    check_with_protocol(&services)?;
    Ok(Imported {
        services,
        organization,
        notes,
    })
}

fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// The protocol's checks on a profile holding these services (ids, lengths, counts).
fn check_with_protocol(services: &[LotseService]) -> Result<(), ImportError> {
    let key = lotse_protocol::NodeKey::generate();
    let profile = AgencyProfile {
        node_id: key.public(),
        encryption: lotse_protocol::EncryptionIdentity::generate().recipient(),
        addresses: vec!["127.0.0.1:1".into()],
        services: services.to_vec(),
        updated_at: lotse_protocol::Timestamp(0),
    };
    profile
        .sign(&key)
        .verify()
        .map(|_| ())
        .map_err(|e| ImportError::Refused(e.to_string()))
}

/// A Lotse service id from a name: lowercase ASCII letters, digits and `-`.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.to_lowercase().chars() {
        match c {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            c if c.is_ascii_alphanumeric() => out.push(c),
            _ if !out.ends_with('-') => out.push('-'),
            _ => {}
        }
    }
    let mut s: String = out.trim_matches('-').chars().take(56).collect();
    while s.ends_with('-') {
        s.pop();
    }
    if s.is_empty() { "angebot".into() } else { s }
}

fn valid_lotse_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn one(
    s: &Service,
    taxonomy: &Taxonomy,
    opts: &ImportOptions,
    unknown_terms: &mut BTreeSet<String>,
    used_ids: &mut BTreeSet<String>,
    notes: &mut Vec<String>,
) -> LotseService {
    let name = s.name.trim().to_string();
    let mut note = |text: String| notes.push(format!("{name:?}: {text}"));
    // The id: Lotse's own (an export of a Lotse node carries it), else one from the name.
    let own = s
        .attributes
        .iter()
        .filter(|a| a.link_type.as_deref() == Some(SERVICE_ID_LINK_TYPE))
        .find_map(|a| a.value.clone().filter(|v| valid_lotse_id(v)));
    let base = own.unwrap_or_else(|| slug(&name));
    let mut id = base.clone();
    let mut n = 2;
    while !used_ids.insert(id.clone()) {
        id = format!("{base}-{n}");
        n += 1;
    }
    // Fields of action from the attributes' terms.
    let mut fields = Vec::new();
    for a in &s.attributes {
        if a.link_type.as_deref() == Some(SERVICE_ID_LINK_TYPE) {
            continue;
        }
        let term = a.taxonomy_term.as_ref();
        let keys: Vec<&str> = [
            a.taxonomy_term_id.as_deref(),
            term.map(|t| t.id.as_str()),
            term.and_then(|t| t.code.as_deref()),
            term.map(|t| t.name.as_str()),
        ]
        .into_iter()
        .flatten()
        .filter(|k| !k.trim().is_empty())
        .collect();
        if keys.is_empty() {
            continue;
        }
        let mapped = keys.iter().find_map(|k| {
            taxonomy.find(k).map(|t| t.field).or_else(|| {
                opts.terms
                    .iter()
                    .find(|(from, _)| from.trim().eq_ignore_ascii_case(k.trim()))
                    .map(|(_, f)| *f)
            })
        });
        match mapped {
            Some(f) if !fields.contains(&f) => fields.push(f),
            Some(_) => {}
            None => {
                let shown = term
                    .map(|t| t.name.as_str())
                    .filter(|n| !n.is_empty())
                    .unwrap_or(keys[0]);
                unknown_terms.insert(format!("{shown:?}"));
            }
        }
    }
    if fields.is_empty() {
        note("no field of action; add at least one (`fields = [\"...\"]`)".into());
    }
    let age = |v: Option<f64>, what: &str, note: &mut dyn FnMut(String)| -> Option<u8> {
        let v = v?;
        if v.fract() == 0.0 && (0.0..=120.0).contains(&v) {
            Some(v as u8)
        } else {
            note(format!(
                "{what} {v} is not a whole age from 0 to 120; left out"
            ));
            None
        }
    };
    let age_min = age(s.minimum_age, "minimum_age", &mut note);
    let age_max = age(s.maximum_age, "maximum_age", &mut note);
    let mut langs: Vec<String> = Vec::new();
    for l in &s.languages {
        match languages::from_hsds(l.name.as_deref(), l.code.as_deref()) {
            Some(x) if !langs.contains(&x) => langs.push(x),
            Some(_) => {}
            None => note("a language without name or code; left out".into()),
        }
    }
    let area: Vec<String> = s
        .service_areas
        .iter()
        .filter_map(|a| a.name.clone().or_else(|| a.description.clone()))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    let opening_hours = hours(&s.schedules, &mut note);
    let capacity = capacity(s, &mut note);
    LotseService {
        id,
        name: name.clone(),
        description: s.description.clone().unwrap_or_default().trim().to_string(),
        fields,
        target_group: s
            .eligibility_description
            .clone()
            .unwrap_or_default()
            .trim()
            .to_string(),
        age_min,
        age_max,
        languages: langs,
        area: area.join("; "),
        contact: contact(s),
        opening_hours,
        capacity,
    }
}

/// The contact line: the contacts' names, then phones, e-mails and the web address that
/// the names do not already contain.
fn contact(s: &Service) -> String {
    let mut parts: Vec<String> = s
        .contacts
        .iter()
        .map(|c| {
            [&c.name, &c.title, &c.department]
                .into_iter()
                .flatten()
                .map(|t| t.trim())
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|t| !t.is_empty())
        .collect();
    let phones = s
        .phones
        .iter()
        .chain(s.contacts.iter().flat_map(|c| c.phones.iter()));
    for p in phones {
        let number = p.number.trim();
        let text = parts.join(", ");
        if !number.is_empty()
            && !text.contains(number)
            && !phones_in(&text).iter().any(|x| x == number)
        {
            parts.push(format!("Tel. {number}"));
        }
    }
    let emails = s
        .email
        .iter()
        .chain(s.contacts.iter().filter_map(|c| c.email.as_ref()));
    for extra in emails.chain(s.url.iter()) {
        let extra = extra.trim();
        if !extra.is_empty() && !parts.join(", ").contains(extra) {
            parts.push(extra.to_string());
        }
    }
    parts.join(", ")
}

/// Opening hours: the schedules' descriptions if they have any (a Lotse export writes the
/// agency's text there), else the weekly openings in the German short form.
fn hours(schedules: &[model::Schedule], note: &mut dyn FnMut(String)) -> String {
    let mut texts: Vec<String> = Vec::new();
    for d in schedules.iter().filter_map(|s| s.description.as_deref()) {
        let d = d.trim().to_string();
        if !d.is_empty() && !texts.contains(&d) {
            texts.push(d);
        }
    }
    if !texts.is_empty() {
        return texts.join("; ");
    }
    let mut openings = Vec::new();
    for s in schedules {
        let weekly = s
            .freq
            .as_deref()
            .is_none_or(|f| f.eq_ignore_ascii_case("WEEKLY"));
        let parsed = match (weekly, &s.byday, &s.opens_at, &s.closes_at) {
            (true, Some(d), Some(o), Some(c)) => WeeklyOpening::from_hsds(d, o, c),
            _ => None,
        };
        match parsed {
            Some(o) => openings.push(o),
            None => note("a schedule that is not a weekly opening with byday, opens_at and closes_at; left out".into()),
        }
    }
    schedule::to_text(&openings)
}

fn capacity(s: &Service, note: &mut dyn FnMut(String)) -> Capacity {
    if s.status.trim() == "temporarily closed" {
        note("temporarily closed: capacity set to full".into());
        return Capacity::Full;
    }
    let Some(c) = s.capacities.first() else {
        note("no capacity given: set to waiting_list; correct it before publishing".into());
        return Capacity::WaitingList;
    };
    if let Some(d) = c.description.as_deref()
        && let Some((k, _)) = CAPACITY_TEXT
            .iter()
            .find(|(_, t)| t.eq_ignore_ascii_case(d.trim()))
    {
        return *k;
    }
    match c.available {
        Some(n) if n > 0.0 => Capacity::Available,
        Some(_) => Capacity::Full,
        None => {
            note("a capacity without a number: set to waiting_list".into());
            Capacity::WaitingList
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_valid_service_ids() {
        assert_eq!(
            slug("Begleitung bei der Wohnungssuche"),
            "begleitung-bei-der-wohnungssuche"
        );
        assert_eq!(
            slug("Übergang Schule – Ausbildung"),
            "uebergang-schule-ausbildung"
        );
        assert_eq!(slug("???"), "angebot");
        assert!(valid_lotse_id(&slug(&"Straße ".repeat(30))));
    }
}
