//! The location service and live traffic, both backends: `POST /v1/locations` refuses bad
//! batches whole and stores nothing of them; fixes driven along a real route on the sample
//! extract reach the history and become live segments in `GET /v1/traffic` at the speed
//! they were driven.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use geostack::app::Service;
use navigation::NavigationConfig;
use navigation::directions::decode_polyline;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, Options, TestApp, assert_problem, spawn_app_with};

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/helsinki.osm.pbf")
}

async fn traffic_app(backend: Backend, batch_interval_ms: u64) -> TestApp {
    spawn_app_with(
        backend,
        Options {
            services: &[Service::Navigation],
            navigation: Some(NavigationConfig {
                sample_data: sample(),
                location_batch_min_interval_ms: batch_interval_ms,
                ..NavigationConfig::default()
            }),
            ..Options::default()
        },
    )
    .await
}

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

async fn history_count(app: &TestApp) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM traffic_fixes")
        .fetch_one(&app.backends.db.pool)
        .await
        .unwrap();
    n
}

fn fix(lat: f64, lon: f64, t: f64) -> Value {
    json!({"latitude": lat, "longitude": lon, "timestamp": t})
}

async fn post(app: &TestApp, token: Option<&str>, body: &Value) -> crate::helpers::Reply {
    app.send(reqwest::Method::POST, "/v1/locations", token, Some(body))
        .await
}

async fn bad_batches_are_refused_whole(backend: Backend) {
    let app = traffic_app(backend, 1_000).await;
    let token = app.token(7);
    let now = now_s();
    let good = |i: usize| fix(60.17, 24.94 + i as f64 * 1e-4, now - 30.0 + i as f64);
    let mut bad: Vec<(&str, Value)> = Vec::new();
    let mut with = |what: &'static str, i: usize, field: &str, value: Value| {
        let mut locations: Vec<Value> = (0..5).map(good).collect();
        locations[i][field] = value;
        bad.push((what, json!({"locations": locations})));
    };
    with("latitude", 2, "latitude", json!(91.0));
    with("longitude", 4, "longitude", json!(-180.5));
    with("future", 3, "timestamp", json!(now + 120.0));
    with("old", 0, "timestamp", json!(now - 3_700.0));
    with("order", 3, "timestamp", json!(now - 100.0));
    with("speed", 1, "speed_mps", json!(-1.0));
    with("heading", 1, "heading_deg", json!(360.0));
    with("accuracy", 1, "accuracy_m", json!(0.0));
    with("type", 1, "latitude", json!("sixty"));
    with("unknown field", 1, "altitude", json!(12.0));
    bad.push(("empty", json!({"locations": []})));
    bad.push(("mode", json!({"mode": "flying", "locations": [good(0)]})));
    bad.push((
        "too many",
        json!({"locations": (0..1_001).map(|i| fix(60.17, 24.94, now - 1_001.0 + i as f64)).collect::<Vec<_>>()}),
    ));
    bad.push(("no locations", json!({"mode": "driving"})));
    for (what, body) in &bad {
        let reply = post(&app, Some(&token), body).await;
        assert_problem(&reply, 400, what);
    }
    let unauthenticated = post(&app, None, &json!({"locations": [good(0)]})).await;
    assert_problem(&unauthenticated, 401, "no token");
    // Nothing of any refused batch was stored.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(history_count(&app).await, 0);

    // A good batch is accepted whole; a second one within the interval is rate limited.
    let body = json!({"locations": (0..5).map(good).collect::<Vec<_>>()});
    let reply = post(&app, Some(&token), &body).await;
    assert_eq!(reply.status, 202, "{:?}", reply.body);
    assert_eq!(reply.body["accepted"], 5);
    let again = post(&app, Some(&token), &body).await;
    assert_problem(&again, 429, "second batch within a second");
    assert!(again.headers.contains_key("retry-after"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while history_count(&app).await < 5 {
        assert!(Instant::now() < deadline, "history never got the batch");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(history_count(&app).await, 5);
}
both_backends!(bad_batches, bad_batches_are_refused_whole);

/// Points every `step_m` along a polyline, as (lat, lng).
fn resample(points: &[(f64, f64)], step_m: f64) -> Vec<(f64, f64)> {
    let mut out = vec![points[0]];
    let mut carried = 0.0;
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        let d = geo_core::haversine_m(
            geo_core::LatLon::clamped(a.0, a.1),
            geo_core::LatLon::clamped(b.0, b.1),
        );
        let mut at = step_m - carried;
        while at <= d {
            let t = at / d;
            out.push((a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)));
            at += step_m;
        }
        carried = (carried + d) % step_m;
    }
    out
}

async fn driven_route_becomes_live_traffic(backend: Backend) {
    let app = traffic_app(backend, 0).await;
    // A driving route across central Helsinki.
    let reply = app
        .get("/v1/nav?origin=60.1699,24.9384&destination=60.1841,24.9509&mode=driving")
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let points: Vec<(f64, f64)> = decode_polyline(
        reply.body["routes"][0]["overview_polyline"]["points"]
            .as_str()
            .unwrap(),
    )
    .unwrap()
    .into_iter()
    .map(|p| (p.lat, p.lon))
    .collect();
    // Three drivers at 18 km/h (5 m/s), a fix a second, in 15 s batches, all ending now.
    let positions = resample(&points, 5.0);
    let now = now_s();
    let start = now - positions.len() as f64 - 5.0;
    let mut sent = 0;
    for user in 1..=3i64 {
        let token = app.token(100 + user);
        for (b, chunk) in positions.chunks(15).enumerate() {
            let locations: Vec<Value> = chunk
                .iter()
                .enumerate()
                .map(|(i, &(lat, lon))| {
                    fix(lat, lon, start + (b * 15 + i) as f64 + user as f64 * 0.1)
                })
                .collect();
            let reply = post(&app, Some(&token), &json!({"locations": locations})).await;
            assert_eq!(reply.status, 202, "{:?}", reply.body);
            sent += chunk.len();
        }
    }
    // Everything reaches the history, and the route's roads turn up as live segments.
    let deadline = Instant::now() + Duration::from_secs(60);
    let segments = loop {
        let traffic = app.get("/v1/traffic?bbox=24.93,60.16,24.96,60.19").await;
        assert_eq!(traffic.status, 200, "{:?}", traffic.body);
        let features = traffic.body["features"].as_array().unwrap().clone();
        if features.len() >= 5 && history_count(&app).await == sent as i64 {
            break features;
        }
        assert!(
            Instant::now() < deadline,
            "live traffic never appeared: {} segments, {} of {sent} fixes in history",
            features.len(),
            history_count(&app).await
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for f in &segments {
        let p = &f["properties"];
        assert_eq!(f["geometry"]["type"], "LineString");
        assert!(p["samples"].as_u64().unwrap() >= 3, "{p}");
        let speed = p["speed_kmh"].as_f64().unwrap();
        // Driven at 18 km/h; matching and short edges blur it a little.
        assert!(
            (8.0..=30.0).contains(&speed),
            "segment at {speed} km/h: {p}"
        );
        let congestion = p["congestion"].as_f64().unwrap();
        let free = p["free_flow_kmh"].as_f64().unwrap();
        assert!((congestion - speed / free).abs() < 0.01, "{p}");
    }
    departures_and_live_tiles(&app).await;
    // Outside the box: nothing; a bad box: 400.
    let empty = app.get("/v1/traffic?bbox=0,0,1,1").await;
    assert_eq!(empty.body["features"].as_array().unwrap().len(), 0);
    assert_problem(
        &app.get("/v1/traffic?bbox=1,2,3").await,
        400,
        "three numbers",
    );
    assert_problem(&app.get("/v1/traffic").await, 400, "no bbox");
}
both_backends!(driven_route, driven_route_becomes_live_traffic);

/// With live traffic on the central route: `departure_time` and the live tiles.
async fn departures_and_live_tiles(app: &TestApp) {
    // Routes leaving now take the crawl into account; without a departure time there is
    // no duration in traffic (as Google); a departure in the past is refused.
    let route = "/v1/nav?origin=60.1699,24.9384&destination=60.1841,24.9509&mode=driving";
    let plain = app.get(route).await;
    assert!(
        plain.body["routes"][0]["legs"][0]
            .get("duration_in_traffic")
            .is_none()
    );
    let live = app.get(&format!("{route}&departure_time=now")).await;
    assert_eq!(live.status, 200, "{:?}", live.body);
    let leg = &live.body["routes"][0]["legs"][0];
    let free = leg["duration"]["value"].as_u64().unwrap();
    let in_traffic = leg["duration_in_traffic"]["value"].as_u64().unwrap();
    assert!(
        in_traffic > free,
        "{in_traffic} s in traffic, {free} s free flow"
    );
    let later = app
        .get(&format!(
            "{route}&departure_time={}",
            now_s() as u64 + 7 * 86_400 + 7_200
        ))
        .await;
    let leg = &later.body["routes"][0]["legs"][0];
    assert!(
        leg["duration_in_traffic"]["value"].as_u64().is_some(),
        "{leg}"
    );
    let past = app
        .get(&format!(
            "{route}&departure_time={}",
            now_s() as u64 - 3_600
        ))
        .await;
    assert_problem(&past, 400, "departure in the past");
    let walking = app
        .get("/v1/nav?origin=60.1699,24.9384&destination=60.1841,24.9509&mode=walking&departure_time=now")
        .await;
    assert!(
        walking.body["routes"][0]["legs"][0]
            .get("duration_in_traffic")
            .is_none()
    );

    // The live layer as vector tiles: the route's roads are drawn at zoom 14.
    let tile = maptiles::TileId::containing(60.1699, 24.9384, 14);
    let reply = app
        .client
        .get(app.url(&format!("/traffic/{}/{}/{}.mvt", tile.z, tile.x, tile.y)))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert!(
        reply.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=10")
    );
    let bytes = reply.bytes().await.unwrap();
    let decoded = maptiles::mvt::decode(&bytes).unwrap();
    let layer = decoded
        .layers
        .iter()
        .find(|l| l.name == "traffic")
        .expect("traffic layer");
    maptiles::mvt::check_layer(layer).unwrap();
    assert!(!layer.features.is_empty());
    let low = app
        .client
        .get(app.url("/traffic/5/18/9.mvt"))
        .send()
        .await
        .unwrap();
    assert_eq!(low.status(), 200);
    let low = maptiles::mvt::decode(&low.bytes().await.unwrap()).unwrap();
    assert!(low.layers.is_empty(), "nothing is drawn below zoom 8");
    let outside = app
        .client
        .get(app.url("/traffic/3/8/9.pbf.x"))
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 404);
}

/// Fixes along the sample's central route, as batches of 15 one-second fixes for `users`
/// drivers at 5 m/s ending now.
async fn route_batches(app: &TestApp, users: i64) -> Vec<navigation::traffic::fixes::FixBatch> {
    use navigation::traffic::fixes::{Fix, FixBatch};
    let reply = app
        .get("/v1/nav?origin=60.1699,24.9384&destination=60.1841,24.9509&mode=driving")
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let points: Vec<(f64, f64)> = decode_polyline(
        reply.body["routes"][0]["overview_polyline"]["points"]
            .as_str()
            .unwrap(),
    )
    .unwrap()
    .into_iter()
    .map(|p| (p.lat, p.lon))
    .collect();
    let positions = resample(&points, 5.0);
    let start = now_s() - positions.len() as f64 - 5.0;
    let mut batches = Vec::new();
    for user in 1..=users {
        for (b, chunk) in positions.chunks(15).enumerate() {
            batches.push(FixBatch {
                user_id: 200 + user,
                mode: routing::Mode::Driving,
                received_ms: (now_s() * 1000.0) as i64,
                fixes: chunk
                    .iter()
                    .enumerate()
                    .map(|(i, &(lat, lon))| Fix {
                        latitude: lat,
                        longitude: lon,
                        timestamp: start + (b * 15 + i) as f64 + user as f64 * 0.1,
                        speed_mps: None,
                        heading_deg: None,
                        accuracy_m: None,
                    })
                    .collect(),
            });
        }
    }
    batches
}

/// At-least-once against the real servers: an instance takes half the stream, writes part
/// of it to the history and the traffic state, and dies without acknowledging anything. A
/// second instance claims what it left: every fix is in the history exactly once and every
/// traversal is counted exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_dying_mid_stream_loses_and_doubles_nothing() {
    use navigation::traffic::updater;
    let tiles = tempfile::tempdir().unwrap();
    let database =
        crate::helpers::fresh_postgres_database(&crate::helpers::test_database_url()).await;
    let prefix = format!("traffic{}", rand::random::<u32>());
    let config = NavigationConfig {
        sample_data: sample(),
        tiles_url: Some(tiles.path().display().to_string()),
        traffic_claim_idle_ms: 1_000,
        ..NavigationConfig::default()
    };
    // The instance that will die: built, never started (no updater of its own).
    let data = tempfile::tempdir().unwrap();
    let mut common = kit::config::CommonConfig::embedded(data.path().to_path_buf());
    common.database_url = Some(database.clone());
    common.redis_url = Some(crate::helpers::test_redis_url());
    common.cache_prefix = prefix.clone();
    common.jwt_secret = Some("test-secret".into());
    let backends = kit::Backends::connect(common).await.unwrap();
    let doomed = navigation::NavState::build(backends, config.clone())
        .await
        .unwrap();

    // A routing app on the same tiles, used for the route only (embedded: its own stream).
    let router = traffic_app(Backend::Embedded, 0).await;
    let batches = route_batches(&router, 3).await;
    drop(router);
    let total_fixes: usize = batches.iter().map(|b| b.fixes.len()).sum();
    let stream = doomed.traffic().stream();
    for batch in &batches {
        stream.append(batch).await.unwrap();
    }
    // The reference: every traversal of every batch, once.
    let mut expected: std::collections::HashMap<u64, std::collections::HashSet<u64>> =
        Default::default();
    for batch in &batches {
        let (_, samples) = tokio::task::block_in_place(|| updater::samples_of(&doomed, batch));
        for s in samples {
            expected.entry(s.edge).or_default().insert(s.id);
        }
    }
    assert!(
        expected.len() >= 5,
        "the route gave {} edges",
        expected.len()
    );
    // It takes the first half, applies a third of the stream, and dies.
    let taken = stream.read(batches.len() / 2).await.unwrap();
    assert!(!taken.is_empty());
    let applied: Vec<&navigation::traffic::fixes::FixBatch> = taken
        .iter()
        .take(batches.len() / 3)
        .filter_map(|d| d.batch.as_ref())
        .collect();
    updater::apply(&doomed, &applied).await.unwrap();
    drop(taken);
    drop(doomed);

    // The survivor on the same database, Redis prefix and tiles.
    let app = spawn_app_with(
        Backend::Postgres,
        Options {
            services: &[Service::Navigation],
            navigation: Some(config),
            database_url: Some(database),
            cache_prefix: Some(prefix.clone()),
            ..Options::default()
        },
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pending: (u64, Option<String>, Option<String>, redis::Value) = {
            let client = redis::Client::open(crate::helpers::test_redis_url()).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            redis::cmd("XPENDING")
                .arg(format!("{prefix}:locations"))
                .arg("traffic")
                .query_async(&mut conn)
                .await
                .unwrap()
        };
        let stored = history_count(&app).await;
        if stored == total_fixes as i64 && pending.0 == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{stored} of {total_fixes} fixes stored, {} batches pending",
            pending.0
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Every live segment counts each traversal once.
    tokio::time::sleep(navigation::traffic::REFRESH + Duration::from_secs(1)).await;
    let traffic = app.get("/v1/traffic?bbox=24.9,60.1,25.0,60.2").await;
    let features = traffic.body["features"].as_array().unwrap();
    assert!(!features.is_empty());
    let mut checked = 0;
    for f in features {
        let samples = f["properties"]["samples"].as_u64().unwrap();
        let edge = f["properties"]["edge"].as_u64().unwrap();
        let want = expected.get(&edge).map_or(0, |ids| ids.len()) as u64;
        assert_eq!(
            samples, want,
            "edge {edge}: {samples} samples, {want} traversals"
        );
        checked += 1;
    }
    assert!(checked >= 5);
}

/// Two roads from A to B: the short `North` and the longer `South` loop.
const JAM: &str = "
W--A-----------------------------B--E
   |                             |
   |                             |
   |                             |
   C-----------------------------D
";

fn grid(ch: char) -> (f64, f64) {
    for (row, line) in JAM.lines().enumerate() {
        if let Some(col) = line.chars().position(|c| c == ch) {
            return (60.0 - row as f64 * 0.0002, 25.0 + col as f64 * 0.0002);
        }
    }
    panic!("no {ch} in map")
}

/// A jam reroutes: once three drivers crawl along `North`, directions leaving now take
/// `South` (on the hierarchy customised with live speeds) and say how long the trip takes
/// in traffic; without a departure time the free-flow route is unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jam_moves_routes_that_leave_now() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = crate::nav::support::Fixture::new(JAM);
    f.way("WA", &["highway=residential", "name=West"]);
    f.way("AB", &["highway=primary", "maxspeed=50", "name=North"]);
    f.way("ACDB", &["highway=primary", "maxspeed=50", "name=South"]);
    f.way("BE", &["highway=residential", "name=East"]);
    let file = dir.path().join("jam.osm");
    std::fs::write(&file, f.xml()).unwrap();
    let tiles = dir.path().join("tiles");
    let store = routing::TileStore::open(&tiles.display().to_string()).unwrap();
    routing::import::import_roads(&file, &store, |_, _, _| {})
        .await
        .unwrap();
    let app = spawn_app_with(
        Backend::Embedded,
        Options {
            services: &[Service::Navigation],
            navigation: Some(NavigationConfig {
                tiles_url: Some(tiles.display().to_string()),
                sample_data: PathBuf::new(),
                location_batch_min_interval_ms: 0,
                ..NavigationConfig::default()
            }),
            ..Options::default()
        },
    )
    .await;
    let (w, e) = (grid('W'), grid('E'));
    let route = format!(
        "/v1/nav?origin={:.6},{:.6}&destination={:.6},{:.6}",
        w.0,
        w.1 + 0.0001,
        e.0,
        e.1 - 0.0001
    );
    let names = |body: &Value| -> Vec<String> {
        body["routes"][0]["legs"][0]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    };
    let free = app.get(&route).await;
    assert!(
        names(&free.body).contains(&"North".to_string()),
        "{:?}",
        names(&free.body)
    );

    // Three drivers crawl W -> E along North at 2 m/s, a fix every 2 s.
    let line: Vec<(f64, f64)> = ['W', 'A', 'B', 'E'].iter().map(|&c| grid(c)).collect();
    let positions = resample(&line, 4.0);
    let now = now_s();
    for user in 0..3i64 {
        let start = now - 2.0 * positions.len() as f64 - 10.0 - user as f64;
        let locations: Vec<Value> = positions
            .iter()
            .enumerate()
            .map(|(i, &(lat, lon))| fix(lat, lon, start + 2.0 * i as f64))
            .collect();
        let reply = post(
            &app,
            Some(&app.token(300 + user)),
            &json!({"locations": locations}),
        )
        .await;
        assert_eq!(reply.status, 202, "{:?}", reply.body);
    }
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let live = app.get(&format!("{route}&departure_time=now")).await;
        assert_eq!(live.status, 200, "{:?}", live.body);
        if names(&live.body).contains(&"South".to_string()) {
            let leg = &live.body["routes"][0]["legs"][0];
            assert!(
                leg["duration_in_traffic"]["value"].as_u64().is_some(),
                "{leg}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the jam never moved the route: {:?}",
            names(&live.body)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Without a departure time: free flow, as before.
    assert_eq!(names(&app.get(&route).await.body), names(&free.body));
    let segments = app.get("/v1/traffic?bbox=24.99,59.99,25.02,60.01").await;
    let north: Vec<&Value> = segments.body["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["name"] == "North")
        .collect();
    assert!(!north.is_empty(), "{}", segments.body);
    for f in north {
        let speed = f["properties"]["speed_kmh"].as_f64().unwrap();
        assert!((4.0..=12.0).contains(&speed), "{f}");
    }
}

async fn jam_app(dir: &Path) -> TestApp {
    let mut f = crate::nav::support::Fixture::new(JAM);
    f.way("WA", &["highway=residential", "name=West"]);
    f.way("AB", &["highway=primary", "maxspeed=50", "name=North"]);
    f.way("ACDB", &["highway=primary", "maxspeed=50", "name=South"]);
    f.way("BE", &["highway=residential", "name=East"]);
    let file = dir.join("jam.osm");
    std::fs::write(&file, f.xml()).unwrap();
    let tiles = dir.join("tiles");
    let store = routing::TileStore::open(&tiles.display().to_string()).unwrap();
    routing::import::import_roads(&file, &store, |_, _, _| {})
        .await
        .unwrap();
    spawn_app_with(
        Backend::Embedded,
        Options {
            services: &[Service::Navigation],
            navigation: Some(NavigationConfig {
                tiles_url: Some(tiles.display().to_string()),
                sample_data: PathBuf::new(),
                location_batch_min_interval_ms: 0,
                ..NavigationConfig::default()
            }),
            ..Options::default()
        },
    )
    .await
}

/// Three drivers crawl eastwards along North at 2 m/s.
async fn crawl_along_north(app: &TestApp) {
    let line: Vec<(f64, f64)> = ['W', 'A', 'B', 'E'].iter().map(|&c| grid(c)).collect();
    let positions = resample(&line, 4.0);
    let now = now_s();
    for user in 0..3i64 {
        let start = now - 2.0 * positions.len() as f64 - 10.0 - user as f64;
        let locations: Vec<Value> = positions
            .iter()
            .enumerate()
            .map(|(i, &(lat, lon))| fix(lat, lon, start + 2.0 * i as f64))
            .collect();
        let reply = post(
            app,
            Some(&app.token(300 + user)),
            &json!({"locations": locations}),
        )
        .await;
        assert_eq!(reply.status, 202, "{:?}", reply.body);
    }
}

fn point(p: (f64, f64), north_m: f64, east_m: f64) -> (f64, f64) {
    let q = geo_core::offset_m(geo_core::LatLon::clamped(p.0, p.1), north_m, east_m);
    (q.lat, q.lon)
}

fn location(p: (f64, f64)) -> Value {
    json!({"type": "location", "latitude": p.0, "longitude": p.1, "timestamp": now_s()})
}

/// Waits for a frame of `kind`, skipping `eta`s; panics on anything else.
async fn expect(ws: &mut crate::friends::WsClient, kind: &str, wait: Duration) -> Value {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(frame) = ws.recv_within(left).await else {
            panic!("no {kind} frame within {wait:?}");
        };
        if frame["type"] == kind {
            return frame;
        }
        assert_eq!(frame["type"], "eta", "waiting for {kind}: {frame}");
    }
}

/// A session from `/v1/nav`'s `route_id`: the route comes back with an `eta`; leaving the
/// route for two fixes reroutes; a jam on the route reroutes it for traffic while a session
/// going the other way hears nothing; reaching the destination says `arrived`. Bad frames
/// get an error frame and the socket stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn navigation_sessions_follow_reroute_and_arrive() {
    use crate::friends::WsClient;
    let dir = tempfile::tempdir().unwrap();
    let app = jam_app(dir.path()).await;
    let (w, e) = (grid('W'), grid('E'));
    let (from, to) = (point(w, 0.0, 8.0), point(e, 0.0, -8.0));
    let nav = app
        .get(&format!(
            "/v1/nav?origin={:.6},{:.6}&destination={:.6},{:.6}",
            from.0, from.1, to.0, to.1
        ))
        .await;
    let route_id = nav.body["routes"][0]["route_id"]
        .as_str()
        .unwrap()
        .to_string();

    let mut east = WsClient::connect_to(&app, 41, "/v1/ws/navigation").await;
    east.send(json!({"type": "start", "route_id": route_id}))
        .await;
    let route = expect(&mut east, "route", Duration::from_secs(10)).await;
    assert_eq!(route["route_id"], route_id);
    assert!(route["route"]["legs"][0]["steps"].as_array().unwrap().len() >= 2);
    let eta = east.recv().await;
    assert_eq!(eta["type"], "eta");
    assert!(eta["duration_in_traffic"].as_f64().unwrap() > 0.0);
    assert!(eta["distance_remaining_m"].as_f64().unwrap() > 300.0);

    // Errors leave the socket open.
    east.send(json!({"type": "fly"})).await;
    let error = east.recv().await;
    assert_eq!(
        (error["type"].as_str(), error["status"].as_u64()),
        (Some("error"), Some(400))
    );
    east.send(json!({"type": "start", "route_id": "nonsense"}))
        .await;
    assert_eq!(east.recv().await["status"], 400);

    // The other way: its route does not cross the eastbound lane of North.
    let mut west = WsClient::connect_to(&app, 42, "/v1/ws/navigation").await;
    west.send(json!({"type": "start", "origin": format!("{:.6},{:.6}", to.0, to.1), "destination": format!("{:.6},{:.6}", from.0, from.1)})).await;
    expect(&mut west, "route", Duration::from_secs(10)).await;
    west.send(location(to)).await;

    // On the route just before A, then a jam on North: a traffic reroute onto South.
    east.send(location(point(grid('A'), 0.0, -15.0))).await;
    crawl_along_north(&app).await;
    let reroute = expect(&mut east, "reroute", Duration::from_secs(30)).await;
    assert_eq!(reroute["reason"], "traffic", "{reroute}");
    let names: Vec<&str> = reroute["route"]["legs"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(names.contains(&"South"), "{names:?}");
    // Nothing for the session going west but, at most, time updates.
    while let Some(frame) = west.recv_within(Duration::from_secs(2)).await {
        assert_eq!(frame["type"], "eta", "{frame}");
    }

    // Two fixes 100 m north of the route: off route.
    tokio::time::sleep(Duration::from_millis(600)).await;
    east.send(location(point(grid('A'), 100.0, 50.0))).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    east.send(location(point(grid('A'), 100.0, 60.0))).await;
    let off = expect(&mut east, "reroute", Duration::from_secs(10)).await;
    assert_eq!(off["reason"], "off_route", "{off}");

    // At the destination.
    tokio::time::sleep(Duration::from_millis(600)).await;
    east.send(location(to)).await;
    expect(&mut east, "arrived", Duration::from_secs(10)).await;

    // No token, no socket.
    let url = format!(
        "{}/v1/ws/navigation",
        app.address.replace("http://", "ws://")
    );
    assert!(tokio_tungstenite::connect_async(url).await.is_err());
}
