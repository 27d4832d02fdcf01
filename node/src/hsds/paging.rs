//! Query parameters and HSDS's `Page`: parsing that says what is wrong, and paging that
//! never hands out more than [`MAX_PER_PAGE`] items at once.
//!
//! Names and meanings follow the HSDS 3.0 OpenAPI (`components/parameters`). A parameter
//! an endpoint does not take, given twice, or with a value out of range is refused with
//! a 400 that names it and what is allowed, rather than ignored: a consumer that filters
//! by a typo would otherwise silently get everything.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ids::HsdsId;

/// Items per page unless `per_page` says otherwise.
pub const DEFAULT_PER_PAGE: usize = 50;
/// Most items per page.
pub const MAX_PER_PAGE: usize = 200;
/// Longest `search` text in characters.
pub const MAX_SEARCH_CHARS: usize = 200;

/// HSDS `Page` with its `contents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// Matching items on all pages.
    pub total_items: usize,
    /// Pages (0 if nothing matches).
    pub total_pages: usize,
    /// This page, from 1.
    pub page_number: usize,
    /// Items on this page.
    pub size: usize,
    /// True on page 1.
    pub first_page: bool,
    /// True on the last page (and when nothing matches).
    pub last_page: bool,
    /// True if nothing matches.
    pub empty: bool,
    /// The items.
    pub contents: Vec<T>,
}

/// A bad query parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The query string is not `name=value&...`.
    #[error("the query string cannot be read: {0}")]
    Malformed(String),
    /// Not a parameter of this endpoint.
    #[error("unknown query parameter {name:?}; this endpoint takes: {allowed}")]
    Unknown {
        /// The parameter.
        name: String,
        /// The ones it takes.
        allowed: String,
    },
    /// Given twice.
    #[error("the query parameter {0:?} is given more than once; give it once")]
    Duplicate(String),
    /// A value out of range or of the wrong kind.
    #[error("{name}={value:?} is not valid: {expected}")]
    Invalid {
        /// The parameter.
        name: String,
        /// Its value (cut to 80 characters).
        value: String,
        /// What it must be.
        expected: String,
    },
    /// A page after the last one.
    #[error(
        "page {page} does not exist: there are {total_pages} pages of {per_page} items; ask for page 1 or a later one up to the last"
    )]
    NoSuchPage {
        /// Asked for.
        page: usize,
        /// Pages there are.
        total_pages: usize,
        /// Items per page.
        per_page: usize,
    },
}

/// The parameters of one request, checked against what the endpoint takes.
#[derive(Debug, Clone, Default)]
pub struct Params(BTreeMap<String, String>);

fn invalid(name: &str, value: &str, expected: &str) -> QueryError {
    QueryError::Invalid {
        name: name.to_string(),
        value: value.chars().take(80).collect(),
        expected: expected.to_string(),
    }
}

impl Params {
    /// Checks `pairs` against the parameter names in `allowed`.
    pub fn new(pairs: Vec<(String, String)>, allowed: &[&str]) -> Result<Params, QueryError> {
        let mut map = BTreeMap::new();
        for (name, value) in pairs {
            if !allowed.contains(&name.as_str()) {
                return Err(QueryError::Unknown {
                    name: name.chars().take(80).collect(),
                    allowed: allowed.join(", "),
                });
            }
            if map.insert(name.clone(), value).is_some() {
                return Err(QueryError::Duplicate(name));
            }
        }
        let params = Params(map);
        if let Some(f) = params.text("format")
            && f != "json"
        {
            return Err(invalid(
                "format",
                f,
                "only json is offered here (no ndjson); leave it out or give json",
            ));
        }
        Ok(params)
    }

    /// The value of `name`, if given and not blank.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    fn number(
        &self,
        name: &str,
        min: usize,
        max: usize,
        default: usize,
    ) -> Result<usize, QueryError> {
        let Some(v) = self.text(name) else {
            return Ok(default);
        };
        let expected = format!("a whole number from {min} to {max}");
        let n: usize = v.parse().map_err(|_| invalid(name, v, &expected))?;
        if n < min || n > max {
            return Err(invalid(name, v, &expected));
        }
        Ok(n)
    }

    /// `page` (from 1) and `per_page` (1 to [`MAX_PER_PAGE`]).
    pub fn paging(&self) -> Result<Paging, QueryError> {
        Ok(Paging {
            page: self.number("page", 1, 1_000_000, 1)?,
            per_page: self.number("per_page", 1, MAX_PER_PAGE, DEFAULT_PER_PAGE)?,
        })
    }

    /// A boolean parameter (`true` or `false`), false if absent.
    pub fn flag(&self, name: &str) -> Result<bool, QueryError> {
        match self.text(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(v) => Err(invalid(name, v, "true or false")),
        }
    }

    /// An id parameter, which must be a UUID.
    pub fn id(&self, name: &str) -> Result<Option<HsdsId>, QueryError> {
        self.text(name)
            .map(|v| {
                v.parse()
                    .map_err(|e: super::ids::NotAUuid| invalid(name, v, &e.to_string()))
            })
            .transpose()
    }

    /// `search`: the lowercase words, each of which must occur.
    pub fn search(&self) -> Result<Vec<String>, QueryError> {
        let Some(v) = self.text("search") else {
            return Ok(Vec::new());
        };
        if v.chars().count() > MAX_SEARCH_CHARS {
            return Err(invalid(
                "search",
                v,
                &format!("at most {MAX_SEARCH_CHARS} characters"),
            ));
        }
        Ok(v.split_whitespace().map(str::to_lowercase).collect())
    }

    /// `modified_after`: an RFC 3339 date-time, as milliseconds since the epoch.
    pub fn modified_after(&self) -> Result<Option<u64>, QueryError> {
        let Some(v) = self.text("modified_after") else {
            return Ok(None);
        };
        let expected = "an RFC 3339 date-time such as 2025-01-31T00:00:00Z";
        let t = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
            .map_err(|_| invalid("modified_after", v, expected))?;
        let ms = t.unix_timestamp_nanos() / 1_000_000;
        Ok(Some(u64::try_from(ms).unwrap_or(0)))
    }
}

/// True if every word occurs in one of `texts` (case-insensitive).
pub fn matches_search<T: AsRef<str>>(words: &[String], texts: &[T]) -> bool {
    if words.is_empty() {
        return true;
    }
    let haystack = texts
        .iter()
        .map(|t| t.as_ref().to_lowercase())
        .collect::<Vec<_>>()
        .join("\n");
    words.iter().all(|w| haystack.contains(w.as_str()))
}

/// Which page, how large.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// From 1.
    pub page: usize,
    /// Items per page.
    pub per_page: usize,
}

impl Paging {
    /// The page of `items`; a page after the last is an error (page 1 always exists).
    pub fn page<T>(self, items: Vec<T>) -> Result<Page<T>, QueryError> {
        let total_items = items.len();
        let total_pages = total_items.div_ceil(self.per_page);
        if self.page > total_pages.max(1) {
            return Err(QueryError::NoSuchPage {
                page: self.page,
                total_pages,
                per_page: self.per_page,
            });
        }
        let contents: Vec<T> = items
            .into_iter()
            .skip((self.page - 1) * self.per_page)
            .take(self.per_page)
            .collect();
        Ok(Page {
            total_items,
            total_pages,
            page_number: self.page,
            size: contents.len(),
            first_page: self.page == 1,
            last_page: self.page >= total_pages,
            empty: contents.is_empty(),
            contents,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &[(&str, &str)], allowed: &[&str]) -> Result<Params, QueryError> {
        Params::new(
            q.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            allowed,
        )
    }

    #[test]
    fn pages_cut_and_count() {
        let p = Paging {
            page: 2,
            per_page: 3,
        }
        .page((1..=7).collect())
        .unwrap();
        assert_eq!(
            (p.total_items, p.total_pages, p.size, p.contents.clone()),
            (7, 3, 3, vec![4, 5, 6])
        );
        assert!(!p.first_page && !p.last_page && !p.empty);
        let last = Paging {
            page: 3,
            per_page: 3,
        }
        .page((1..=7).collect())
        .unwrap();
        assert!(last.last_page && last.contents == vec![7]);
        let none = Paging {
            page: 1,
            per_page: 3,
        }
        .page(Vec::<u8>::new())
        .unwrap();
        assert!(none.empty && none.first_page && none.last_page && none.total_pages == 0);
        let e = Paging {
            page: 4,
            per_page: 3,
        }
        .page((1..=7).collect())
        .unwrap_err();
        assert!(e.to_string().contains("page 4 does not exist"), "{e}");
    }

    #[test]
    fn bad_parameters_are_named() {
        let allowed = [
            "page",
            "per_page",
            "search",
            "format",
            "full",
            "taxonomy_term_id",
            "modified_after",
        ];
        let e = params(&[("pgae", "2")], &allowed).unwrap_err();
        assert!(
            e.to_string().contains("\"pgae\"") && e.to_string().contains("per_page"),
            "{e}"
        );
        assert!(matches!(
            params(&[("page", "1"), ("page", "2")], &allowed),
            Err(QueryError::Duplicate(_))
        ));
        for (k, v) in [
            ("page", "0"),
            ("page", "x"),
            ("per_page", "201"),
            ("per_page", "-1"),
            ("full", "yes"),
            ("taxonomy_term_id", "abc"),
            ("modified_after", "gestern"),
        ] {
            let p = params(&[(k, v)], &allowed).unwrap();
            let r = match k {
                "page" | "per_page" => p.paging().map(|_| ()),
                "full" => p.flag(k).map(|_| ()),
                "taxonomy_term_id" => p.id(k).map(|_| ()),
                _ => p.modified_after().map(|_| ()),
            };
            let e = r.unwrap_err();
            assert!(e.to_string().starts_with(&format!("{k}=")), "{e}");
        }
        assert!(params(&[("format", "ndjson")], &allowed).is_err());
        assert!(
            params(&[("search", &"x".repeat(201))], &allowed)
                .unwrap()
                .search()
                .is_err()
        );
        let p = params(
            &[("per_page", "200"), ("search", " Wohnung  Arabisch ")],
            &allowed,
        )
        .unwrap();
        assert_eq!(
            p.paging().unwrap(),
            Paging {
                page: 1,
                per_page: 200
            }
        );
        assert_eq!(p.search().unwrap(), vec!["wohnung", "arabisch"]);
        assert_eq!(p.modified_after().unwrap(), None);
        assert!(matches_search(
            &p.search().unwrap(),
            &["Hilfe bei der Wohnung", "Deutsch, Arabisch"]
        ));
        assert!(!matches_search(
            &p.search().unwrap(),
            &["Hilfe bei der Wohnung"]
        ));
    }
}
