//! [`ApiJson`]: the JSON body extractor every API handler uses instead of `axum::Json`.
//!
//! axum's own rejections are plain text; ours are the API's `{"error": "..."}` with the
//! decoder's message (which field, which line), so a client sees what to fix. Bad input
//! is refused before a handler runs, so it cannot change stored data (invariant 7).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, OptionalFromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::ApiError;

/// A JSON request body of type `T`; a body that does not fit gives a clear 400.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

/// Turns axum's JSON rejection into an API error that says what to do.
pub fn json_rejection(rejection: JsonRejection) -> ApiError {
    let cause = std::error::Error::source(&rejection)
        .map(|e| e.to_string())
        .unwrap_or_else(|| rejection.body_text());
    match rejection {
        JsonRejection::JsonDataError(_) => ApiError::bad_request(format!(
            "the request body does not fit this request: {cause}"
        )),
        JsonRejection::JsonSyntaxError(_) => {
            ApiError::bad_request(format!("the request body is not valid JSON: {cause}"))
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the request body as JSON with the header `Content-Type: application/json`",
        ),
        other => ApiError::new(
            other.status(),
            format!("the request body could not be read: {}", other.body_text()),
        ),
    }
}

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        <Json<T> as FromRequest<S>>::from_request(req, state)
            .await
            .map(|Json(v)| ApiJson(v))
            .map_err(json_rejection)
    }
}

/// `Option<ApiJson<T>>`: `None` when the request has no `Content-Type` (an empty body),
/// for endpoints whose body is optional; otherwise parsed like [`ApiJson`].
impl<T, S> OptionalFromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, ApiError> {
        if !req.headers().contains_key(header::CONTENT_TYPE) {
            return Ok(None);
        }
        <Self as FromRequest<S>>::from_request(req, state)
            .await
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;

    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Login {
        username: String,
        password: String,
    }

    async fn extract(content_type: Option<&str>, body: &str) -> Result<Login, ApiError> {
        let mut req = Request::builder().method("POST").uri("/");
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let req = req.body(Body::from(body.to_string())).unwrap();
        <ApiJson<Login> as FromRequest<()>>::from_request(req, &())
            .await
            .map(|j| j.0)
    }

    #[tokio::test]
    async fn rejections_say_what_is_wrong() {
        let json = Some("application/json");
        assert!(
            extract(json, r#"{"username":"a","password":"b"}"#)
                .await
                .is_ok()
        );
        let e = extract(json, r#"{"username":"a"}"#).await.unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(
            e.message.contains("missing field `password`"),
            "{}",
            e.message
        );
        let e = extract(json, r#"{"username": "#).await.unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("not valid JSON"), "{}", e.message);
        let e = extract(None, "{}").await.unwrap_err();
        assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(e.message.contains("Content-Type: application/json"));
    }
}
