//! What every response passes through at the edge: request ids, compression, CORS (off by
//! default, configured by `CORS_ALLOWED_ORIGINS`) and Swagger UI at `/docs` from the binary.

use std::io::Read;

use reqwest::header::{HeaderMap, HeaderValue};

use crate::both_backends;
use crate::helpers::{Backend, Options, spawn_app, spawn_app_with};

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn is_generated_id(id: Option<&str>) -> bool {
    id.is_some_and(|id| id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()))
}

async fn request_ids_and_compression(backend: Backend) {
    let app = spawn_app(backend).await;

    // A request id on every response, problem documents included: made here, or the
    // client's when it is plain; a long or odd one is replaced, as it ends up in the logs.
    let made = app.get("/healthz").await;
    assert!(
        is_generated_id(header(&made.headers, "x-request-id")),
        "{:?}",
        made.headers
    );
    let missing = app.get("/v1/no-such-route").await;
    assert_eq!(missing.status, 404);
    assert!(is_generated_id(header(&missing.headers, "x-request-id")));
    for (sent, kept) in [
        ("trace-7f3a:01.b_c", true),
        (&"x".repeat(65) as &str, false),
        ("has space", false),
        ("quote\"d", false),
    ] {
        let reply = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", sent)
            .send()
            .await
            .unwrap();
        let echoed = header(reply.headers(), "x-request-id").map(str::to_owned);
        if kept {
            assert_eq!(echoed.as_deref(), Some(sent));
        } else {
            assert!(is_generated_id(echoed.as_deref()), "{sent:?} -> {echoed:?}");
        }
    }

    // Bodies worth it are compressed as the client asks; the decoded body is the same.
    let plain = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(plain.headers(), "content-encoding"), None);
    let plain = plain.bytes().await.unwrap();
    assert!(
        plain.len() > 10_000,
        "the document is large: {}",
        plain.len()
    );
    let gzipped = app
        .client
        .get(app.url("/openapi.json"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(header(gzipped.headers(), "content-encoding"), Some("gzip"));
    assert_eq!(header(gzipped.headers(), "vary"), Some("accept-encoding"));
    let gzipped = gzipped.bytes().await.unwrap();
    assert!(
        gzipped.len() * 4 < plain.len(),
        "{} of {}",
        gzipped.len(),
        plain.len()
    );
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&gzipped[..])
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, plain);
    let brotli = app
        .client
        .get(app.url("/openapi.json"))
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(header(brotli.headers(), "content-encoding"), Some("br"));
    assert!(brotli.bytes().await.unwrap().len() * 4 < plain.len());
    // Small bodies are not worth it.
    let small = app
        .client
        .get(app.url("/healthz"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(header(small.headers(), "content-encoding"), None);
}

both_backends!(
    request_ids_and_compression_apply_everywhere,
    request_ids_and_compression
);

async fn preflight(app: &crate::helpers::TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, app.url("/v1/search/nearby"))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_is_off_by_default_and_follows_the_allowed_origins() {
    let off = spawn_app(Backend::Embedded).await;
    let reply = preflight(&off, "https://app.example.com").await;
    assert_eq!(header(reply.headers(), "access-control-allow-origin"), None);
    let reply = off
        .client
        .get(off.url("/healthz"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(header(reply.headers(), "access-control-allow-origin"), None);

    let on = spawn_app_with(
        Backend::Embedded,
        Options {
            cors_allowed_origins: kit::edge::CorsOrigins::parse(
                "https://app.example.com,http://localhost:5173",
            )
            .unwrap(),
            ..Options::default()
        },
    )
    .await;
    let reply = preflight(&on, "https://app.example.com").await;
    assert!(reply.status().is_success(), "{reply:?}");
    let headers = reply.headers();
    assert_eq!(
        header(headers, "access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert!(
        header(headers, "access-control-allow-headers")
            .is_some_and(|h| h.contains("authorization")),
        "{headers:?}"
    );
    assert_eq!(header(headers, "access-control-allow-credentials"), None);
    let stranger = preflight(&on, "https://evil.example.net").await;
    assert_eq!(
        header(stranger.headers(), "access-control-allow-origin"),
        None
    );

    // Real requests, errors included (a page must be able to read a 400's problem).
    let reply = on
        .client
        .get(on.url("/v1/search/nearby?latitude=91&longitude=0"))
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 400);
    assert_eq!(
        reply.headers().get("access-control-allow-origin"),
        Some(&HeaderValue::from_static("http://localhost:5173"))
    );
    assert!(
        header(reply.headers(), "access-control-expose-headers")
            .is_some_and(|h| h.contains("x-request-id") && h.contains("retry-after")),
        "{:?}",
        reply.headers()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_is_served_from_the_binary() {
    let app = spawn_app(Backend::Embedded).await;
    let page = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(header(page.headers(), "content-type").is_some_and(|t| t.starts_with("text/html")));
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // Every script and style it loads is local: a relative path, no CDN.
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-initializer.js",
    ] {
        assert!(html.contains(asset), "{asset} not referenced");
        let reply = app
            .client
            .get(app.url(&format!("/docs/{asset}")))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200, "{asset}");
        let body = reply.text().await.unwrap();
        assert!(body.len() > 100, "{asset}");
        if asset == "swagger-initializer.js" {
            assert!(body.contains("/openapi.json"), "{body}");
        }
    }
    assert!(!html.contains("://"), "an absolute URL in the page: {html}");
    // `/docs` itself leads to the page.
    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/docs"))
        .send()
        .await
        .unwrap();
    assert!(
        bare.status().is_redirection() || bare.status() == 200,
        "{bare:?}"
    );
}
