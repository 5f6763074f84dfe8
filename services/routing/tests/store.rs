//! Tile versions in a local directory: publish, list, switch, remove; failed builds publish
//! nothing.

mod support;

use routing::import::{ImportOptions, import_roads, import_roads_with};
use routing::{Mode, TileStore};
use support::exercise;

#[tokio::test]
async fn local_directory_versions() {
    let dir = tempfile::tempdir().unwrap();
    let store = TileStore::open(&dir.path().join("tiles").display().to_string()).unwrap();
    exercise(&store).await;
    let listed = std::fs::read_dir(dir.path().join("tiles/versions"))
        .unwrap()
        .count();
    assert_eq!(listed, 1);
}

#[tokio::test]
async fn failed_first_build_publishes_nothing() {
    let store = TileStore::open("memory://").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("no-roads.osm");
    std::fs::write(
        &empty,
        "<osm version=\"0.6\"><node id=\"1\" lat=\"1\" lon=\"1\"/></osm>",
    )
    .unwrap();
    let err = import_roads(&empty, &store, |_, _, _| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no routable roads"), "{err}");
    let garbage = dir.path().join("garbage.osm.pbf");
    std::fs::write(&garbage, b"\x00\x00\x00\x0dnot a pbf at all").unwrap();
    assert!(import_roads(&garbage, &store, |_, _, _| {}).await.is_err());
    assert_eq!(store.current().await.unwrap(), None);
    assert!(store.versions().await.unwrap().is_empty());
}

#[test]
fn bad_urls_are_explained() {
    let err = TileStore::open("ftp://example.com/tiles")
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected a directory"), "{err}");
    let err = TileStore::open("s3:///prefix").unwrap_err().to_string();
    assert!(err.contains("no bucket"), "{err}");
}

#[tokio::test]
async fn hierarchies_are_stored_checked_and_optional() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tiles");
    let store = TileStore::open(&root.display().to_string()).unwrap();
    let options = ImportOptions {
        contract: vec![Mode::Driving],
    };
    let summary = import_roads_with(&support::sample(), &store, &options, |_, _, _| {})
        .await
        .unwrap();
    let manifest = store.current().await.unwrap().unwrap();
    assert_eq!(
        manifest
            .contracted
            .iter()
            .map(|c| c.mode)
            .collect::<Vec<_>>(),
        vec![Mode::Driving]
    );
    assert_eq!(summary.contracted, manifest.contracted);
    let ch = store
        .load_contracted(&manifest, Mode::Driving)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ch.mode(), Mode::Driving);
    assert_eq!(ch.node_count() as u64, manifest.contracted[0].nodes);
    assert!(
        store
            .load_contracted(&manifest, Mode::Walking)
            .await
            .unwrap()
            .is_none()
    );
    // A damaged or missing hierarchy is refused, never half-used.
    let path = root.join(format!("versions/{}/ch/driving.bin", manifest.version));
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let err = store
        .load_contracted(&manifest, Mode::Driving)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("checksum"), "{err}");
    std::fs::remove_file(&path).unwrap();
    let err = store
        .load_contracted(&manifest, Mode::Driving)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing"), "{err}");
}
