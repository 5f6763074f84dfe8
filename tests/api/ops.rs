//! `/healthz`, `/readyz`, `/metrics`, `/openapi.json`.

use crate::both_backends;
use crate::helpers::{Backend, assert_problem, spawn_app};

async fn ops_endpoints(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "ok");

    let published = app.publish().await;
    let status = app.get("/v1/admin/index").await;
    assert_eq!(status.status, 200);
    assert_eq!(status.body["version"], published["version"]);
    assert_eq!(status.body["search_engine"], "quadtree");
    assert!(status.body["index_bytes"].is_u64());
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200, "{:?}", ready.body);
    assert_eq!(ready.body["status"], "ok");
    for check in ["database", "cache", "proximity_index"] {
        assert_eq!(ready.body["checks"][check]["status"], "ok", "{check}");
    }

    app.get("/v1/search/nearby?latitude=1&longitude=1").await;
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains("route=\"/v1/search/nearby\""), "{text}");

    let openapi = app.get("/openapi.json").await;
    assert_eq!(openapi.status, 200);
    assert!(openapi.body["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/search/nearby",
        "/v1/search/nearest",
        "/v1/businesses",
        "/v1/businesses/{id}",
        "/v1/admin/index/refresh",
    ] {
        assert!(
            openapi.body["paths"][path].is_object(),
            "{path} missing from openapi"
        );
    }

    assert_problem(&app.get("/v1/nothing-here").await, 404, "unknown route");
    let wrong_method = app
        .send(reqwest::Method::PATCH, "/v1/search/nearby", None, None)
        .await;
    assert_problem(&wrong_method, 405, "wrong method");
    // A token in the query string is honoured only on WebSocket upgrades.
    let token = app.token(77);
    let via_query = app
        .send(
            reqwest::Method::POST,
            &format!("/v1/admin/index/refresh?token={token}"),
            None,
            None,
        )
        .await;
    assert_problem(&via_query, 401, "query token on plain request");
}
both_backends!(ops_endpoints_answer, ops_endpoints);

/// `RATE_LIMIT_PER_IP` limits anonymous requests per client with 429 and `Retry-After`.
#[tokio::test]
async fn per_ip_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut common = kit::config::CommonConfig::embedded(dir.path().to_path_buf());
    common.rate_limit_per_ip = 3;
    let config = geostack::app::ServerConfig {
        common,
        proximity: proximity::ProximityConfig {
            sample_data: Default::default(),
            index_refresh_at: "off".into(),
            ..Default::default()
        },
        friends: friends::FriendsConfig::default(),
        navigation: navigation::NavigationConfig {
            sample_data: Default::default(),
            ..Default::default()
        },
    };
    let app = geostack::app::App::build(config, geostack::app::ALL_SERVICES)
        .await
        .unwrap();
    let url = format!(
        "http://127.0.0.1:{}/v1/search/nearby?latitude=1&longitude=1",
        app.port()
    );
    let health = format!("http://127.0.0.1:{}/healthz", app.port());
    tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..6 {
        // Carrying an (unchecked) Authorization header must not exempt a client.
        let mut request = client.get(&url);
        if i % 2 == 1 {
            request = request.bearer_auth("anything");
        }
        statuses.push(request.send().await.unwrap());
    }
    let limited = statuses.iter().filter(|r| r.status() == 429).count();
    assert!(
        limited >= 2,
        "{:?}",
        statuses.iter().map(|r| r.status()).collect::<Vec<_>>()
    );
    let first_limited = statuses.iter().find(|r| r.status() == 429).unwrap();
    assert!(first_limited.headers().contains_key("retry-after"));
    assert_eq!(
        first_limited.headers()["content-type"],
        "application/problem+json"
    );
    // Ops endpoints are never limited.
    for _ in 0..10 {
        assert_eq!(client.get(&health).send().await.unwrap().status(), 200);
    }
}
