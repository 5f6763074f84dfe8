//! Nearby and nearest search against brute force, paging, filters and visibility.

use geo_core::LatLon;
use proximity::SearchEngine;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::dataset::{self, Point};
use crate::helpers::{Backend, Options, TestApp, spawn_app, spawn_app_with};

/// Every page of a nearby search: (total, [(id, distance)]).
async fn nearby_all_pages(app: &TestApp, query: &str) -> (u64, Vec<(i64, f64)>) {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    let mut total = None;
    loop {
        let mut path = format!("/v1/search/nearby?{query}&limit=100");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let reply = app.get(&path).await;
        assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
        let page_total = reply.body["total"].as_u64().unwrap();
        assert_eq!(
            *total.get_or_insert(page_total),
            page_total,
            "total changed between pages"
        );
        for b in reply.body["businesses"].as_array().unwrap() {
            out.push((b["id"].as_i64().unwrap(), b["distance_m"].as_f64().unwrap()));
        }
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    (total.unwrap_or(0), out)
}

fn assert_same_hits(got: &[(i64, f64)], expected: &[(i64, f64)], context: &str) {
    let got_ids: Vec<i64> = got.iter().map(|h| h.0).collect();
    let expected_ids: Vec<i64> = expected.iter().map(|h| h.0).collect();
    if got_ids != expected_ids {
        let first = got_ids.iter().zip(&expected_ids).position(|(a, b)| a != b);
        panic!(
            "{context}: {} results, expected {}; first difference at {first:?}",
            got_ids.len(),
            expected_ids.len()
        );
    }
    for (g, e) in got.iter().zip(expected) {
        assert!(
            (g.1 - e.1).abs() < 1e-6,
            "{context}: distance of {} is {} not {}",
            g.0,
            g.1,
            e.1
        );
    }
}

async fn loaded_app(backend: Backend, engine: SearchEngine) -> (TestApp, Vec<Point>) {
    let app = spawn_app_with(
        backend,
        Options {
            engine,
            ..Options::default()
        },
    )
    .await;
    let points = dataset::load(&app.backends.db, &dataset::generate(42)).await;
    app.publish().await;
    (app, points)
}

const RADII: [f64; 5] = [500.0, 1000.0, 2000.0, 5000.0, 20000.0];

/// 1,000 random centres at every radius: the service's answer equals brute force as a set and
/// in order, through every page.
async fn nearby_equals_brute_force(backend: Backend, engine: SearchEngine) {
    let (app, points) = loaded_app(backend, engine).await;
    for (r_index, radius) in RADII.iter().enumerate() {
        for (i, c) in dataset::centres(&points, *radius, 1000, 100 + r_index as u64)
            .into_iter()
            .enumerate()
        {
            let query = format!("latitude={}&longitude={}&radius={radius}", c.lat, c.lon);
            let (total, hits) = nearby_all_pages(&app, &query).await;
            let expected = dataset::brute_force(&points, c, *radius, None);
            let context = format!("{engine:?} centre {i} {query}");
            assert_eq!(total as usize, expected.len(), "{context}: total");
            assert_same_hits(&hits, &expected, &context);
        }
    }
}

async fn nearby_quadtree(backend: Backend) {
    nearby_equals_brute_force(backend, SearchEngine::Quadtree).await;
}
both_backends!(nearby_quadtree_equals_brute_force, nearby_quadtree);

async fn nearby_geohash(backend: Backend) {
    nearby_equals_brute_force(backend, SearchEngine::Geohash).await;
}
both_backends!(nearby_geohash_equals_brute_force, nearby_geohash);

/// Nearest-k equals brute-force top-k with ties by id; the category filter applies before the
/// limit.
async fn nearest_equals_brute_force(backend: Backend) {
    let (app, points) = loaded_app(backend, SearchEngine::Quadtree).await;
    for (i, c) in dataset::centres(&points, 5000.0, 300, 7)
        .into_iter()
        .enumerate()
    {
        for (k, category) in [(1, None), (10, None), (100, None), (25, Some("fuel"))] {
            let mut path = format!(
                "/v1/search/nearest?latitude={}&longitude={}&k={k}",
                c.lat, c.lon
            );
            if let Some(cat) = category {
                path.push_str(&format!("&category={cat}"));
            }
            let reply = app.get(&path).await;
            assert_eq!(reply.status, 200, "{path}: {:?}", reply.body);
            let got: Vec<(i64, f64)> = reply.body["businesses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| (b["id"].as_i64().unwrap(), b["distance_m"].as_f64().unwrap()))
                .collect();
            let mut expected = dataset::brute_force(&points, c, f64::INFINITY, category);
            expected.truncate(k);
            assert_same_hits(&got, &expected, &format!("centre {i} {path}"));
        }
    }
}
both_backends!(
    nearest_equals_brute_force_with_ties,
    nearest_equals_brute_force
);

/// Small pages through the dense city: every match exactly once, in order; category filters
/// apply before paging.
async fn paging_returns_each_match_once(backend: Backend) {
    let (app, points) = loaded_app(backend, SearchEngine::Quadtree).await;
    let centre = LatLon::new(60.175, 24.95).unwrap();
    for (category, limit) in [(None, 7), (Some("cafe"), 13), (None, 100)] {
        let expected = dataset::brute_force(&points, centre, 2000.0, category);
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!(
                "/v1/search/nearby?latitude=60.175&longitude=24.95&radius=2000&limit={limit}"
            );
            if let Some(cat) = category {
                path.push_str(&format!("&category={cat}"));
            }
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let reply = app.get(&path).await;
            assert_eq!(reply.status, 200);
            assert_eq!(
                reply.body["total"].as_u64().unwrap() as usize,
                expected.len()
            );
            let page = reply.body["businesses"].as_array().unwrap();
            assert!(page.len() <= limit);
            seen.extend(page.iter().map(|b| {
                assert!(category.is_none_or(|c| b["category"] == c));
                (b["id"].as_i64().unwrap(), b["distance_m"].as_f64().unwrap())
            }));
            match reply.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        assert_same_hits(&seen, &expected, &format!("paging {category:?} by {limit}"));
        let mut ids: Vec<i64> = seen.iter().map(|h| h.0).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), expected.len(), "duplicates across pages");
    }
}
both_backends!(paging_is_exact, paging_returns_each_match_once);

fn business(name: &str, lat: f64, lon: f64, hours: Option<&str>) -> Value {
    let mut body = json!({"name": name, "category": "cafe", "latitude": lat, "longitude": lon});
    if let Some(h) = hours {
        body["opening_hours"] = json!(h);
    }
    body
}

fn nearby_ids(body: &Value) -> Vec<i64> {
    body["businesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_i64().unwrap())
        .collect()
}

/// Writes are readable at once and searchable only after publication; both engines agree.
async fn visibility_follows_publication(backend: Backend) {
    for engine in [SearchEngine::Quadtree, SearchEngine::Geohash] {
        let app = spawn_app_with(
            backend,
            Options {
                engine,
                ..Options::default()
            },
        )
        .await;
        let owner = app.token(5);
        let search = "/v1/search/nearby?latitude=10.0&longitude=10.0&radius=1000";
        let created = app
            .send(
                Method::POST,
                "/v1/businesses",
                Some(&owner),
                Some(&business("A", 10.001, 10.0, None)),
            )
            .await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        let id = created.body["id"].as_i64().unwrap();
        assert_eq!(
            created.headers["location"].to_str().unwrap(),
            format!("/v1/businesses/{id}")
        );
        assert_eq!(app.get(&format!("/v1/businesses/{id}")).await.status, 200);
        assert_eq!(
            app.get(search).await.body["total"],
            0,
            "{engine:?}: visible before publication"
        );
        app.publish().await;
        assert_eq!(
            nearby_ids(&app.get(search).await.body),
            vec![id],
            "{engine:?}"
        );

        // Move it 50 km away: still found at the old place until the next publication.
        let moved = app
            .send(
                Method::PUT,
                &format!("/v1/businesses/{id}"),
                Some(&owner),
                Some(&business("A", 10.5, 10.0, None)),
            )
            .await;
        assert_eq!(moved.status, 200);
        assert_eq!(
            app.get(&format!("/v1/businesses/{id}")).await.body["latitude"],
            10.5
        );
        assert_eq!(nearby_ids(&app.get(search).await.body), vec![id]);
        app.publish().await;
        assert!(
            nearby_ids(&app.get(search).await.body).is_empty(),
            "{engine:?}: stale after move"
        );
        let far = "/v1/search/nearby?latitude=10.5&longitude=10.0&radius=500";
        assert_eq!(nearby_ids(&app.get(far).await.body), vec![id]);

        // Delete: gone from search at the next publication.
        let deleted = app
            .send(
                Method::DELETE,
                &format!("/v1/businesses/{id}"),
                Some(&owner),
                None,
            )
            .await;
        assert_eq!(deleted.status, 204);
        assert_eq!(app.get(&format!("/v1/businesses/{id}")).await.status, 404);
        assert_eq!(nearby_ids(&app.get(far).await.body), vec![id]);
        let published = app.publish().await;
        assert_eq!(published["removed"], 1);
        assert!(nearby_ids(&app.get(far).await.body).is_empty());
    }
}
both_backends!(
    visibility_follows_publication_test,
    visibility_follows_publication
);

/// `category` and `open_now` filter before counting and paging.
async fn filters_apply(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.token(9);
    let mut ids = Vec::new();
    for (name, hours) in [
        ("always", Some("24/7")),
        ("never", Some("off")),
        ("unknown", None),
    ] {
        let reply = app
            .send(
                Method::POST,
                "/v1/businesses",
                Some(&owner),
                Some(&business(name, 20.0, 20.0, hours)),
            )
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        ids.push(reply.body["id"].as_i64().unwrap());
    }
    let mut fuel = business("station", 20.0001, 20.0, None);
    fuel["category"] = json!("fuel");
    assert_eq!(
        app.send(Method::POST, "/v1/businesses", Some(&owner), Some(&fuel))
            .await
            .status,
        201
    );
    app.publish().await;
    let base = "/v1/search/nearby?latitude=20.0&longitude=20.0&radius=100";
    assert_eq!(app.get(base).await.body["total"], 4);
    let open = app.get(&format!("{base}&open_now=true")).await;
    assert_eq!(open.body["total"], 1);
    assert_eq!(nearby_ids(&open.body), vec![ids[0]]);
    let cafes = app.get(&format!("{base}&category=cafe")).await;
    assert_eq!(cafes.body["total"], 3);
    let nearest_fuel = app
        .get("/v1/search/nearest?latitude=20.0&longitude=20.0&k=1&category=fuel")
        .await;
    assert_eq!(nearest_fuel.body["businesses"][0]["name"], "station");
    let unknown = app.get(&format!("{base}&category=spaceport")).await;
    assert_eq!(unknown.body["total"], 0);
}
both_backends!(category_and_open_now_filters, filters_apply);

/// On first start with an empty store, the sample extract is imported and published, so search
/// answers out of the box; a second start leaves the data alone.
async fn sample_data_on_first_start(backend: Backend) {
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/helsinki.osm.pbf");
    let app = spawn_app_with(
        backend,
        Options {
            sample_data: Some(sample),
            ..Options::default()
        },
    )
    .await;
    let reply = app
        .get("/v1/search/nearby?latitude=60.1699&longitude=24.9384&radius=1000")
        .await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.body["total"].as_u64().unwrap() > 100,
        "{:?}",
        reply.body["total"]
    );
    let first = &reply.body["businesses"][0];
    let detail = app.get(&format!("/v1/businesses/{}", first["id"])).await;
    assert_eq!(detail.status, 200);
    assert_eq!(detail.body["name"], first["name"]);
    let before = app.count_businesses().await;
    assert!(before > 1000);
    // Re-running the seeding on a store with data is a no-op.
    let state = proximity::AppState::build(
        app.backends.clone(),
        proximity::ProximityConfig {
            sample_data: std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../data/helsinki.osm.pbf"),
            index_refresh_at: "off".into(),
            ..proximity::ProximityConfig::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(app.count_businesses().await, before);
    assert_eq!(state.snapshot().len() as i64, before);
}
both_backends!(sample_data_loads_on_first_start, sample_data_on_first_start);

/// Two instances on one PostgreSQL + Redis: a publication made through one goes live on the
/// other at its next poll, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_instances_pick_up_a_publication() {
    let url = crate::helpers::fresh_postgres_database(&crate::helpers::test_database_url()).await;
    let options = Options {
        database_url: Some(url),
        index_poll_interval_s: 1,
        ..Options::default()
    };
    let first = spawn_app_with(Backend::Postgres, options.clone()).await;
    let second = spawn_app_with(Backend::Postgres, options).await;
    let search = "/v1/search/nearby?latitude=30.0&longitude=30.0&radius=500";
    let created = first
        .send(
            Method::POST,
            "/v1/businesses",
            Some(&first.token(8)),
            Some(&business("B", 30.0, 30.0, None)),
        )
        .await;
    assert_eq!(created.status, 201);
    let id = created.body["id"].as_i64().unwrap();
    first.publish().await;
    assert_eq!(nearby_ids(&first.get(search).await.body), vec![id]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while nearby_ids(&second.get(search).await.body) != vec![id] {
        assert!(
            std::time::Instant::now() < deadline,
            "second instance never picked it up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
