//! `GET /v1/nav` and `GET /v1/geocode`: the sample extract on both backends, behaviour on tiny
//! OSM fixtures (oneways, restrictions, access, avoid, stops, unreachable places), bad
//! input, the route cache and tile version switches without restart.

#[path = "../../services/routing/tests/support/mod.rs"]
pub(crate) mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use geostack::app::Service;
use navigation::NavigationConfig;
use navigation::directions::decode_polyline;
use routing::TileStore;
use serde_json::Value;
use support::Fixture;

use crate::both_backends;
use crate::helpers::{Backend, Options, TestApp, assert_problem, spawn_app_with};

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/helsinki.osm.pbf")
}

async fn nav_app(backend: Backend, navigation: NavigationConfig) -> TestApp {
    spawn_app_with(
        backend,
        Options {
            services: &[Service::Navigation],
            navigation: Some(navigation),
            ..Options::default()
        },
    )
    .await
}

/// An app routing on the sample extract (tiles and geocoding built on first start).
async fn sample_app(backend: Backend) -> TestApp {
    nav_app(
        backend,
        NavigationConfig {
            sample_data: sample(),
            ..NavigationConfig::default()
        },
    )
    .await
}

/// Publishes a fixture's roads into `dir` (a new version each call).
async fn publish_fixture(fixture: &Fixture, dir: &Path) {
    let file = dir.join(format!("fixture-{}.osm", rand::random::<u64>()));
    std::fs::write(&file, fixture.xml()).unwrap();
    let store = TileStore::open(&dir.join("tiles").display().to_string()).unwrap();
    routing::import::import_roads(&file, &store, |_, _, _| {})
        .await
        .unwrap();
}

/// An app routing on a fixture.
async fn fixture_app(fixture: &Fixture, dir: &Path) -> TestApp {
    publish_fixture(fixture, dir).await;
    nav_app(
        Backend::Embedded,
        NavigationConfig {
            tiles_url: Some(dir.join("tiles").display().to_string()),
            sample_data: PathBuf::new(),
            tiles_poll_interval_s: 1,
            ..NavigationConfig::default()
        },
    )
    .await
}

fn at(fixture_map: &str, ch: char) -> String {
    // Same grid as `support::Fixture`.
    for (row, line) in fixture_map.lines().enumerate() {
        if let Some(col) = line.chars().position(|c| c == ch) {
            return format!(
                "{:.7},{:.7}",
                60.0 - row as f64 * 0.0002,
                25.0 + col as f64 * 0.0002
            );
        }
    }
    panic!("no {ch} in map")
}

async fn nav(app: &TestApp, query: &str) -> Value {
    let reply = app.get(&format!("/v1/nav?{query}")).await;
    assert_eq!(reply.status, 200, "{query}: {:?}", reply.body);
    reply.body
}

fn status(body: &Value) -> &str {
    body["status"].as_str().unwrap_or("")
}

fn leg_distance(body: &Value) -> u64 {
    body["routes"][0]["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["distance"]["value"].as_u64().unwrap())
        .sum()
}

fn step_names(body: &Value) -> Vec<String> {
    body["routes"][0]["legs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["steps"].as_array().unwrap().iter())
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

/// Shape checks every OK answer must pass.
fn check_directions(body: &Value, travel_mode: &str) {
    assert_eq!(status(body), "OK", "{body}");
    for route in body["routes"].as_array().unwrap() {
        assert!(decode_polyline(route["overview_polyline"]["points"].as_str().unwrap()).is_ok());
        let legs = route["legs"].as_array().unwrap();
        for leg in legs {
            let steps = leg["steps"].as_array().unwrap();
            if leg["distance"]["value"] == 0 && steps.len() == 1 {
                // Two stops that snap to the same point: nothing to travel, just "arrive"
                // (documented at `directions::build_leg`).
                assert_eq!(steps[0]["maneuver"], "arrive", "{leg}");
                assert_eq!(leg["start_location"], leg["end_location"], "{leg}");
                continue;
            }
            assert!(steps.len() >= 2, "depart and arrive at least: {leg}");
            assert_eq!(steps[0]["maneuver"], "depart");
            assert_eq!(steps.last().unwrap()["maneuver"], "arrive");
            let sum: u64 = steps
                .iter()
                .map(|s| s["distance"]["value"].as_u64().unwrap())
                .sum();
            assert_eq!(sum, leg["distance"]["value"].as_u64().unwrap());
            let seconds: u64 = steps
                .iter()
                .map(|s| s["duration"]["value"].as_u64().unwrap())
                .sum();
            assert_eq!(seconds, leg["duration"]["value"].as_u64().unwrap());
            assert!(leg["duration"]["text"].as_str().unwrap().contains("min"));
            assert_eq!(leg["start_location"], steps[0]["start_location"]);
            assert_eq!(leg["end_location"], steps.last().unwrap()["end_location"]);
            for w in steps.windows(2) {
                assert_eq!(w[0]["end_location"], w[1]["start_location"]);
            }
            for step in steps {
                assert_eq!(step["travel_mode"], travel_mode);
                assert!(step["html_instructions"].as_str().unwrap().len() > 3);
                assert!(step["name"].is_string());
                let points = decode_polyline(step["polyline"]["points"].as_str().unwrap()).unwrap();
                let first = &points[0];
                assert!((first.lat - step["start_location"]["lat"].as_f64().unwrap()).abs() < 1e-5);
                assert!((first.lon - step["start_location"]["lng"].as_f64().unwrap()).abs() < 1e-5);
            }
        }
    }
}

const KAMPPI: &str = "60.1699,24.9384";
const KALLIO: &str = "60.1841,24.9509";

async fn sample_directions(backend: Backend) {
    let app = sample_app(backend).await;
    for (mode, travel) in [
        ("driving", "DRIVING"),
        ("walking", "WALKING"),
        ("cycling", "BICYCLING"),
    ] {
        let body = nav(
            &app,
            &format!("origin={KAMPPI}&destination={KALLIO}&mode={mode}"),
        )
        .await;
        check_directions(&body, travel);
        let metres = leg_distance(&body);
        assert!((1_200..6_000).contains(&metres), "{mode}: {metres} m");
        assert_eq!(body["geocoded_waypoints"].as_array().unwrap().len(), 2);
    }
    // Walking takes longer than driving the same way.
    let walk = nav(
        &app,
        &format!("origin={KAMPPI}&destination={KALLIO}&mode=walking"),
    )
    .await;
    let drive = nav(&app, &format!("origin={KAMPPI}&destination={KALLIO}")).await;
    assert!(
        walk["routes"][0]["legs"][0]["duration"]["value"].as_u64()
            > drive["routes"][0]["legs"][0]["duration"]["value"].as_u64()
    );
    // Exact mode gives the same (or an equally fast) route.
    let exact = nav(
        &app,
        &format!("origin={KAMPPI}&destination={KALLIO}&exact=true"),
    )
    .await;
    check_directions(&exact, "DRIVING");

    // Alternatives: fastest first, each meaningfully different.
    let alt = nav(
        &app,
        &format!("origin={KAMPPI}&destination={KALLIO}&alternatives=true"),
    )
    .await;
    check_directions(&alt, "DRIVING");
    let routes = alt["routes"].as_array().unwrap();
    assert!(!routes.is_empty() && routes.len() <= 3);
    let durations: Vec<u64> = routes
        .iter()
        .map(|r| r["legs"][0]["duration"]["value"].as_u64().unwrap())
        .collect();
    assert!(durations.windows(2).all(|w| w[0] <= w[1]), "{durations:?}");
    let polylines: std::collections::HashSet<&str> = routes
        .iter()
        .map(|r| r["overview_polyline"]["points"].as_str().unwrap())
        .collect();
    assert_eq!(polylines.len(), routes.len(), "alternatives are copies");

    // A stop in between: two legs meeting at the waypoint.
    let via = "60.1765,24.9316";
    let multi = nav(
        &app,
        &format!("origin={KAMPPI}&destination={KALLIO}&waypoints={via}"),
    )
    .await;
    check_directions(&multi, "DRIVING");
    let legs = multi["routes"][0]["legs"].as_array().unwrap();
    assert_eq!(legs.len(), 2);
    assert_eq!(legs[0]["end_location"], legs[1]["start_location"]);
    assert!(leg_distance(&multi) >= leg_distance(&drive));

    // The same request again comes from the route cache, identical.
    let again = nav(&app, &format!("origin={KAMPPI}&destination={KALLIO}")).await;
    assert_eq!(again, drive);
    let metrics = app.get("/metrics").await;
    assert!(
        metrics
            .body
            .as_str()
            .unwrap_or("")
            .contains("nav_route_cache_hits_total"),
        "cache hits are counted"
    );

    // Far from any road: ZERO_RESULTS with a reason.
    let sea = nav(&app, &format!("origin=59.9,24.3&destination={KALLIO}")).await;
    assert_eq!(status(&sea), "ZERO_RESULTS", "{sea}");
    assert!(sea["error_message"].as_str().unwrap().contains("origin"));
    assert!(sea["routes"].as_array().unwrap().is_empty());
}
both_backends!(directions_on_the_sample, sample_directions);

async fn sample_geocoding(backend: Backend) {
    let app = sample_app(backend).await;
    // Forward: a street of the sample, case- and accent-insensitively, then as a stop.
    let reply = app.get("/v1/geocode?address=mannerheimintie").await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["status"], "OK", "{:?}", reply.body);
    let hit = &reply.body["results"][0];
    assert!(
        hit["formatted_address"]
            .as_str()
            .unwrap()
            .contains("Mannerheimintie")
    );
    let location = &hit["geometry"]["location"];
    assert!((60.1..60.3).contains(&location["lat"].as_f64().unwrap()));
    assert!(hit["place_id"].is_string() && hit["types"].is_array());

    let body = nav(
        &app,
        &format!("origin=Mannerheimintie&destination={KALLIO}"),
    )
    .await;
    check_directions(&body, "DRIVING");
    assert!(body["geocoded_waypoints"][0]["place_id"].is_string());
    assert!(
        body["routes"][0]["legs"][0]["start_address"]
            .as_str()
            .unwrap()
            .contains("Mannerheimintie")
    );

    // Reverse: the nearest address to a point.
    let reply = app.get(&format!("/v1/geocode?latlng={KAMPPI}")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["status"], "OK", "{:?}", reply.body);
    assert!(
        !reply.body["results"][0]["formatted_address"]
            .as_str()
            .unwrap()
            .is_empty()
    );

    // Nothing matches: ZERO_RESULTS from geocode, NOT_FOUND from directions.
    let reply = app.get("/v1/geocode?address=qwzxv%20plorbnik").await;
    assert_eq!(reply.body["status"], "ZERO_RESULTS");
    let body = nav(
        &app,
        &format!("origin=qwzxv%20plorbnik&destination={KALLIO}"),
    )
    .await;
    assert_eq!(status(&body), "NOT_FOUND", "{body}");
    assert!(body["error_message"].as_str().unwrap().contains("qwzxv"));
}
both_backends!(geocoding_on_the_sample, sample_geocoding);

async fn bad_requests(backend: Backend) {
    let app = sample_app(backend).await;
    let too_many = vec![KAMPPI; 30].join("|");
    let long = "a".repeat(500);
    for query in [
        "destination=60.1,24.9".to_string(),
        "origin=60.1,24.9".to_string(),
        "origin=91,24.9&destination=60.1,24.9".to_string(),
        "origin=60.1,181&destination=60.1,24.9".to_string(),
        "origin=60.1,24.9,3&destination=60.1,24.9".to_string(),
        "origin=60.1,,24.9&destination=60.1,24.9".to_string(),
        "origin=%21%21%21&destination=60.1,24.9".to_string(),
        format!("origin={long}&destination=60.1,24.9"),
        "origin=60.1,24.9&destination=60.2,24.9&mode=flying".to_string(),
        "origin=60.1,24.9&destination=60.2,24.9&avoid=bridges".to_string(),
        "origin=60.1,24.9&destination=60.2,24.9&alternatives=perhaps".to_string(),
        "origin=60.1,24.9&destination=60.2,24.9&departure_time=yesterday".to_string(),
        format!("origin=60.1,24.9&destination=60.2,24.9&waypoints={too_many}"),
        "origin=60.1,24.9&destination=60.2,24.9&waypoints=1000,1".to_string(),
        // Coordinate-shaped, not place names to geocode.
        "origin=NaN,NaN&destination=60.1,24.9".to_string(),
        "origin=60.1,24.9&destination=inf,-inf".to_string(),
        "origin=60.1,24.9&destination=60.2,24.9&waypoints=nan,24.9".to_string(),
    ] {
        let reply = app.get(&format!("/v1/nav?{query}")).await;
        assert_problem(&reply, 400, &query);
    }
    for query in [
        "",
        "address=x&latlng=60.1,24.9",
        "latlng=100,1",
        "latlng=Helsinki",
        "latlng=NaN,NaN",
        "address=Infinity,1",
        "address=%00%01",
        "address=mannerheimintie&limit=0",
        "address=mannerheimintie&limit=100",
    ] {
        let reply = app.get(&format!("/v1/geocode?{query}")).await;
        assert_problem(&reply, 400, query);
    }
    // Unharmed.
    check_directions(
        &nav(&app, &format!("origin={KAMPPI}&destination={KALLIO}")).await,
        "DRIVING",
    );
}
both_backends!(bad_input_is_rejected, bad_requests);

/// A grid: the top row is a oneway street westwards, with a long detour ring below.
const GRID: &str = "
A-----B-----C
|     |     |
D-----E-----F
|           |
G-----------H
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oneways_and_access_per_mode() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Fixture::new(GRID);
    f.way("CBA", &["highway=residential", "oneway=yes", "name=Oneway"]);
    f.way("ADG", &["highway=residential", "name=West"]);
    f.way("GH", &["highway=residential", "name=South"]);
    f.way("HFC", &["highway=residential", "name=East"]);
    f.way(
        "BE",
        &["highway=residential", "motor_vehicle=no", "name=Gate"],
    );
    f.way("DEF", &["highway=footway", "name=Path"]);
    let app = fixture_app(&f, dir.path()).await;
    let (a, c, e) = (at(GRID, 'A'), at(GRID, 'C'), at(GRID, 'E'));
    // Driving C -> A follows the oneway; A -> C must go round.
    let with = nav(&app, &format!("origin={c}&destination={a}")).await;
    check_directions(&with, "DRIVING");
    assert_eq!(step_names(&with)[0], "Oneway");
    let against = nav(&app, &format!("origin={a}&destination={c}")).await;
    check_directions(&against, "DRIVING");
    assert!(!step_names(&against).contains(&"Oneway".to_string()));
    assert!(leg_distance(&against) > 2 * leg_distance(&with));
    // Walking ignores the oneway.
    let walk = nav(&app, &format!("origin={a}&destination={c}&mode=walking")).await;
    assert_eq!(leg_distance(&walk), leg_distance(&with));
    // The gate is closed to cars, open to bicycles; the footway to both vehicles.
    let car = nav(&app, &format!("origin={e}&destination={a}")).await;
    assert!(
        !step_names(&car).iter().any(|n| n == "Gate" || n == "Path"),
        "{car}"
    );
    let bike = nav(&app, &format!("origin={e}&destination={a}&mode=cycling")).await;
    assert!(step_names(&bike).contains(&"Gate".to_string()), "{bike}");
    let foot = nav(&app, &format!("origin={e}&destination={a}&mode=walking")).await;
    check_directions(&foot, "WALKING");
    assert!(leg_distance(&foot) <= leg_distance(&bike));
}

/// A crossing with a ring round it: turning left at X is forbidden.
const CROSSING: &str = "
P-----N-----Q
|     |     |
W-----X-----E
|     |     |
R-----S-----T
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turn_restrictions() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Fixture::new(CROSSING);
    let west = f.way("WX", &["highway=residential", "name=West"]);
    let north = f.way("XN", &["highway=residential", "name=North"]);
    f.way("XE", &["highway=residential", "name=East"]);
    let south = f.way("XS", &["highway=residential", "name=South"]);
    f.way("WPNQETSRW", &["highway=residential", "name=Ring"]);
    f.restriction(
        west,
        'X',
        north,
        &["type=restriction", "restriction=no_left_turn"],
    );
    f.restriction(
        south,
        'X',
        north,
        &["type=restriction", "restriction=only_straight_on"],
    );
    let app = fixture_app(&f, dir.path()).await;
    let w = format!(
        "{},{:.7}",
        at(CROSSING, 'W').split(',').next().unwrap(),
        25.0 + 3.0 * 0.0002
    );
    let n = format!(
        "{:.7},{}",
        60.0 - 0.0002,
        at(CROSSING, 'N').split(',').nth(1).unwrap()
    );
    let e = format!(
        "{},{:.7}",
        at(CROSSING, 'E').split(',').next().unwrap(),
        25.0 + 9.0 * 0.0002
    );
    // West -> North: the left turn is forbidden, so not via West then North directly.
    let left = nav(&app, &format!("origin={w}&destination={n}")).await;
    check_directions(&left, "DRIVING");
    let names = step_names(&left);
    assert!(
        !(names[0] == "West" && names.get(1).is_some_and(|s| s == "North")),
        "{names:?}"
    );
    // Walking has no turn restrictions.
    let walk = nav(&app, &format!("origin={w}&destination={n}&mode=walking")).await;
    assert!(leg_distance(&walk) < leg_distance(&left));
    // West -> East: straight on is allowed.
    let straight = nav(&app, &format!("origin={w}&destination={e}")).await;
    assert_eq!(step_names(&straight)[0], "West");
    assert!(step_names(&straight).contains(&"East".to_string()));
}

const TOLL: &str = "
A-----B-----C
|           |
D-----------E
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avoid_options_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Fixture::new(TOLL);
    f.way(
        "ABC",
        &["highway=motorway", "toll=yes", "name=Tollway", "oneway=no"],
    );
    f.way("ADEC", &["highway=residential", "name=Free"]);
    let app = fixture_app(&f, dir.path()).await;
    let (a, b, c, d) = (at(TOLL, 'A'), at(TOLL, 'B'), at(TOLL, 'C'), at(TOLL, 'D'));
    let direct = nav(&app, &format!("origin={a}&destination={c}")).await;
    assert!(
        step_names(&direct).contains(&"Tollway".to_string()),
        "{direct}"
    );
    for avoid in ["tolls", "highways", "tolls,highways"] {
        let body = nav(&app, &format!("origin={a}&destination={c}&avoid={avoid}")).await;
        check_directions(&body, "DRIVING");
        assert!(
            !step_names(&body).contains(&"Tollway".to_string()),
            "{avoid}: {body}"
        );
        assert!(leg_distance(&body) > leg_distance(&direct));
    }
    // Stops in the given order: A -> D -> B -> C is three legs, each ending at its stop.
    let multi = nav(
        &app,
        &format!("origin={a}&destination={c}&waypoints={d}|{b}"),
    )
    .await;
    check_directions(&multi, "DRIVING");
    let legs = multi["routes"][0]["legs"].as_array().unwrap();
    assert_eq!(legs.len(), 3);
    let end = |i: usize| {
        let l = &legs[i]["end_location"];
        format!(
            "{:.7},{:.7}",
            l["lat"].as_f64().unwrap(),
            l["lng"].as_f64().unwrap()
        )
    };
    assert_eq!(end(0), d);
    assert_eq!(end(1), b);
    assert_eq!(end(2), c);
    assert_eq!(
        multi["routes"][0]["waypoint_order"],
        serde_json::json!([0, 1])
    );
}

/// Two networks 5 km apart: each point snaps to its own, and there is no route between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_and_version_switch() {
    let dir = tempfile::tempdir().unwrap();
    let map = "
A-----B
";
    let mut f = Fixture::new(map);
    f.way("AB", &["highway=residential", "name=Here"]);
    let far = 60.0 - 0.045; // about 5 km south
    f.extra_node(9001, far, 25.0);
    f.extra_node(9002, far, 25.0012);
    f.way_refs(vec![9001, 9002], &["highway=residential", "name=There"]);
    let app = fixture_app(&f, dir.path()).await;
    let body = nav(
        &app,
        &format!("origin={}&destination={far:.7},25.0006", at(map, 'A')),
    )
    .await;
    assert_eq!(status(&body), "ZERO_RESULTS", "{body}");
    assert!(
        body["error_message"]
            .as_str()
            .unwrap()
            .contains("no driving route")
    );
    let here = nav(
        &app,
        &format!("origin={}&destination={}", at(map, 'A'), at(map, 'B')),
    )
    .await;
    check_directions(&here, "DRIVING");

    // Publish a version that links the two: the service switches without a restart and
    // the cached ZERO_RESULTS is gone.
    let mut linked = Fixture::new(map);
    linked.way("AB", &["highway=residential", "name=Here"]);
    linked.extra_node(9001, far, 25.0);
    linked.extra_node(9002, far, 25.0012);
    linked.way_refs(vec![9001, 9002], &["highway=residential", "name=There"]);
    let a = linked.node('A');
    linked.way_refs(vec![a, 9001], &["highway=primary", "name=Link"]);
    publish_fixture(&linked, dir.path()).await;
    let query = format!("origin={}&destination={far:.7},25.0006", at(map, 'A'));
    let mut switched = None;
    for _ in 0..50 {
        let body = nav(&app, &query).await;
        if status(&body) == "OK" {
            switched = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let body = switched.expect("the new version is picked up within 10 s");
    check_directions(&body, "DRIVING");
    assert!(step_names(&body).contains(&"Link".to_string()));
}

/// With no tiles published and no sample, directions answer 503 and /readyz says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_tiles_is_unavailable() {
    let app = nav_app(
        Backend::Embedded,
        NavigationConfig {
            sample_data: PathBuf::new(),
            ..NavigationConfig::default()
        },
    )
    .await;
    let reply = app
        .get(&format!("/v1/nav?origin={KAMPPI}&destination={KALLIO}"))
        .await;
    assert_problem(&reply, 503, "no tiles");
    assert!(reply.headers.get("retry-after").is_some());
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 503);
    assert!(
        ready.body.to_string().contains("routing_tiles"),
        "{:?}",
        ready.body
    );
}

/// A damaged contraction hierarchy is refused on load and routes come from the tiles: the
/// same answer as from an intact version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_hierarchy_falls_back_to_tiles() {
    let mut f = Fixture::new(CROSSING);
    f.way("WXE", &["highway=residential", "name=Main"]);
    f.way("NXS", &["highway=residential", "name=Cross"]);
    f.way("WPNQETSRW", &["highway=residential", "name=Ring"]);
    let intact_dir = tempfile::tempdir().unwrap();
    let damaged_dir = tempfile::tempdir().unwrap();
    publish_fixture(&f, damaged_dir.path()).await;
    let tiles = damaged_dir.path().join("tiles/versions");
    let version = std::fs::read_dir(&tiles).unwrap().next().unwrap().unwrap();
    let hierarchy = version.path().join("ch/driving.bin");
    let mut bytes = std::fs::read(&hierarchy).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&hierarchy, bytes).unwrap();
    let damaged = nav_app(
        Backend::Embedded,
        NavigationConfig {
            tiles_url: Some(damaged_dir.path().join("tiles").display().to_string()),
            sample_data: PathBuf::new(),
            ..NavigationConfig::default()
        },
    )
    .await;
    let intact = fixture_app(&f, intact_dir.path()).await;
    let query = format!(
        "origin={}&destination={}",
        at(CROSSING, 'W'),
        at(CROSSING, 'S')
    );
    let want = nav(&intact, &query).await;
    let got = nav(&damaged, &query).await;
    check_directions(&got, "DRIVING");
    assert_eq!(leg_distance(&got), leg_distance(&want));
    assert_eq!(step_names(&got), step_names(&want));
}

/// `n` distinct points on the way from Kamppi to Kallio, `lat,lng|lat,lng|...`.
fn stops_between(n: usize) -> String {
    (1..=n)
        .map(|i| {
            let t = i as f64 / (n + 1) as f64;
            format!(
                "{:.6},{:.6}",
                60.1699 + t * (60.1841 - 60.1699),
                24.9384 + t * (24.9509 - 24.9384)
            )
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// What one anonymous request may ask for is capped: requests that multiply the searches
/// (alternatives or exact with waypoints, exact with alternatives, more than MAX_WAYPOINTS)
/// are 400 before any search, and a plan that outgrows ROUTE_MAX_SETTLED is 422; neither is
/// cached or changes what other requests get.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_caps_are_refused_and_change_nothing() {
    let app = nav_app(
        Backend::Embedded,
        NavigationConfig {
            sample_data: sample(),
            // Far below a cross-town A* search; hierarchy queries are not counted.
            route_max_settled: 20,
            ..NavigationConfig::default()
        },
    )
    .await;
    let plain = format!("origin={KAMPPI}&destination={KALLIO}");
    let before = nav(&app, &plain).await;
    check_directions(&before, "DRIVING");

    // The most a request may ask for is served: 23 waypoints, walking.
    let most = format!("{plain}&mode=walking&waypoints={}", stops_between(23));
    let body = nav(&app, &most).await;
    check_directions(&body, "WALKING");
    assert_eq!(body["routes"][0]["legs"].as_array().unwrap().len(), 24);

    let one = stops_between(1);
    for (query, says) in [
        (format!("{most}&alternatives=true"), "alternatives"),
        (
            format!("{plain}&waypoints={one}&alternatives=true"),
            "alternatives",
        ),
        (format!("{plain}&waypoints={one}&exact=true"), "exact"),
        (format!("{plain}&alternatives=true&exact=true"), "exact"),
        (
            format!("{plain}&waypoints={}", stops_between(24)),
            "waypoints",
        ),
    ] {
        for _ in 0..2 {
            let reply = app.get(&format!("/v1/nav?{query}")).await;
            assert_problem(&reply, 400, &query);
            assert_eq!(reply.body["type"], "/problems/invalid-request", "{query}");
            let detail = reply.body["detail"].as_str().unwrap();
            assert!(detail.contains(says), "{query}: {detail}");
        }
    }

    // Over the search budget: 422, every time (a refusal is never cached as an answer).
    for query in [
        format!("{plain}&exact=true"),
        format!("{plain}&avoid=tolls"),
        format!("{plain}&mode=walking&exact=true"),
    ] {
        for _ in 0..2 {
            let reply = app.get(&format!("/v1/nav?{query}")).await;
            assert_problem(&reply, 422, &query);
            let detail = reply.body["detail"].as_str().unwrap();
            assert!(detail.contains("20 road edges"), "{query}: {detail}");
        }
    }
    // Alternatives are extras: the budget cuts them, not the route.
    let alt = nav(&app, &format!("{plain}&alternatives=true")).await;
    check_directions(&alt, "DRIVING");
    assert_eq!(alt["routes"][0], before["routes"][0]);

    // Unharmed: the same answer as before the refusals.
    assert_eq!(nav(&app, &plain).await, before);
}
