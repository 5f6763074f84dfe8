//! What every request and response passes through at the edge, whatever the service: a
//! request id, CORS for browsers on other origins, and compression of bodies worth it.
//!
//! The request id is taken from `x-request-id` when a proxy set a sane one, else made here;
//! it goes into the request's log span and back in the response's `x-request-id`, so a user's
//! report can be found in the logs. CORS is off unless `CORS_ALLOWED_ORIGINS` names origins:
//! browsers then may call the API from those pages (bearer tokens, never cookies, so no
//! credentials mode). Compression (gzip or brotli, as the client asks) applies to bodies of
//! at least [`COMPRESS_MIN_BYTES`] that are not already compressed.

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

/// Header carrying the request id both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Smallest body compressed: below about a kilobyte gzip's header and the CPU are not worth
/// the bytes saved.
pub const COMPRESS_MIN_BYTES: u16 = 1024;

/// Longest request id accepted from a client; longer or odd ones are replaced.
const MAX_CLIENT_ID_LEN: usize = 64;

/// Origins allowed to call the API from a browser: none (CORS off), any (`*`), or a list.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum CorsOrigins {
    #[default]
    Off,
    Any,
    List(Vec<HeaderValue>),
}

impl CorsOrigins {
    /// Parses `CORS_ALLOWED_ORIGINS`: empty (off), `*`, or comma-separated origins such as
    /// `https://app.example.com,http://localhost:5173` (scheme, host and optional port; no
    /// path, as browsers send them).
    pub fn parse(text: &str) -> Result<CorsOrigins, String> {
        let items: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if items.is_empty() {
            return Ok(CorsOrigins::Off);
        }
        if items == ["*"] {
            return Ok(CorsOrigins::Any);
        }
        items
            .iter()
            .map(|origin| parse_origin(origin))
            .collect::<Result<_, _>>()
            .map(CorsOrigins::List)
    }
}

fn parse_origin(origin: &str) -> Result<HeaderValue, String> {
    let bad = || {
        format!(
            "CORS_ALLOWED_ORIGINS: {origin:?} is not an origin such as https://app.example.com \
             (scheme://host[:port], no path; or * alone for any origin)"
        )
    };
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(bad)?;
    let host_ok = !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !host_ok {
        return Err(bad());
    }
    HeaderValue::from_str(origin).map_err(|_| bad())
}

/// Wraps `router` with the request id, access log, CORS and compression layers.
pub fn layers(router: Router, cors: &CorsOrigins) -> Router {
    let compress_when = SizeAbove::new(COMPRESS_MIN_BYTES)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE)
        .and(NotForContentType::const_new("application/gzip"))
        .and(NotForContentType::const_new("application/zip"))
        // A 101 (WebSocket upgrade), 204 or 304 has no body to compress.
        .and(|status: StatusCode, _: _, _: &_, _: &_| {
            !(status.is_informational()
                || status == StatusCode::NO_CONTENT
                || status == StatusCode::NOT_MODIFIED)
        });
    let mut router = router.layer(CompressionLayer::new().compress_when(compress_when));
    if let Some(cors) = cors_layer(cors) {
        router = router.layer(cors);
    }
    router
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let id = request
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                tracing::info_span!(
                    "request",
                    method = %request.method(),
                    uri = %request.uri(),
                    request_id = %id,
                )
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, SaneRequestId))
        .layer(axum::middleware::from_fn(screen_request_id))
}

fn cors_layer(origins: &CorsOrigins) -> Option<CorsLayer> {
    let allow = match origins {
        CorsOrigins::Off => return None,
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => AllowOrigin::list(list.iter().cloned()),
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_NONE_MATCH,
                REQUEST_ID,
            ])
            .expose_headers([
                header::RETRY_AFTER,
                header::ETAG,
                header::LOCATION,
                REQUEST_ID,
            ])
            .max_age(Duration::from_secs(3600)),
    )
}

/// Keeps a client's or proxy's `x-request-id` when it is short and plain, else makes one
/// (16 random hex digits): the id ends up in logs, so it must not carry a log injection.
#[derive(Clone, Copy)]
struct SaneRequestId;

impl MakeRequestId for SaneRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let id = format!("{:016x}", rand::random::<u64>());
        Some(RequestId::new(HeaderValue::from_str(&id).ok()?))
    }
}

/// Drops an incoming `x-request-id` that is too long or holds anything but letters, digits
/// and `-_.:`, so that [`SaneRequestId`] replaces it.
async fn screen_request_id(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let sane = request.headers().get(&REQUEST_ID).is_none_or(|v| {
        let b = v.as_bytes();
        !b.is_empty()
            && b.len() <= MAX_CLIENT_ID_LEN
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'))
    });
    if !sane {
        request.headers_mut().remove(&REQUEST_ID);
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_origins_parse_as_browsers_send_them() {
        assert_eq!(CorsOrigins::parse("").unwrap(), CorsOrigins::Off);
        assert_eq!(CorsOrigins::parse(" , ").unwrap(), CorsOrigins::Off);
        assert_eq!(CorsOrigins::parse("*").unwrap(), CorsOrigins::Any);
        assert_eq!(
            CorsOrigins::parse("https://app.example.com, http://localhost:5173").unwrap(),
            CorsOrigins::List(vec![
                HeaderValue::from_static("https://app.example.com"),
                HeaderValue::from_static("http://localhost:5173"),
            ])
        );
        for bad in [
            "app.example.com",
            "https://a.example/path",
            "ftp://x",
            "https://",
            "*,https://a.b",
        ] {
            let err = CorsOrigins::parse(bad).unwrap_err();
            assert!(err.contains("CORS_ALLOWED_ORIGINS"), "{bad}: {err}");
        }
    }
}
