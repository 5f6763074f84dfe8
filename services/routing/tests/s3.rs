//! The S3 path against a real S3-compatible server (moto, from PyPI), started here on a free
//! port. Runs with `--features s3`; `scripts/test.sh` installs moto and enables the feature.
#![cfg(feature = "s3")]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use routing::TileStore;

struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_moto() -> Moto {
    let port = testkit::free_port();
    let program = std::env::var("GEO_TEST_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
    let child = Command::new(&program)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {program} (pip install 'moto[server]'): {e}"));
    let moto = Moto { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    moto
}

/// Creates a bucket with a plain HTTP PUT (moto does not check signatures).
fn create_bucket(port: u16, bucket: &str) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

#[tokio::test(flavor = "multi_thread")]
async fn versions_on_s3() {
    let moto = start_moto();
    create_bucket(moto.port, "tiles");
    let options = |endpoint: String| {
        vec![
            ("aws_endpoint".to_string(), endpoint),
            ("aws_allow_http".to_string(), "true".to_string()),
            ("aws_access_key_id".to_string(), "test".to_string()),
            ("aws_secret_access_key".to_string(), "test".to_string()),
            ("aws_region".to_string(), "us-east-1".to_string()),
        ]
    };
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    let store =
        TileStore::open_with_options("s3://tiles/routing/eu", options(endpoint.clone())).unwrap();
    support::exercise(&store).await;

    // Everything lives under the prefix; nothing else in the bucket.
    let other = TileStore::open_with_options("s3://tiles/other", options(endpoint)).unwrap();
    assert_eq!(other.current().await.unwrap(), None);
    assert!(other.versions().await.unwrap().is_empty());
}

/// The map tiles beside the routing tiles on S3: an archive published with one put, then
/// read back tile by tile with range requests, equal to the file it was built into.
#[tokio::test(flavor = "multi_thread")]
async fn map_archive_on_s3() {
    let moto = start_moto();
    create_bucket(moto.port, "maps");
    let options = vec![
        (
            "aws_endpoint".to_string(),
            format!("http://127.0.0.1:{}", moto.port),
        ),
        ("aws_allow_http".to_string(), "true".to_string()),
        ("aws_access_key_id".to_string(), "test".to_string()),
        ("aws_secret_access_key".to_string(), "test".to_string()),
        ("aws_region".to_string(), "us-east-1".to_string()),
    ];
    let store = TileStore::open_with_options("s3://maps/eu", options).unwrap();
    let (objects, prefix) = store.location();
    let map = maptiles::MapStore::new(objects, prefix);
    assert_eq!(map.current_version().await.unwrap(), None);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("map.pmtiles");
    let sample =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/helsinki.osm.pbf");
    let built = maptiles::build_archive(
        &sample,
        &[],
        &maptiles::BuildOptions::default(),
        &file,
        |_, _, _| {},
    )
    .unwrap();
    assert!(built.tiles.tiles > 0);
    let bytes = std::fs::read(&file).unwrap();
    map.publish("v1", bytes.into()).await.unwrap();
    assert_eq!(map.current_version().await.unwrap().as_deref(), Some("v1"));

    let archive = map.open("v1").await.unwrap();
    let extent = archive.extent();
    assert_eq!((extent.min_zoom, extent.max_zoom), (0, 14));
    let (w, s, e, n) = extent.bounds;
    let mut found = 0;
    for z in [0u8, 10, 14] {
        let nw = maptiles::TileId::containing(n, w, z);
        let se = maptiles::TileId::containing(s, e, z);
        for x in nw.x..=se.x {
            for y in nw.y..=se.y {
                if let Some(gzip) = archive.tile(maptiles::TileId { z, x, y }).await.unwrap() {
                    let mut raw = Vec::new();
                    flate2::read::GzDecoder::new(&gzip[..])
                        .read_to_end(&mut raw)
                        .unwrap();
                    let tile = maptiles::mvt::decode(&raw).unwrap();
                    assert!(!tile.layers.is_empty());
                    found += 1;
                }
            }
        }
    }
    assert!(found >= 3, "{found} tiles read back");
    // Outside the grid the archive answers "no tile", not an error.
    assert!(
        archive
            .tile(maptiles::TileId { z: 14, x: 0, y: 0 })
            .await
            .unwrap()
            .is_none()
    );
}
