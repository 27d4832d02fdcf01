//! Refusing cross-site form posts that carry no session yet (login CSRF).
//!
//! A page on another site can make a visitor's browser POST a form to `/anmelden`: if it
//! carries the attacker's own username and password, the visitor ends up signed in as the
//! attacker (and types a client's data into the attacker's account). The session's CSRF
//! token cannot help there, since there is no session yet. Browsers say where a request
//! comes from, and that is what this checks, in the order Go's `CrossOriginProtection`
//! uses:
//!
//! 1. `Sec-Fetch-Site` (every current browser sends it): only `same-origin` and `none`
//!    (typed into the address bar, a bookmark) pass; `same-site` and `cross-site` do not.
//! 2. Without it, `Origin` (sent with every cross-origin POST, also by older browsers):
//!    it must name the host of the request's `Host` header; `null` never passes.
//! 3. With neither header the request is not from a browser (or from one so old that it
//!    sends no `Origin` on cross-origin posts), so it cannot be a forged form post: it passes.
//!
//! Safe methods (GET, HEAD, OPTIONS) always pass: they change nothing.

use axum::http::{HeaderMap, Method, header};

/// The request is a cross-site (or cross-origin) request that changes something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "this request came from another website (by its Sec-Fetch-Site or Origin header); sign in on this node's own page"
)]
pub struct CrossSite;

/// `Err(CrossSite)` if a browser says this unsafe request comes from another origin.
pub fn check(method: &Method, headers: &HeaderMap) -> Result<(), CrossSite> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.to_str().map(str::trim) {
            Ok("same-origin" | "none") => Ok(()),
            _ => Err(CrossSite),
        };
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest);
    match (origin_host, host) {
        (Some(o), Some(h)) if !o.is_empty() && o.eq_ignore_ascii_case(h.trim()) => Ok(()),
        _ => Err(CrossSite),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn browsers_cross_site_posts_are_refused() {
        let post = Method::POST;
        let host = ("host", "127.0.0.2:8081");
        for ok in [
            vec![host, ("sec-fetch-site", "same-origin")],
            vec![host, ("sec-fetch-site", "none")],
            // A same-origin header wins over an Origin a proxy may have changed.
            vec![
                host,
                ("sec-fetch-site", "same-origin"),
                ("origin", "https://lotse.example"),
            ],
            vec![host, ("origin", "http://127.0.0.2:8081")],
            vec![host],
            vec![],
        ] {
            assert_eq!(check(&post, &headers(&ok)), Ok(()), "{ok:?}");
        }
        for bad in [
            vec![host, ("sec-fetch-site", "cross-site")],
            vec![host, ("sec-fetch-site", "same-site")],
            vec![
                host,
                ("sec-fetch-site", "cross-site"),
                ("origin", "http://127.0.0.2:8081"),
            ],
            vec![host, ("origin", "https://evil.example")],
            vec![host, ("origin", "http://127.0.0.2:8082")],
            vec![host, ("origin", "null")],
            vec![("origin", "http://127.0.0.2:8081")],
        ] {
            assert_eq!(check(&post, &headers(&bad)), Err(CrossSite), "{bad:?}");
        }
        let cross = headers(&[host, ("sec-fetch-site", "cross-site")]);
        assert_eq!(
            check(&Method::GET, &cross),
            Ok(()),
            "reading is not refused"
        );
    }
}
