//! Map tiles over HTTP on the sample extract, both backends: `/tiles.json`, the tile URL
//! service, tiles decoded and checked against the API (roads by name, businesses as pois),
//! caching headers, overzoom, and every kind of bad or outside request.

use std::io::Read;
use std::path::{Path, PathBuf};

use geostack::app::Service;
use maptiles::mvt;
use navigation::NavigationConfig;
use reqwest::header;

use crate::both_backends;
use crate::helpers::{Backend, Options, TestApp, assert_problem, spawn_app_with};

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/helsinki.osm.pbf")
}

/// Proximity and navigation on the sample: businesses published first, so they are the
/// map's pois.
async fn map_app(backend: Backend) -> TestApp {
    spawn_app_with(
        backend,
        Options {
            services: &[Service::Proximity, Service::Navigation],
            sample_data: Some(sample()),
            navigation: Some(NavigationConfig {
                sample_data: sample(),
                ..NavigationConfig::default()
            }),
            ..Options::default()
        },
    )
    .await
}

struct TileReply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    bytes: Vec<u8>,
}

async fn fetch(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> TileReply {
    let mut request = app.client.get(app.url(path));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.unwrap();
    TileReply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        bytes: response.bytes().await.unwrap().to_vec(),
    }
}

fn header<'a>(reply: &'a TileReply, name: &str) -> &'a str {
    reply
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The tile a reply holds, checked layer by layer.
fn decode(reply: &TileReply) -> mvt::Tile {
    let raw = if header(reply, "content-encoding") == "gzip" {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&reply.bytes[..])
            .read_to_end(&mut raw)
            .unwrap();
        raw
    } else {
        reply.bytes.clone()
    };
    let tile = mvt::decode(&raw).unwrap();
    for layer in &tile.layers {
        mvt::check_layer(layer).unwrap();
        assert_eq!(layer.version, 2);
    }
    tile
}

fn layer<'a>(tile: &'a mvt::Tile, name: &str) -> Option<&'a mvt::Layer> {
    tile.layers.iter().find(|l| l.name == name)
}

fn values_of(layer: &mvt::Layer, key: &str) -> Vec<String> {
    layer
        .features
        .iter()
        .flat_map(|f| mvt::properties(layer, f))
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .collect()
}

/// Helsinki's central railway station square.
const LAT: f64 = 60.1710;
const LON: f64 = 24.9414;

async fn sample_tiles(backend: Backend) {
    let app = map_app(backend).await;
    let version = check_tilejson(&app).await;
    check_tile_urls(&app, &version).await;
    check_tile(&app, &version).await;
    check_zooms(&app).await;
    check_style_assets(&app).await;
    check_outside(&app).await;
    check_web_client(&app).await;
}

/// The browser app and its two assets, built into the binary.
async fn check_web_client(app: &TestApp) {
    let page = fetch(app, "/", &[]).await;
    assert_eq!(page.status, 200);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    let html = String::from_utf8(page.bytes.clone()).unwrap();
    assert!(
        html.contains("/app/app.js") && html.contains("/app/app.css"),
        "{html}"
    );
    assert!(!html.contains("https://"), "no third-party host");
    let script = fetch(app, "/app/app.js", &[("accept-encoding", "gzip")]).await;
    assert_eq!(script.status, 200);
    assert_eq!(
        header(&script, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(header(&script, "content-encoding"), "gzip");
    let etag = header(&script, "etag").to_string();
    let again = fetch(
        app,
        "/app/app.js",
        &[("accept-encoding", "gzip"), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(again.status, 304);
    let css = fetch(app, "/app/app.css", &[]).await;
    assert_eq!(header(&css, "content-type"), "text/css; charset=utf-8");
    assert!(
        css.bytes.windows(10).any(|w| w == b"maplibregl"),
        "the map's own CSS is bundled"
    );
}

/// `/tiles.json`; returns the published version its URLs carry.
async fn check_tilejson(app: &TestApp) -> String {
    let tilejson = app.get("/tiles.json").await;
    assert_eq!(tilejson.status, 200, "{:?}", tilejson.body);
    let tj = &tilejson.body;
    assert_eq!(tj["tilejson"], "3.0.0");
    let template = tj["tiles"][0].as_str().unwrap();
    assert!(
        template.starts_with(&format!("{}/tiles/{{z}}/{{x}}/{{y}}.mvt?v=", app.address)),
        "{template}"
    );
    assert_eq!(
        (tj["minzoom"].as_u64(), tj["maxzoom"].as_u64()),
        (Some(0), Some(14))
    );
    let bounds: Vec<f64> = tj["bounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(
        bounds[0] < LON && LON < bounds[2] && bounds[1] < LAT && LAT < bounds[3],
        "{bounds:?}"
    );
    let ids: Vec<&str> = tj["vector_layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    for id in ["roads", "water", "landuse", "buildings", "pois", "places"] {
        assert!(ids.contains(&id), "{ids:?}");
    }
    assert!(
        tj["attribution"]
            .as_str()
            .unwrap()
            .contains("OpenStreetMap")
    );
    template.rsplit("?v=").next().unwrap().to_string()
}

async fn check_tile_urls(app: &TestApp, version: &str) {
    // The tile URL service: nine URLs, the point's own tile first.
    let urls = app
        .get(&format!(
            "/v1/tiles/urls?latitude={LAT}&longitude={LON}&zoom=15"
        ))
        .await;
    assert_eq!(urls.status, 200, "{:?}", urls.body);
    assert_eq!(urls.body["zoom"], 15);
    let list: Vec<&str> = urls.body["urls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert_eq!(list.len(), 9);
    let own = maptiles::TileId::containing(LAT, LON, 15);
    assert_eq!(
        list[0],
        format!(
            "{}/tiles/{}/{}/{}.mvt?v={version}",
            app.address, own.z, own.x, own.y
        )
    );
    let mut distinct = list.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 9);
}

async fn check_tile(app: &TestApp, version: &str) {
    // A zoom-14 tile: roads with names, buildings, and the published businesses as pois.
    let z14 = maptiles::TileId::containing(LAT, LON, 14);
    let path = format!("/tiles/14/{}/{}.mvt?v={version}", z14.x, z14.y);
    let reply = fetch(app, &path, &[("accept-encoding", "gzip")]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        header(&reply, "content-type"),
        "application/vnd.mapbox-vector-tile"
    );
    assert_eq!(header(&reply, "content-encoding"), "gzip");
    assert_eq!(header(&reply, "access-control-allow-origin"), "*");
    assert_eq!(
        header(&reply, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    let tile = decode(&reply);
    let roads = layer(&tile, "roads").expect("roads");
    let names = values_of(roads, "name");
    assert!(names.iter().any(|n| n == "Mannerheimintie"), "{names:?}");
    let classes = values_of(roads, "class");
    assert!(
        classes.iter().any(|c| c == "primary") && classes.iter().any(|c| c == "path"),
        "{classes:?}"
    );
    assert!(layer(&tile, "buildings").is_some_and(|l| l.features.len() > 100));
    let pois = layer(&tile, "pois").expect("pois");
    let poi_ids = values_of(pois, "id");
    let nearby = app
        .get(&format!(
            "/v1/search/nearby?latitude={LAT}&longitude={LON}&radius=300&limit=100"
        ))
        .await;
    assert_eq!(nearby.status, 200);
    let businesses = nearby.body["businesses"].as_array().unwrap();
    assert!(!businesses.is_empty());
    for b in businesses {
        assert!(
            poi_ids.contains(&b["id"].to_string()),
            "business {b} is on the map"
        );
    }
    assert!(reply.bytes.len() <= maptiles::MAX_TILE_BYTES);

    // Revalidation: the same ETag gives 304 with no body; a bare URL caches briefly.
    let etag = header(&reply, "etag").to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong: {etag}"
    );
    let again = fetch(
        app,
        &path,
        &[("accept-encoding", "gzip"), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(again.status, 304);
    assert!(again.bytes.is_empty());
    assert_eq!(header(&again, "etag"), etag);
    let bare = fetch(app, &format!("/tiles/14/{}/{}.mvt", z14.x, z14.y), &[]).await;
    assert_eq!(bare.status, 200);
    assert_eq!(
        header(&bare, "content-encoding"),
        "",
        "identity when gzip is not accepted"
    );
    assert!(header(&bare, "cache-control").contains("max-age=300"));
    assert_ne!(
        header(&bare, "etag"),
        etag,
        "each representation its own strong tag"
    );
    assert_eq!(decode(&bare), tile);
}

async fn check_zooms(app: &TestApp) {
    // Low zoom: major roads only; past zoom 14, cut from the ancestor.
    let z8 = maptiles::TileId::containing(LAT, LON, 8);
    let low = decode(&fetch(app, &format!("/tiles/8/{}/{}.mvt", z8.x, z8.y), &[]).await);
    assert!(layer(&low, "buildings").is_none());
    if let Some(roads) = layer(&low, "roads") {
        assert!(
            values_of(roads, "class")
                .iter()
                .all(|c| ["motorway", "trunk", "primary"].contains(&c.as_str()))
        );
    }
    let z16 = maptiles::TileId::containing(LAT, LON, 16);
    let deep = fetch(app, &format!("/tiles/16/{}/{}.mvt", z16.x, z16.y), &[]).await;
    assert_eq!(deep.status, 200, "{}", String::from_utf8_lossy(&deep.bytes));
    assert!(layer(&decode(&deep), "roads").is_some());
}

async fn check_style_assets(app: &TestApp) {
    // The style, and every glyph range and sprite it names, from this server.
    let style = app.get("/styles/default.json").await;
    assert_eq!(style.status, 200);
    let style = style.body;
    assert_eq!(style["version"], 8);
    assert_eq!(
        style["sources"]["geostack"]["url"],
        format!("{}/tiles.json", app.address)
    );
    let glyphs = style["glyphs"].as_str().unwrap().replace(&app.address, "");
    let fonts: std::collections::BTreeSet<String> = style["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["layout"]["text-font"].as_array())
        .flatten()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    assert!(!fonts.is_empty());
    for font in &fonts {
        let path = glyphs
            .replace("{fontstack}", &font.replace(' ', "%20"))
            .replace("{range}", "0-255");
        let reply = fetch(app, &path, &[]).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(header(&reply, "content-type"), "application/x-protobuf");
        assert!(
            reply.bytes.len() > 10_000,
            "{path}: {} bytes",
            reply.bytes.len()
        );
    }
    let sprite = style["sprite"].as_str().unwrap().replace(&app.address, "");
    for suffix in ["", "@2x"] {
        let index = app.get(&format!("{sprite}{suffix}.json")).await;
        assert_eq!(index.status, 200);
        let image = fetch(app, &format!("{sprite}{suffix}.png"), &[]).await;
        assert_eq!(header(&image, "content-type"), "image/png");
        assert!(image.bytes.starts_with(b"\x89PNG"));
        for layer in style["layers"].as_array().unwrap() {
            if let Some(icon) = layer["layout"]["icon-image"].as_str() {
                assert!(index.body.get(icon).is_some(), "{icon} in the sprite");
            }
        }
    }
    for missing in [
        "/fonts/Arial%20Regular/0-255.pbf",
        "/fonts/Noto%20Sans%20Regular/1-256.pbf",
        "/fonts/Noto%20Sans%20Regular/65536-65791.pbf",
        "/sprites/other.png",
    ] {
        assert_problem(&app.get(missing).await, 404, missing);
    }
}

async fn check_outside(app: &TestApp) {
    // Outside the data, and bad paths.
    for outside in [
        "/tiles/14/0/0.mvt",
        "/tiles/21/0/0.mvt",
        "/tiles/2/4/0.mvt",
        "/tiles/14/9327/4742.png",
        "/tiles/99999999999/0/0.mvt",
    ] {
        assert_problem(&app.get(outside).await, 404, outside);
    }
    for bad in ["/tiles/a/0/0.mvt", "/tiles/3/-1/0.mvt", "/tiles/3/0/x.mvt"] {
        assert_problem(&app.get(bad).await, 404, bad);
    }
    for bad in [
        "/v1/tiles/urls?latitude=91&longitude=0",
        "/v1/tiles/urls?latitude=0&longitude=181",
        "/v1/tiles/urls?latitude=0&longitude=0&zoom=21",
        "/v1/tiles/urls?latitude=0&longitude=0&zoom=-1",
        "/v1/tiles/urls?longitude=0",
        "/v1/tiles/urls?latitude=x&longitude=0",
    ] {
        assert_problem(&app.get(bad).await, 400, bad);
    }
}

both_backends!(map_tiles_on_the_sample, sample_tiles);

/// Before any map is published, tiles and TileJSON are a 503 with `Retry-After`, and the
/// tile URL service still answers (its URLs work once a version is published).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_map_published_is_unavailable() {
    let app = spawn_app_with(
        Backend::Embedded,
        Options {
            services: &[Service::Navigation],
            ..Options::default()
        },
    )
    .await;
    for path in ["/tiles.json", "/tiles/0/0/0.mvt"] {
        let reply = app.get(path).await;
        assert_problem(&reply, 503, path);
        assert!(reply.headers.contains_key(header::RETRY_AFTER), "{path}");
    }
    let urls = app
        .get("/v1/tiles/urls?latitude=89.9&longitude=179.99&zoom=3")
        .await;
    assert_eq!(urls.status, 200);
    let list = urls.body["urls"].as_array().unwrap();
    assert_eq!(
        list.len(),
        6,
        "the top row has no neighbours to the north: {list:?}"
    );
    assert!(
        list.iter()
            .any(|u| u.as_str().unwrap().ends_with("/tiles/3/0/0.mvt")),
        "wraps east: {list:?}"
    );
}
