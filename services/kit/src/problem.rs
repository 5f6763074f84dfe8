//! RFC 9457 problem documents: the one error shape of every endpoint.
//!
//! `type` is a stable code under `/problems/` that clients may match on; `detail` is for
//! humans. Internal causes are logged once and never sent to the client.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub type ApiResult<T> = Result<T, ApiError>;

/// The stable codes clients match on: the last segment of a problem's `type`
/// (`/problems/{code}`) and the `code` of a WebSocket error frame. One list, so the two
/// transports cannot drift apart.
pub mod code {
    /// A query or path parameter that is missing, does not parse or is out of range.
    pub const INVALID_PARAMETER: &str = "invalid-parameter";
    /// A body (or WebSocket message) that does not parse or holds a field out of range.
    pub const INVALID_BODY: &str = "invalid-body";
    /// Free text holding control characters ([`crate::text`]).
    pub const INVALID_TEXT: &str = "invalid-text";
    /// Google's `INVALID_REQUEST`, for the Google-shaped navigation endpoints.
    pub const INVALID_REQUEST: &str = "invalid-request";
    /// A WebSocket message that needs the connection's `init` first.
    pub const INIT_REQUIRED: &str = "init-required";
    pub const UNAUTHORIZED: &str = "unauthorized";
    pub const FORBIDDEN: &str = "forbidden";
    pub const NOT_FOUND: &str = "not-found";
    pub const METHOD_NOT_ALLOWED: &str = "method-not-allowed";
    pub const CONFLICT: &str = "conflict";
    pub const PAYLOAD_TOO_LARGE: &str = "payload-too-large";
    pub const UNPROCESSABLE: &str = "unprocessable";
    pub const RATE_LIMITED: &str = "rate-limited";
    pub const TOO_MANY_CONNECTIONS: &str = "too-many-connections";
    pub const DEPENDENCY_UNAVAILABLE: &str = "dependency-unavailable";
    pub const TIMED_OUT: &str = "timed-out";
    pub const INTERNAL: &str = "internal";
    /// Answered by the connection layer before any route: see `serve::connection`.
    pub const MALFORMED_REQUEST: &str = "malformed-request";
    pub const URI_TOO_LONG: &str = "uri-too-long";
    pub const HEADERS_TOO_LARGE: &str = "headers-too-large";

    /// A problem's `type` for `code`.
    pub fn problem_type(code: &str) -> String {
        format!("/problems/{code}")
    }
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 with a stable code (e.g. `invalid-parameter`) and a detail naming the field.
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("rate limited")]
    RateLimited { retry_after: Duration },
    /// A connection beyond a cap: the client's own (429) or the server's (503).
    #[error("{detail}")]
    TooManyConnections { from_client: bool, detail: String },
    /// A dependency (database, cache, pub/sub) is down.
    #[error("{dependency} is unavailable")]
    Unavailable {
        dependency: &'static str,
        retry_after: Duration,
    },
    /// The request took longer than [`REQUEST_TIMEOUT`] (503 `/problems/timed-out`).
    #[error("the request took longer than {} s; retry later", .0.as_secs())]
    TimedOut(Duration),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Longest a request may take: past it, [`time_limit`] answers 503 `/problems/timed-out`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Middleware that cuts a request off after `limit` (the handler's future is dropped) and
/// answers it with a 503 problem document, `/problems/timed-out`, and `Retry-After`:
/// `axum::middleware::from_fn_with_state(REQUEST_TIMEOUT, time_limit)`. (tower-http's
/// `TimeoutLayer` answers with an empty body, which no client can tell from a proxy's.)
pub async fn time_limit(
    axum::extract::State(limit): axum::extract::State<Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(limit_s = limit.as_secs_f64(), "request timed out");
            ApiError::TimedOut(limit).into_response()
        }
    }
}

impl ApiError {
    pub fn bad_request(detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code: code::INVALID_PARAMETER,
            detail: detail.into(),
        }
    }

    pub fn invalid_body(detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code: code::INVALID_BODY,
            detail: detail.into(),
        }
    }

    pub fn unavailable(dependency: &'static str) -> Self {
        ApiError::Unavailable {
            dependency,
            retry_after: Duration::from_secs(5),
        }
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::TooManyConnections {
                from_client: true, ..
            } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::TooManyConnections { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unavailable { .. } | ApiError::TimedOut(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code of this error ([`code`]): `type` is `/problems/{code}`.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } => code,
            ApiError::Unauthorized(_) => code::UNAUTHORIZED,
            ApiError::Forbidden(_) => code::FORBIDDEN,
            ApiError::NotFound(_) => code::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => code::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => code::CONFLICT,
            ApiError::PayloadTooLarge(_) => code::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable(_) => code::UNPROCESSABLE,
            ApiError::RateLimited { .. } => code::RATE_LIMITED,
            ApiError::TooManyConnections { .. } => code::TOO_MANY_CONNECTIONS,
            ApiError::Unavailable { .. } => code::DEPENDENCY_UNAVAILABLE,
            ApiError::TimedOut(_) => code::TIMED_OUT,
            ApiError::Internal(_) => code::INTERNAL,
        }
    }
}

/// An RFC 9457 problem document (`application/problem+json`): the body of every error
/// answer, from a handler or from the server's own layers.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(examples(json!({
    "type": "/problems/invalid-parameter",
    "title": "Bad Request",
    "status": 400,
    "detail": "latitude must be within [-90, 90]"
})))]
pub struct Problem {
    /// Stable code that clients may match on, e.g. `/problems/not-found`.
    #[serde(rename = "type")]
    #[schema(pattern = "^/problems/[a-z][a-z-]*$")]
    pub kind: String,
    /// The status's reason phrase, e.g. `Not Found`.
    pub title: String,
    /// The HTTP status of the answer.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What went wrong, for people; never an internal cause.
    pub detail: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let detail = match &self {
            ApiError::Internal(err) => {
                tracing::error!(error = ?err, "internal error");
                "an internal error occurred; it has been logged".to_string()
            }
            ApiError::Unavailable { dependency, .. } => {
                tracing::warn!(dependency, "dependency unavailable");
                format!("{dependency} is unavailable; retry later")
            }
            other => other.to_string(),
        };
        let problem = Problem {
            kind: code::problem_type(self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        let retry_after = match &self {
            ApiError::RateLimited { retry_after } | ApiError::Unavailable { retry_after, .. } => {
                Some(*retry_after)
            }
            ApiError::TooManyConnections { .. } => Some(Duration::from_secs(1)),
            ApiError::TimedOut(_) => Some(Duration::from_secs(5)),
            _ => None,
        };
        if let Some(retry_after) = retry_after {
            let secs = retry_after.as_secs().max(1).to_string();
            if let Ok(value) = HeaderValue::from_str(&secs) {
                headers.insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    /// Connection-level failures mean the database is down (503); anything else is a bug.
    fn from(err: sqlx::Error) -> Self {
        if crate::db::is_unavailable(&err) {
            tracing::warn!(error = %err, "database unavailable");
            ApiError::unavailable("database")
        } else {
            ApiError::Internal(err.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    async fn answer(handler_sleeps: Duration) -> (StatusCode, Option<String>, Problem) {
        let router = axum::Router::new()
            .route(
                "/",
                axum::routing::get(move || async move {
                    tokio::time::sleep(handler_sleeps).await;
                    ApiError::NotFound("slow".into())
                }),
            )
            .layer(axum::middleware::from_fn_with_state(
                Duration::from_millis(50),
                time_limit,
            ));
        let request = axum::http::Request::get("/")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, retry_after, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn a_request_over_the_time_limit_gets_a_problem_document() {
        let (status, retry_after, problem) = answer(Duration::from_secs(5)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry_after.as_deref(), Some("5"));
        assert_eq!(problem.kind, "/problems/timed-out");
        assert_eq!(problem.status, 503);
        // A quick one is untouched.
        let (status, _, problem) = answer(Duration::ZERO).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(problem.kind, "/problems/not-found");
    }
}
