//! The operator's routing-tile commands: `import roads` publishes a version, `tiles list`
//! shows it, rebuilds add versions, `tiles prune|remove` clean up, bad input publishes
//! nothing and says why.

use std::path::{Path, PathBuf};

use clap::Parser;
use geostack::cli::Cli;
use routing::TileStore;

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/helsinki.osm.pbf")
}

async fn run(args: &[&str]) -> anyhow::Result<()> {
    let mut argv = vec!["geostack"];
    argv.extend_from_slice(args);
    geostack::cli::run(Cli::try_parse_from(argv)?, geostack::app::ALL_SERVICES).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_roads_publishes_versions_operators_can_manage() {
    let dir = tempfile::tempdir().unwrap();
    let tiles = dir.path().join("tiles");
    let tiles = tiles.to_str().unwrap();
    let sample = sample();
    let sample = sample.to_str().unwrap();

    run(&["import", "roads", sample, "--tiles", tiles, "--no-geocode"])
        .await
        .unwrap();
    let store = TileStore::open(tiles).unwrap();
    let first = store.current().await.unwrap().expect("published");
    assert!(first.nodes > 1000 && first.edges > 1000, "{first:?}");
    assert_eq!(first.source, "helsinki.osm.pbf");
    let local = first
        .levels
        .iter()
        .find(|l| l.level == routing::Level::Local)
        .unwrap();
    assert!(
        local.tiles >= 4,
        "the sample spans {} local tiles",
        local.tiles
    );
    for entry in &first.tiles {
        assert!(
            store
                .load_tile(&first.version, entry.level, entry.id)
                .await
                .unwrap()
                .is_some()
        );
    }

    // A rebuild is a new version, published; the old one stays until pruned.
    run(&[
        "import",
        "roads",
        sample,
        "--tiles",
        tiles,
        "--json",
        "--no-geocode",
        "--contract",
        "walking,driving",
    ])
    .await
    .unwrap();
    let second = store.current_version().await.unwrap().unwrap();
    assert_ne!(second, first.version);
    // Every mode is contracted by default; `--contract` picks them.
    let modes = |m: &routing::Manifest| m.contracted.iter().map(|c| c.mode).collect::<Vec<_>>();
    assert_eq!(modes(&first), routing::Mode::ALL);
    let second_manifest = store.manifest(&second).await.unwrap();
    assert_eq!(
        modes(&second_manifest),
        [routing::Mode::Walking, routing::Mode::Driving]
    );
    let err = run(&[
        "import",
        "roads",
        sample,
        "--tiles",
        tiles,
        "--contract",
        "flying",
    ])
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("not a mode"), "{err:#}");
    run(&["tiles", "list", "--tiles", tiles]).await.unwrap();
    assert_eq!(store.versions().await.unwrap().len(), 2);

    let err = run(&["tiles", "remove", &second, "--tiles", tiles])
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("published one"), "{err:#}");
    // `tiles remove ""` named `versions/` itself and deleted every version, the published
    // one too; names that could reach past one version directory are refused up front.
    for bad in ["", ".", "..", "../tiles", &format!("{second}/..")] {
        let err = run(&["tiles", "remove", bad, "--tiles", tiles])
            .await
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("is not a version name"),
            "{bad:?}: {err:#}"
        );
    }
    let err = run(&["tiles", "remove", "20990101T000000000Z-0", "--tiles", tiles])
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("not stored here"), "{err:#}");
    assert_eq!(store.versions().await.unwrap().len(), 2);
    assert_eq!(store.current_version().await.unwrap(), Some(second.clone()));
    run(&["tiles", "prune", "--keep", "1", "--tiles", tiles])
        .await
        .unwrap();
    let left = store.versions().await.unwrap();
    assert_eq!(left.len(), 1);
    assert!(left[0].current && left[0].version == second);

    // Bad input: a clear error naming the file, and the published version is untouched.
    let bytes = std::fs::read(sample).unwrap();
    let truncated = dir.path().join("truncated.osm.pbf");
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let err = run(&[
        "import",
        "roads",
        truncated.to_str().unwrap(),
        "--tiles",
        tiles,
    ])
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("truncated.osm.pbf"), "{err:#}");
    let err = run(&["import", "roads", "/nonexistent.osm.pbf", "--tiles", tiles])
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("does not exist"), "{err:#}");
    assert_eq!(store.current_version().await.unwrap(), Some(second));
    assert_eq!(store.versions().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiles_default_to_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("var");
    let sample = sample();
    run(&[
        "import",
        "roads",
        sample.to_str().unwrap(),
        "--data-dir",
        data_dir.to_str().unwrap(),
    ])
    .await
    .unwrap();
    let store = TileStore::open(data_dir.join("tiles").to_str().unwrap()).unwrap();
    assert!(store.current().await.unwrap().is_some());
    // The same import filled the geocoding table of the default database.
    let db = kit::db::Db::connect(None, &data_dir).await.unwrap();
    let places = navigation::geocode::count(&db).await.unwrap();
    assert!(places > 1000, "{places} places");
}
