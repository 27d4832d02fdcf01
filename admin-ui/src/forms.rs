//! Reading HTML form posts: URL-encoded and multipart alike, into one [`FormData`].
//!
//! axum's `Form` cannot hold repeated keys (checkbox groups), and a page that shows the
//! form again after an error needs every value exactly as typed, so forms are read into a
//! plain multimap. Everything is bounded: the number of fields, the length of each text
//! value, and the size of each uploaded file (the protocol's attachment limit); the route's
//! body limit bounds the whole.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use lotse_protocol::limits;

use crate::error::UiError;

/// At most this many fields per form.
const MAX_FIELDS: usize = 300;
/// A text value longer than this is refused (the protocol's longest text is 16 KiB).
const MAX_VALUE_BYTES: usize = 64 * 1024;

/// A file from a multipart form.
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    /// The file name the browser sent (never used as a path).
    pub(crate) file_name: String,
    /// The media type the browser sent.
    pub(crate) media_type: String,
    /// The content.
    pub(crate) content: Vec<u8>,
}

/// The fields of a submitted form.
#[derive(Debug, Clone, Default)]
pub(crate) struct FormData {
    values: HashMap<String, Vec<String>>,
    files: HashMap<String, Upload>,
}

impl FormData {
    /// An empty form (a page shown for the first time).
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Builds a form from pairs (defaults, query strings).
    pub(crate) fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> Self {
        let mut f = Self::default();
        for (k, v) in pairs {
            f.push(k, v);
        }
        f
    }

    /// Parses a URL-encoded string (a query string or a form body).
    pub(crate) fn parse_urlencoded(bytes: &[u8]) -> Result<Self, UiError> {
        let mut f = Self::default();
        for (k, v) in form_urlencoded::parse(bytes) {
            f.check_room(&v)?;
            f.push(&k, v.into_owned());
        }
        Ok(f)
    }

    fn check_room(&self, value: &str) -> Result<(), UiError> {
        let count: usize = self.values.values().map(Vec::len).sum();
        if count >= MAX_FIELDS || value.len() > MAX_VALUE_BYTES {
            return Err(UiError::bad_request(
                "Das Formular enthält zu viele oder zu lange Angaben.",
            ));
        }
        Ok(())
    }

    /// Adds a value.
    pub(crate) fn push(&mut self, key: &str, value: String) {
        self.values.entry(key.to_string()).or_default().push(value);
    }

    /// Replaces the values of `key`.
    pub(crate) fn set(&mut self, key: &str, value: String) {
        self.values.insert(key.to_string(), vec![value]);
    }

    /// The first value of `key`, as sent ("" if absent).
    pub(crate) fn raw(&self, key: &str) -> &str {
        self.values
            .get(key)
            .and_then(|v| v.first())
            .map(String::as_str)
            .unwrap_or("")
    }

    /// The first value of `key`, trimmed; `None` if absent or blank.
    pub(crate) fn get(&self, key: &str) -> Option<String> {
        let v = self.raw(key).trim();
        (!v.is_empty()).then(|| v.to_string())
    }

    /// Every value of `key` (checkbox groups).
    pub(crate) fn all(&self, key: &str) -> &[String] {
        self.values.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// True if `key` has `value` among its values.
    #[cfg(test)]
    pub(crate) fn has(&self, key: &str, value: &str) -> bool {
        self.all(key).iter().any(|v| v == value)
    }

    /// True if `key` was sent at all with a non-blank value.
    pub(crate) fn is_set(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The uploaded file of `key`, if one was chosen.
    pub(crate) fn file(&self, key: &str) -> Option<&Upload> {
        self.files.get(key)
    }

    async fn from_multipart(mut multipart: Multipart) -> Result<Self, UiError> {
        let mut f = Self::default();
        let too_big = || {
            UiError::payload_too_large(format!(
                "Eine Datei ist zu groß. Erlaubt sind höchstens {} MB pro Datei.",
                limits::MAX_ATTACHMENT_BYTES / (1024 * 1024)
            ))
        };
        loop {
            let field = match multipart.next_field().await {
                Ok(Some(field)) => field,
                Ok(None) => break,
                Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                    return Err(too_big());
                }
                Err(e) => {
                    return Err(UiError::bad_request(format!(
                        "Das Formular konnte nicht gelesen werden ({e}). Bitte senden Sie es erneut."
                    )));
                }
            };
            let Some(name) = field.name().map(str::to_string) else {
                continue;
            };
            if let Some(file_name) = field.file_name().map(str::to_string) {
                let media_type = field
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_string();
                let mut content = Vec::new();
                let mut field = field;
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => {
                            if content.len() + chunk.len() > limits::MAX_ATTACHMENT_BYTES {
                                return Err(too_big());
                            }
                            content.extend_from_slice(&chunk);
                        }
                        Ok(None) => break,
                        Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                            return Err(too_big());
                        }
                        Err(e) => {
                            return Err(UiError::bad_request(format!(
                                "Die Datei konnte nicht gelesen werden ({e})."
                            )));
                        }
                    }
                }
                // A file input left empty still sends a part without name and content.
                if !file_name.is_empty() || !content.is_empty() {
                    f.files.insert(
                        name,
                        Upload {
                            file_name,
                            media_type,
                            content,
                        },
                    );
                }
            } else {
                let text = field
                    .text()
                    .await
                    .map_err(|_| UiError::bad_request("Das Formular enthält ungültigen Text."))?;
                f.check_room(&text)?;
                f.push(&name, text);
            }
        }
        Ok(f)
    }
}

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = UiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, UiError> {
        let multipart = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/form-data"));
        if multipart {
            let m = Multipart::from_request(req, state).await.map_err(|e| {
                UiError::bad_request(format!("Das Formular ist unvollständig ({e})."))
            })?;
            return FormData::from_multipart(m).await;
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| UiError::payload_too_large("Das Formular ist zu groß.".to_string()))?;
        FormData::parse_urlencoded(&body)
    }
}

/// Encodes a value for a URL query (`a b` → `a+b`).
pub(crate) fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn repeated_keys_and_blanks() {
        let f = FormData::parse_urlencoded(b"cat=name&cat=needs&purpose=+Wohnen+&empty=").unwrap();
        assert_eq!(f.all("cat"), ["name", "needs"]);
        assert!(f.has("cat", "needs"));
        assert_eq!(f.get("purpose").as_deref(), Some("Wohnen"));
        assert_eq!(f.raw("purpose"), " Wohnen ");
        assert_eq!(f.get("empty"), None);
        assert_eq!(f.get("missing"), None);
        assert_eq!(encode("/a b?c=ä"), "%2Fa+b%3Fc%3D%C3%A4");
    }
}
