//! HSDS's tabular form as JSON: a directory with one file per table, joined into nested
//! services for [`super::import`].
//!
//! HSDS names its tables `services`, `organizations`, `languages`, ... (the `path` of each
//! schema, `services.csv`); a JSON dump keeps the names with `.json`, each file an array of
//! flat rows. Rows are joined as the schemas' foreign keys say: `service_id` (languages,
//! schedules, service areas, contacts, phones, capacities), `contact_id` (phones of a
//! contact), `link_id` (attributes), `taxonomy_term_id` (terms), `organization_id` and
//! `unit_id`. Only `services.json` is required. Files of other tables are reported, not
//! read; CSV files are refused with the advice to export JSON.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::import::{ImportError, read_json};

/// The tables read, and what a service row gains from each.
const CHILDREN: &[(&str, &str, &str)] = &[
    // (file, key column, nested field on the service)
    ("languages", "service_id", "languages"),
    ("schedules", "service_id", "schedules"),
    ("service_areas", "service_id", "service_areas"),
    ("contacts", "service_id", "contacts"),
    ("phones", "service_id", "phones"),
    ("attributes", "link_id", "attributes"),
    ("service_capacity", "service_id", "capacities"),
];

/// Tables that are looked up by id rather than nested by service.
const LOOKUPS: &[&str] = &["services", "organizations", "taxonomy_terms", "units"];

type Rows = Vec<Map<String, Value>>;

fn rows(dir: &Path, table: &str) -> Result<Option<Rows>, ImportError> {
    let path = dir.join(format!("{table}.json"));
    if !path.exists() {
        return Ok(None);
    }
    let shown = path.display().to_string();
    let doc = read_json(&path)?;
    let Value::Array(items) = doc else {
        return Err(ImportError::NotHsds {
            path: shown,
            why: format!("a table file holds an array of {table} rows"),
        });
    };
    items
        .into_iter()
        .map(|v| match v {
            Value::Object(o) => Ok(o),
            _ => Err(ImportError::NotHsds {
                path: shown.clone(),
                why: "every row is a JSON object".into(),
            }),
        })
        .collect::<Result<Rows, _>>()
        .map(Some)
}

fn key(row: &Map<String, Value>, column: &str) -> Option<String> {
    row.get(column).and_then(Value::as_str).map(str::to_string)
}

fn by_id(rows: Option<Rows>) -> BTreeMap<String, Map<String, Value>> {
    rows.unwrap_or_default()
        .into_iter()
        .filter_map(|r| key(&r, "id").map(|k| (k, r)))
        .collect()
}

fn group(rows: Option<Rows>, column: &str) -> BTreeMap<String, Vec<Map<String, Value>>> {
    let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for r in rows.unwrap_or_default() {
        if let Some(k) = key(&r, column) {
            out.entry(k).or_default().push(r);
        }
    }
    out
}

/// Reads the tables in `dir` into nested service objects, with notes on what was not read.
pub fn load(dir: &Path) -> Result<(Vec<Value>, Vec<String>), ImportError> {
    let shown = dir.display().to_string();
    let Some(services) = rows(dir, "services")? else {
        let why = if dir.join("services.csv").exists() {
            "it has services.csv, but the import reads JSON only: export the tables as JSON (services.json, organizations.json, ...)"
        } else {
            "a directory export needs services.json (and optionally organizations.json, languages.json, schedules.json, service_areas.json, contacts.json, phones.json, attributes.json, taxonomy_terms.json, service_capacity.json, units.json)"
        };
        return Err(ImportError::NotHsds {
            path: shown,
            why: why.into(),
        });
    };
    let mut notes = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|source| ImportError::Read {
        path: shown.clone(),
        source,
    })?;
    let mut ignored: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|name| {
            let table = name.strip_suffix(".json").unwrap_or(name);
            !LOOKUPS.contains(&table) && !CHILDREN.iter().any(|c| c.0 == table)
        })
        .collect();
    ignored.sort();
    if !ignored.is_empty() {
        notes.push(format!(
            "files not read (no place in Lotse): {}",
            ignored.join(", ")
        ));
    }
    let organizations = by_id(rows(dir, "organizations")?);
    let terms = by_id(rows(dir, "taxonomy_terms")?);
    let units = by_id(rows(dir, "units")?);
    let mut children = Vec::new();
    for (table, column, field) in CHILDREN {
        children.push((*field, group(rows(dir, table)?, column)));
    }
    let contact_phones = group(rows(dir, "phones")?, "contact_id");
    let mut out = Vec::new();
    for mut s in services {
        let id = key(&s, "id").unwrap_or_default();
        if let Some(org) = key(&s, "organization_id").and_then(|o| organizations.get(&o)) {
            s.entry("organization")
                .or_insert_with(|| Value::Object(org.clone()));
        }
        for (field, groups) in &children {
            let Some(list) = groups.get(&id) else {
                continue;
            };
            let nested: Vec<Value> = list
                .iter()
                .cloned()
                .map(|mut row| {
                    match *field {
                        "attributes" => {
                            if let Some(t) =
                                key(&row, "taxonomy_term_id").and_then(|t| terms.get(&t))
                            {
                                row.entry("taxonomy_term")
                                    .or_insert_with(|| Value::Object(t.clone()));
                            }
                        }
                        "contacts" => {
                            if let Some(p) = key(&row, "id").and_then(|c| contact_phones.get(&c)) {
                                let phones = p.iter().cloned().map(Value::Object).collect();
                                row.entry("phones").or_insert(Value::Array(phones));
                            }
                        }
                        "capacities" => {
                            if let Some(u) = key(&row, "unit_id").and_then(|u| units.get(&u)) {
                                row.entry("unit")
                                    .or_insert_with(|| Value::Object(u.clone()));
                            }
                        }
                        _ => {}
                    }
                    Value::Object(row)
                })
                .collect();
            s.insert((*field).to_string(), Value::Array(nested));
        }
        out.push(Value::Object(s));
    }
    Ok((out, notes))
}
