//! The UI's static files, compiled into the binary: one stylesheet and a small script that
//! only adds comfort (copy buttons, hiding fields the consent does not cover). Every page
//! works without the script.
//!
//! URLs carry a hash of the content (`/assets/lotse.css?v=...`), so browsers may cache them
//! for a year and still get a new version right after an upgrade.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("../assets/lotse.css");
const JS: &str = include_str!("../assets/lotse.js");

/// FNV-1a, enough to tell versions of a file apart.
fn version(content: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in content.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:012x}", h & 0xffff_ffff_ffff)
}

/// The stylesheet's URL.
pub(crate) fn css_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| format!("/assets/lotse.css?v={}", version(CSS)))
}

/// The script's URL.
pub(crate) fn js_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| format!("/assets/lotse.js?v={}", version(JS)))
}

/// `GET /assets/{file}`.
pub(crate) async fn serve(Path(file): Path<String>) -> Response {
    let (content, media_type) = match file.as_str() {
        "lotse.css" => (CSS, "text/css; charset=utf-8"),
        "lotse.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "not found").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, media_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        content,
    )
        .into_response()
}
