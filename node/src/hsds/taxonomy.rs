//! The fields of action ("Handlungsfelder") as an HSDS taxonomy.
//!
//! Every term has a stable id (derived from its key, see [`super::ids`]), a key (the
//! protocol's machine name, e.g. `housing`, as HSDS `code`) and a German label (HSDS
//! `name`). Today the list is fixed in the protocol ([`FieldOfAction`]); the KI will curate
//! it in its signed directory later (issue 19, item 4). Everything that needs the
//! taxonomy, the API and the import alike, gets it from [`Taxonomy::of_directory`], so
//! that change is made here and nowhere else.

use lotse_protocol::client::FieldOfAction;
use lotse_protocol::directory::Directory;

use super::ids::{HsdsId, names};

/// The taxonomy's key in id names.
pub const FIELDS_OF_ACTION: &str = "fields-of-action";

/// One term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// Stable id.
    pub id: HsdsId,
    /// Machine key (`housing`), HSDS `code`.
    pub key: String,
    /// German label (`Wohnen`), HSDS `name`.
    pub label_de: String,
    /// The protocol's field of action this term stands for.
    pub field: FieldOfAction,
}

/// The taxonomy of fields of action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taxonomy {
    /// Stable id.
    pub id: HsdsId,
    /// Name (German).
    pub name: String,
    /// What it classifies.
    pub description: String,
    /// Version, for HSDS `version`.
    pub version: String,
    /// Terms in display order.
    pub terms: Vec<Term>,
}

/// The protocol's machine name of a field (`residence_law`): its serde name, so the key
/// is the one the JSON API and the services file use.
pub fn field_key(field: FieldOfAction) -> String {
    serde_json::to_value(field)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl Taxonomy {
    /// The taxonomy in force in `directory`. Today the fixed list of the protocol, whatever
    /// the directory; when the KI curates terms, this reads them from the directory.
    pub fn of_directory(_directory: Option<&Directory>) -> Taxonomy {
        Self::fixed()
    }

    /// The eleven fields of action of the protocol.
    pub fn fixed() -> Taxonomy {
        Taxonomy {
            id: names::taxonomy(FIELDS_OF_ACTION),
            name: "Handlungsfelder".into(),
            description: "Handlungsfelder des Kommunalen Integrationsmanagements: wobei ein Angebot unterstützt.".into(),
            version: "1".into(),
            terms: FieldOfAction::ALL
                .into_iter()
                .map(|field| {
                    let key = field_key(field);
                    Term {
                        id: names::taxonomy_term(FIELDS_OF_ACTION, &key),
                        label_de: field.label_de().to_string(),
                        key,
                        field,
                    }
                })
                .collect(),
        }
    }

    /// The term of `field`.
    pub fn term_of(&self, field: FieldOfAction) -> Option<&Term> {
        self.terms.iter().find(|t| t.field == field)
    }

    /// The term with this id.
    pub fn by_id(&self, id: HsdsId) -> Option<&Term> {
        self.terms.iter().find(|t| t.id == id)
    }

    /// The term a foreign export names: by id, by key (`housing`) or by German label
    /// (`Wohnen`), ignoring case and surrounding space.
    pub fn find(&self, text: &str) -> Option<&Term> {
        let t = text.trim();
        if let Ok(id) = t.parse::<HsdsId>() {
            return self.by_id(id);
        }
        self.terms.iter().find(|term| {
            term.key.eq_ignore_ascii_case(t) || term.label_de.to_lowercase() == t.to_lowercase()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_a_term_with_a_stable_id() {
        let t = Taxonomy::fixed();
        assert_eq!(t.terms.len(), FieldOfAction::ALL.len());
        for f in FieldOfAction::ALL {
            let term = t.term_of(f).unwrap();
            assert_eq!(t.by_id(term.id).unwrap().field, f);
            assert_eq!(t.find(&term.key).unwrap().field, f);
            assert_eq!(t.find(&term.label_de.to_uppercase()).unwrap().field, f);
            assert_eq!(t.find(&term.id.to_string()).unwrap().field, f);
        }
        assert_eq!(t.find("housing").unwrap().label_de, "Wohnen");
        assert_eq!(t.find("Aufenthalt/Asyl").unwrap().key, "residence_law");
        assert!(t.find("Gartenbau").is_none());
        // Ids depend on the key only: the same on every node, in every network.
        assert_eq!(Taxonomy::fixed(), t);
    }
}
