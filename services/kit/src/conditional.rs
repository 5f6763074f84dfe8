//! Content negotiation and revalidation for handlers that serve stored bytes themselves
//! (map tiles, the web client): whether the client takes gzip as stored, and whether its
//! `If-None-Match` already names the representation.

use axum::http::HeaderMap;
use axum::http::header;

/// Whether `Accept-Encoding` accepts gzip (by name or `*`, with a quality above zero).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// Whether `If-None-Match` names `etag` or `*` (weak comparison, as RFC 9110 asks for it).
pub fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn gzip_is_accepted_unless_refused() {
        let gzip = |v: &str| accepts_gzip(&with(header::ACCEPT_ENCODING, v));
        assert!(gzip("gzip, deflate, br"));
        assert!(gzip("br;q=1.0, gzip;q=0.8"));
        assert!(gzip("*"));
        assert!(!gzip("gzip;q=0"));
        assert!(!gzip("identity"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let h = with(header::IF_NONE_MATCH, "\"a\", W/\"b\"");
        assert!(not_modified(&h, "\"a\""));
        assert!(not_modified(&h, "\"b\""));
        assert!(!not_modified(&h, "\"c\""));
        assert!(not_modified(&with(header::IF_NONE_MATCH, "*"), "\"c\""));
    }
}
