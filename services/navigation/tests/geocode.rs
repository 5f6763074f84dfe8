//! Geocoding on real data: extraction from the Helsinki sample, then forward and reverse search
//! against SQLite (a temp dir) and PostgreSQL (a fresh database on `GEO_TEST_DATABASE_URL`,
//! set by `scripts/test.sh`; `postgres://postgres@127.0.0.1:5432/postgres` otherwise). A
//! missing PostgreSQL fails the test: nothing is skipped.
//!
//! The names and coordinates below are real entries of `data/helsinki.osm.pbf` and the shared
//! Porto extract (© OpenStreetMap contributors, ODbL).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use kit::db::Db;
use navigation::geocode::{self, GeocodeResult, Place};

fn helsinki_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/helsinki.osm.pbf")
}

fn helsinki() -> &'static [Place] {
    static PLACES: OnceLock<Vec<Place>> = OnceLock::new();
    PLACES.get_or_init(|| {
        let started = Instant::now();
        let places = geocode::extract_places(&helsinki_path()).expect("helsinki reads");
        eprintln!(
            "helsinki: {} places extracted in {:.2} s",
            places.len(),
            started.elapsed().as_secs_f64()
        );
        places
    })
}

fn by_id(id: &str) -> &'static Place {
    helsinki()
        .iter()
        .find(|p| p.id == id)
        .unwrap_or_else(|| panic!("{id} is not in the extract"))
}

// Real entries of the Helsinki extract.
const MANNERHEIMINTIE_5: &str = "n317574802";
const YRJONKATU_25: &str = "n2933083837";

#[test]
fn extraction_finds_addresses_streets_places_and_pois() {
    let places = helsinki();
    let mut kinds: HashMap<&str, usize> = HashMap::new();
    for p in places {
        *kinds.entry(p.kind.as_str()).or_default() += 1;
    }
    let n = |k: &str| kinds.get(k).copied().unwrap_or(0);
    assert!((400..600).contains(&n("street_address")), "{kinds:?}");
    assert!((80..150).contains(&n("route")), "{kinds:?}");
    assert!(
        (1_200..2_000).contains(&n("point_of_interest")),
        "{kinds:?}"
    );
    assert_eq!(n("locality"), 1, "{kinds:?}");
    assert!(n("sublocality") + n("neighborhood") >= 20, "{kinds:?}");

    let ids: HashSet<&str> = places.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids.len(), places.len(), "place ids are unique");
    for p in places {
        assert!(
            (60.1..60.25).contains(&p.lat) && (24.85..25.05).contains(&p.lon),
            "{p:?}"
        );
        assert!(
            !p.formatted_address.is_empty() && !p.name.is_empty(),
            "{p:?}"
        );
        assert!((0.0..=1.0).contains(&p.rank_weight), "{p:?}");
    }

    let city: Vec<&Place> = places.iter().filter(|p| p.kind == "locality").collect();
    assert_eq!(city[0].formatted_address, "Helsinki");
    // A street split into many ways is one place, on one of its nodes.
    let streets: Vec<&Place> = places
        .iter()
        .filter(|p| p.kind == "route" && p.name == "Mannerheimintie")
        .collect();
    assert_eq!(streets.len(), 1);
    assert_eq!(streets[0].formatted_address, "Mannerheimintie, Helsinki");

    let address = by_id(MANNERHEIMINTIE_5);
    assert_eq!(address.kind, "street_address");
    assert_eq!(address.formatted_address, "Mannerheimintie 5, Helsinki");
    assert_eq!(
        (address.street.as_deref(), address.housenumber.as_deref()),
        (Some("Mannerheimintie"), Some("5"))
    );
    // Postcodes come from addr:postcode.
    assert!(places.iter().any(|p| p.kind == "street_address"
        && p.postcode.as_deref() == Some("00100")
        && p.formatted_address.ends_with(", 00100 Helsinki")));
    // A POI carries its address.
    assert!(places.iter().any(|p| p.kind == "point_of_interest"
        && p.formatted_address == "Flying Tiger Copenhagen, Mannerheimintie 20, 00100 Helsinki"));
}

fn first(results: &[GeocodeResult], query: &str) -> GeocodeResult {
    results
        .first()
        .unwrap_or_else(|| panic!("{query:?} found nothing"))
        .clone()
}

async fn forward(db: &Db, query: &str) -> Vec<GeocodeResult> {
    geocode::forward(db, query, None, 10)
        .await
        .unwrap_or_else(|e| panic!("{query:?}: {e}"))
}

fn assert_sorted_by_distance(results: &[GeocodeResult]) {
    let d: Vec<f64> = results.iter().map(|r| r.distance_m.unwrap()).collect();
    assert!(d.windows(2).all(|w| w[0] <= w[1]), "{d:?}");
}

/// Everything the geocoder promises, on one backend.
#[expect(clippy::too_many_lines, reason = "one scenario, read top to bottom")]
async fn check_helsinki(db: &Db) {
    assert!(geocode::is_empty(db).await.unwrap());
    assert!(
        forward(db, "Mannerheimintie").await.is_empty(),
        "empty table"
    );

    let loaded = geocode::load_from_osm(db, &helsinki_path()).await.unwrap();
    eprintln!(
        "{:?}: {} places loaded in {:.2} s",
        db.backend, loaded.places, loaded.seconds
    );
    assert_eq!(loaded.places, helsinki().len() as u64);
    assert_eq!(geocode::count(db).await.unwrap(), loaded.places as i64);
    assert!(!geocode::is_empty(db).await.unwrap());

    // A street, whatever the case, punctuation or extra city.
    for query in [
        "Mannerheimintie",
        "MANNERHEIMINTIE",
        "mannerheimintie, Helsinki",
    ] {
        let hit = first(&forward(db, query).await, query);
        assert_eq!(
            hit.formatted_address, "Mannerheimintie, Helsinki",
            "{query}"
        );
        assert_eq!(hit.types, vec!["route"], "{query}");
    }

    // A street with ö, typed with or without it.
    for query in ["Yrjönkatu", "yrjonkatu", "YRJÖNKATU"] {
        let hit = first(&forward(db, query).await, query);
        assert_eq!(hit.formatted_address, "Yrjönkatu, Helsinki", "{query}");
    }
    for query in ["toolonlahdenkatu", "Töölönlahdenkatu"] {
        let hit = first(&forward(db, query).await, query);
        assert_eq!(
            hit.formatted_address, "Töölönlahdenkatu, Helsinki",
            "{query}"
        );
    }

    // An address, in either word order, at its coordinates.
    let expected = by_id(MANNERHEIMINTIE_5);
    for query in [
        "Mannerheimintie 5",
        "5 Mannerheimintie",
        "mannerheimintie 5, helsinki",
        "Mannerheimintie 5, Helsinki, Finland",
    ] {
        let hit = first(&forward(db, query).await, query);
        assert_eq!(hit.place_id, MANNERHEIMINTIE_5, "{query}");
        assert_eq!(
            hit.formatted_address, "Mannerheimintie 5, Helsinki",
            "{query}"
        );
        assert_eq!((hit.lat, hit.lng), (expected.lat, expected.lon), "{query}");
        assert_eq!(hit.types, vec!["street_address"]);
        assert_eq!(hit.distance_m, None);
    }
    let hit = first(&forward(db, "yrjonkatu 25").await, "yrjonkatu 25");
    assert_eq!(hit.place_id, YRJONKATU_25);
    assert_eq!(hit.formatted_address, "Yrjönkatu 25, Helsinki");
    // A house number that does not exist gives the street.
    let hit = first(
        &forward(db, "Mannerheimintie 999").await,
        "Mannerheimintie 999",
    );
    assert_eq!(hit.formatted_address, "Mannerheimintie, Helsinki");

    // The city, and a district.
    let hit = first(&forward(db, "helsinki").await, "helsinki");
    assert_eq!(hit.formatted_address, "Helsinki");
    assert_eq!(hit.types, vec!["locality", "political"]);
    let hit = first(&forward(db, "Kaartinkaupunki").await, "Kaartinkaupunki");
    assert_eq!(hit.formatted_address, "Kaartinkaupunki, Helsinki");

    // A POI by name.
    let hit = first(
        &forward(db, "flying tiger copenhagen").await,
        "flying tiger",
    );
    assert_eq!(
        hit.formatted_address,
        "Flying Tiger Copenhagen, Mannerheimintie 20, 00100 Helsinki"
    );
    assert_eq!(hit.types, vec!["point_of_interest", "establishment"]);

    // Limits, and one result per formatted address.
    let many = geocode::forward(db, "helsinki", None, 5).await.unwrap();
    assert_eq!(many.len(), 5);
    let many = forward(db, "mannerheimintie").await;
    let distinct: HashSet<&str> = many.iter().map(|r| r.formatted_address.as_str()).collect();
    assert_eq!(distinct.len(), many.len());
    assert!(
        geocode::forward(db, "helsinki", None, 0)
            .await
            .unwrap()
            .is_empty()
    );

    // Nonsense and hostile input: nothing, and no error.
    for query in [
        "qzxv wplk",
        "xyzzyplugh",
        "",
        "   ",
        "%",
        "_",
        "%_%",
        "\\",
        "''",
    ] {
        assert!(forward(db, query).await.is_empty(), "{query:?}");
    }
    for query in [
        "' OR 1=1; DROP TABLE geocode_places; --",
        &"a".repeat(10_000),
        &"ab ".repeat(2_000),
        "\u{0}\u{202e}💥",
    ] {
        forward(db, query).await;
    }
    assert_eq!(geocode::count(db).await.unwrap(), loaded.places as i64);

    // Reverse at an address: that address first, at distance ~0, then nearer before farther.
    let near = geocode::reverse(db, expected.lat, expected.lon, 5)
        .await
        .unwrap();
    assert_eq!(near.len(), 5);
    assert_eq!(near[0].place_id, MANNERHEIMINTIE_5);
    assert_eq!(near[0].formatted_address, "Mannerheimintie 5, Helsinki");
    assert!(near[0].distance_m.unwrap() < 0.01, "{:?}", near[0]);
    assert_sorted_by_distance(&near);
    for r in &near {
        assert_eq!(r.types, vec!["street_address"]);
        assert!(r.distance_m.unwrap() <= 1_000.0);
    }
    // The nearest address agrees with a brute-force scan.
    let at = (60.1690, 24.9450);
    let brute = helsinki()
        .iter()
        .filter(|p| p.kind == "street_address")
        .map(|p| {
            let d = geo_core::haversine_m(
                geo_core::LatLon::new(at.0, at.1).unwrap(),
                geo_core::LatLon::new(p.lat, p.lon).unwrap(),
            );
            (d, p)
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap();
    let hit = geocode::reverse(db, at.0, at.1, 1).await.unwrap();
    assert_eq!(hit.len(), 1);
    assert_eq!(hit[0].formatted_address, brute.1.formatted_address);
    assert!((hit[0].distance_m.unwrap() - brute.0).abs() < 1e-6);

    // Beyond 1 km of any address: the nearest other places, within 10 km.
    let north = helsinki().iter().map(|p| p.lat).fold(f64::MIN, f64::max);
    let outside = geocode::reverse(db, north + 0.02, 24.945, 3).await.unwrap();
    assert!(!outside.is_empty());
    assert_sorted_by_distance(&outside);
    for r in &outside {
        let d = r.distance_m.unwrap();
        assert!((1_000.0..=10_000.0).contains(&d), "{r:?}");
        assert!(!r.types.contains(&"street_address".to_string()), "{r:?}");
    }
    // Far from everything: nothing. Invalid coordinates: nothing.
    assert!(
        geocode::reverse(db, north + 0.2, 24.945, 3)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(geocode::reverse(db, 0.0, 0.0, 3).await.unwrap().is_empty());
    assert!(
        geocode::reverse(db, f64::NAN, 0.0, 3)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(geocode::reverse(db, 91.0, 0.0, 3).await.unwrap().is_empty());
    assert!(
        geocode::reverse(db, 89.999, 179.999, 3)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        geocode::reverse(db, expected.lat, expected.lon, 0)
            .await
            .unwrap()
            .is_empty()
    );

    // Replacing is idempotent, and duplicate ids keep the first.
    for _ in 0..2 {
        let written = geocode::replace_all(db, helsinki()).await.unwrap();
        assert_eq!(written, loaded.places);
        assert_eq!(geocode::count(db).await.unwrap(), loaded.places as i64);
    }
    let mut doubled = helsinki()[..10].to_vec();
    doubled.extend_from_slice(&helsinki()[..10]);
    assert_eq!(geocode::replace_all(db, &doubled).await.unwrap(), 10);
    assert_eq!(geocode::count(db).await.unwrap(), 10);
    assert_eq!(geocode::replace_all(db, &[]).await.unwrap(), 0);
    assert!(geocode::is_empty(db).await.unwrap());
}

/// Porto (roads only): accents and word order on Portuguese street names, and load time.
async fn check_porto(db: &Db) {
    let loaded = geocode::load_from_osm(db, &testkit::extracts::path("porto.osm.pbf"))
        .await
        .unwrap();
    eprintln!(
        "{:?}: porto, {} places loaded in {:.2} s",
        db.backend, loaded.places, loaded.seconds
    );
    assert!(loaded.places > 5_000, "{loaded:?}");
    for query in [
        "Rua de São João Novo",
        "rua de sao joao novo",
        "SAO JOAO NOVO",
        "novo joao sao rua",
    ] {
        let hit = first(&forward(db, query).await, query);
        assert_eq!(hit.formatted_address, "Rua de São João Novo", "{query}");
        assert_eq!(hit.place_id, "w112631100", "{query}");
    }
    // Five streets of that name across the metro area, far apart: each is its own result,
    // ahead of longer names.
    let many = forward(db, "Rua de Sao Joao").await;
    let exact = many
        .iter()
        .take_while(|r| r.formatted_address.split(',').next() == Some("Rua de São João"))
        .count();
    assert_eq!(exact, 5, "{many:#?}");
}

async fn sqlite_db() -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(None, dir.path()).await.unwrap();
    (db, dir)
}

/// A fresh database on the test server, dropped by [`drop_postgres`].
async fn postgres_db() -> (Db, String) {
    let url = testkit::postgres::fresh_database(&testkit::test_database_url()).await;
    let name = url.rsplit('/').next().expect("a database name").to_string();
    let db = Db::connect(Some(&url), Path::new("unused")).await.unwrap();
    (db, name)
}

async fn drop_postgres(db: Db, name: String) {
    db.pool.close().await;
    testkit::postgres::drop_database(&testkit::test_database_url(), &name)
        .await
        .expect("drop test database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helsinki_sqlite() {
    let (db, _dir) = sqlite_db().await;
    check_helsinki(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helsinki_postgres() {
    let (db, name) = postgres_db().await;
    check_helsinki(&db).await;
    drop_postgres(db, name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn porto_sqlite() {
    let (db, _dir) = sqlite_db().await;
    check_porto(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn porto_postgres() {
    let (db, name) = postgres_db().await;
    check_porto(&db).await;
    drop_postgres(db, name).await;
}
