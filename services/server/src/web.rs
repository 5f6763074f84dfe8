//! The browser client (`web/`, MapLibre GL JS bundled by esbuild) built into the binary:
//! `GET /` and `GET /app/app.js|app.css`. The bundle in `web/dist` is checked in, so building
//! the server needs no Node. Assets revalidate by ETag (the names carry no hash), and the
//! 1.6 MB script is gzipped once, on first request.

use std::io::Write;
use std::sync::OnceLock;

use axum::Router;
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

struct Asset {
    bytes: &'static [u8],
    content_type: &'static str,
    gzip: OnceLock<Vec<u8>>,
    etag: OnceLock<String>,
}

impl Asset {
    const fn new(bytes: &'static [u8], content_type: &'static str) -> Asset {
        Asset {
            bytes,
            content_type,
            gzip: OnceLock::new(),
            etag: OnceLock::new(),
        }
    }

    fn serve(&self, headers: &HeaderMap) -> Response {
        let etag = self.etag.get_or_init(|| {
            format!(
                "\"{:08x}-{}\"",
                crc32fast::hash(self.bytes),
                self.bytes.len()
            )
        });
        let gzip = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .any(|c| c.trim().starts_with("gzip") && !c.contains("q=0"))
            });
        let etag = if gzip {
            format!("{}-gz\"", etag.trim_end_matches('"'))
        } else {
            etag.clone()
        };
        let mut out = HeaderMap::new();
        out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        out.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        if let Ok(v) = HeaderValue::from_str(&etag) {
            out.insert(header::ETAG, v);
        }
        let matches = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .any(|t| t.trim().trim_start_matches("W/") == etag)
            });
        if matches {
            return (StatusCode::NOT_MODIFIED, out).into_response();
        }
        out.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        if gzip {
            let body = self.gzip.get_or_init(|| {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                gz.write_all(self.bytes).expect("writing to memory");
                gz.finish().expect("writing to memory")
            });
            out.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            (out, body.clone()).into_response()
        } else {
            (out, self.bytes).into_response()
        }
    }
}

static INDEX: Asset = Asset::new(
    include_bytes!("../../../web/dist/index.html"),
    "text/html; charset=utf-8",
);
static APP_JS: Asset = Asset::new(
    include_bytes!("../../../web/dist/app.js"),
    "text/javascript; charset=utf-8",
);
static APP_CSS: Asset = Asset::new(
    include_bytes!("../../../web/dist/app.css"),
    "text/css; charset=utf-8",
);

/// `/` and `/app/*`.
pub fn router() -> Router {
    Router::new()
        .route("/", get(|h: HeaderMap| async move { INDEX.serve(&h) }))
        .route(
            "/app/app.js",
            get(|h: HeaderMap| async move { APP_JS.serve(&h) }),
        )
        .route(
            "/app/app.css",
            get(|h: HeaderMap| async move { APP_CSS.serve(&h) }),
        )
}
