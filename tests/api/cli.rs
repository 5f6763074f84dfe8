//! The operator CLI: `import businesses` from OSM XML (gzip) into the configured store,
//! idempotent on re-import, and searchable once published.

use std::io::Write;

use clap::Parser;
use geostack::cli::Cli;

const FIXTURE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="hand">
  <node id="1" lat="60.1700000" lon="24.9400000">
    <tag k="name" v="Kahvila &amp; Leipomo"/>
    <tag k="amenity" v="cafe"/>
    <tag k="addr:street" v="Aleksanterinkatu"/>
    <tag k="addr:housenumber" v="1"/>
    <tag k="opening_hours" v="24/7"/>
  </node>
  <node id="2" lat="60.1710000" lon="24.9410000"/>
  <node id="3" lat="60.1710000" lon="24.9430000"/>
  <node id="4" lat="60.1730000" lon="24.9430000"/>
  <node id="5" lat="60.1730000" lon="24.9410000"/>
  <node id="6" lat="60.1750000" lon="24.9450000"><tag k="amenity" v="bench"/></node>
  <way id="10">
    <nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="5"/><nd ref="2"/>
    <tag k="name" v="Kauppahalli"/>
    <tag k="shop" v="supermarket"/>
  </way>
  <way id="11">
    <nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="residential"/>
    <tag k="name" v="Some street"/>
  </way>
</osm>
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_businesses_from_gzipped_xml() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fixture.osm.gz");
    let gz = flate2_free_gzip(FIXTURE.as_bytes());
    std::fs::File::create(&file)
        .unwrap()
        .write_all(&gz)
        .unwrap();
    let data_dir = dir.path().join("var");
    let args = [
        "geostack",
        "import",
        "businesses",
        file.to_str().unwrap(),
        "--data-dir",
        data_dir.to_str().unwrap(),
    ];
    geostack::cli::run(Cli::parse_from(args), geostack::app::ALL_SERVICES)
        .await
        .unwrap();
    // Again: nothing changes.
    geostack::cli::run(Cli::parse_from(args), geostack::app::ALL_SERVICES)
        .await
        .unwrap();

    let db = kit::db::Db::connect(None, &data_dir).await.unwrap();
    assert_eq!(proximity::store::count_businesses(&db).await.unwrap(), 2);
    let (version, published) = proximity::store::load_published(&db).await.unwrap();
    assert_eq!(version, 2, "each import publishes");
    let names: Vec<&str> = published.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["Kahvila & Leipomo", "Kauppahalli"]);
    let hall = &published[1];
    assert_eq!(hall.category, "supermarket");
    // The way sits at the centroid of its four distinct nodes.
    assert!((hall.latitude - 60.172).abs() < 1e-9);
    assert!((hall.longitude - 24.942).abs() < 1e-9);
    let cafe = &published[0];
    assert_eq!(cafe.opening_hours.as_deref(), Some("24/7"));
    let revisions: Vec<i64> = sqlx::query_scalar("SELECT revision FROM businesses ORDER BY id")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        revisions,
        [1, 1],
        "re-import of unchanged data leaves rows alone"
    );
}

/// Gzip via the osm crate's own dependency would hide a bug there; this writes a stored
/// (uncompressed) deflate stream by hand, which every gzip reader accepts.
fn flate2_free_gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    for (i, chunk) in data.chunks(65_535).enumerate() {
        let last = (i + 1) * 65_535 >= data.len();
        out.push(u8::from(last));
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= byte as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Every flattened service configuration parses together (clap panics on a duplicate
/// argument id only at run time), with and without a subcommand, and `--help` renders.
#[test]
fn server_settings_parse() {
    Cli::try_parse_from(["geostack"]).expect("defaults parse");
    let cli = Cli::try_parse_from([
        "geostack",
        "serve",
        "--tiles",
        "/tmp/tiles",
        "--sample-data",
        "off",
        "--roads-sample-data",
        "off",
        "--tile-cache-bytes",
        "1000",
    ])
    .expect("serve flags parse");
    assert!(matches!(
        cli.command,
        Some(geostack::cli::Command::Serve(_))
    ));
    let help = Cli::try_parse_from(["geostack", "serve", "--help"]).unwrap_err();
    assert!(help.to_string().contains("TILE_CACHE_BYTES"));
}

/// Every variable `serve` reads is in README's configuration reference and in `.env.example`,
/// and docker-compose.yml refuses to start without a real `JWT_SECRET`.
#[test]
fn every_setting_is_documented_and_listed_in_env_example() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let read = |name: &str| std::fs::read_to_string(root.join(name)).expect(name);
    let (readme, example, compose) = (
        read("README.md"),
        read(".env.example"),
        read("docker-compose.yml"),
    );
    let help = Cli::try_parse_from(["geostack", "serve", "--help"])
        .unwrap_err()
        .to_string();
    let vars: Vec<&str> = help
        .split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split(['=', ']']).next())
        .collect();
    assert!(vars.len() > 40, "{vars:?}");
    for var in vars {
        assert!(
            readme.contains(&format!("`{var}`")),
            "{var} is not in README.md"
        );
        assert!(
            example.contains(&format!("#{var}=")) || example.contains(&format!("\n{var}=")),
            "{var} is not in .env.example"
        );
    }
    assert!(
        compose.contains("JWT_SECRET: ${JWT_SECRET:?"),
        "docker-compose.yml must require JWT_SECRET"
    );
    assert!(
        !compose.contains("placeholder"),
        "a placeholder secret in docker-compose.yml"
    );
}
