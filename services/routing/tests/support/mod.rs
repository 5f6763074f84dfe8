//! ASCII-map OSM fixtures: letters are nodes on a grid (one character = about 11 m east,
//! one line = about 22 m north), ways are strings of letters.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use routing::import::import_roads;
use routing::{BuildReport, Graph, Level, Mode, TileStore};

type Tags = Vec<(String, String)>;

pub struct Fixture {
    nodes: Vec<(char, i64, f64, f64)>,
    ways: Vec<(i64, Vec<i64>, Tags)>,
    relations: Vec<String>,
}

impl Fixture {
    pub fn new(map: &str) -> Fixture {
        let mut nodes = Vec::new();
        for (row, line) in map.lines().enumerate() {
            for (col, ch) in line.chars().enumerate() {
                if ch.is_ascii_alphabetic() {
                    let id = 1000 + nodes.len() as i64;
                    nodes.push((
                        ch,
                        id,
                        60.0 - row as f64 * 0.0002,
                        25.0 + col as f64 * 0.0002,
                    ));
                }
            }
        }
        Fixture {
            nodes,
            ways: Vec::new(),
            relations: Vec::new(),
        }
    }

    pub fn node(&self, ch: char) -> i64 {
        self.nodes
            .iter()
            .find(|n| n.0 == ch)
            .unwrap_or_else(|| panic!("no node {ch}"))
            .1
    }

    /// Adds a way through `path` (node letters) with `tags` ("k=v" each); returns its id.
    pub fn way(&mut self, path: &str, tags: &[&str]) -> i64 {
        let id = 1 + self.ways.len() as i64;
        let refs = path.chars().map(|c| self.node(c)).collect();
        self.ways.push((id, refs, parse_tags(tags)));
        id
    }

    /// Adds a node off the map grid (referenced by id in [`Fixture::way_refs`]).
    pub fn extra_node(&mut self, id: i64, lat: f64, lon: f64) {
        self.nodes.push((' ', id, lat, lon));
    }

    /// Adds a way with raw node ids (for references to missing nodes).
    pub fn way_refs(&mut self, refs: Vec<i64>, tags: &[&str]) -> i64 {
        let id = 1 + self.ways.len() as i64;
        self.ways.push((id, refs, parse_tags(tags)));
        id
    }

    /// A turn restriction from way `from` via node `via` to way `to`.
    pub fn restriction(&mut self, from: i64, via: char, to: i64, tags: &[&str]) {
        let id = 1 + self.relations.len();
        let mut xml = format!(
            "<relation id=\"{id}\"><member type=\"way\" ref=\"{from}\" role=\"from\"/><member type=\"node\" ref=\"{}\" role=\"via\"/><member type=\"way\" ref=\"{to}\" role=\"to\"/>",
            self.node(via)
        );
        for (k, v) in parse_tags(tags) {
            xml.push_str(&format!("<tag k=\"{k}\" v=\"{v}\"/>"));
        }
        xml.push_str("</relation>");
        self.relations.push(xml);
    }

    pub fn xml(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\"?>\n<osm version=\"0.6\">\n");
        for (_, id, lat, lon) in &self.nodes {
            out.push_str(&format!(
                "<node id=\"{id}\" lat=\"{lat:.7}\" lon=\"{lon:.7}\"/>\n"
            ));
        }
        for (id, refs, tags) in &self.ways {
            out.push_str(&format!("<way id=\"{id}\">"));
            for r in refs {
                out.push_str(&format!("<nd ref=\"{r}\"/>"));
            }
            for (k, v) in tags {
                out.push_str(&format!("<tag k=\"{k}\" v=\"{v}\"/>"));
            }
            out.push_str("</way>\n");
        }
        for r in &self.relations {
            out.push_str(r);
            out.push('\n');
        }
        out.push_str("</osm>\n");
        out
    }

    pub fn build(&self) -> (Graph, BuildReport) {
        routing::import::build_graph_from_bytes(self.xml().as_bytes()).expect("fixture parses")
    }
}

fn parse_tags(tags: &[&str]) -> Tags {
    tags.iter()
        .map(|t| {
            let (k, v) = t
                .split_once('=')
                .unwrap_or_else(|| panic!("tag {t} is not k=v"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// Exact cost from node `a` to node `b` (OSM ids) for `mode`, if reachable.
pub fn cost(graph: &Graph, a: i64, b: i64, mode: Mode) -> Option<f64> {
    let (a, b) = (
        graph.node_by_osm_id(a).unwrap(),
        graph.node_by_osm_id(b).unwrap(),
    );
    let d = routing::reference::distances(graph, a, mode)[b as usize];
    d.is_finite().then_some(d)
}

/// The sample extract shipped in `data/`.
pub fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/helsinki.osm.pbf")
}

/// Publishes, lists, switches and removes versions; checks a failed build publishes nothing.
pub async fn exercise(store: &TileStore) {
    assert_eq!(store.current().await.unwrap(), None);
    let first = import_roads(&sample(), store, |_, _, _| {}).await.unwrap();
    let manifest = store.current().await.unwrap().expect("published");
    assert_eq!(manifest.version, first.version);
    // Every mode is contracted by default, and each hierarchy loads back.
    assert_eq!(manifest.contracted.len(), Mode::ALL.len());
    for mode in Mode::ALL {
        let ch = store.load_contracted(&manifest, mode).await.unwrap();
        assert_eq!(ch.map(|c| c.mode()), Some(mode));
    }
    assert_eq!(
        manifest.tiles.len() as u64,
        first.levels.iter().map(|l| l.tiles).sum::<u64>()
    );
    assert!(
        manifest
            .levels
            .iter()
            .find(|l| l.level == Level::Local)
            .unwrap()
            .tiles
            >= 4
    );
    for entry in &manifest.tiles {
        let tile = store
            .load_tile(&manifest.version, entry.level, entry.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((tile.level(), tile.id()), (entry.level, entry.id));
        assert_eq!(tile.stored_bytes() as u64, entry.bytes);
    }
    assert!(
        store
            .load_tile(&manifest.version, Level::Local, 1)
            .await
            .unwrap()
            .is_none()
    );

    // A rebuild is a new version; readers following CURRENT switch to it.
    let second = import_roads(&sample(), store, |_, _, _| {}).await.unwrap();
    assert_ne!(first.version, second.version);
    assert_eq!(
        store.current_version().await.unwrap().as_deref(),
        Some(second.version.as_str())
    );
    let versions = store.versions().await.unwrap();
    assert_eq!(
        versions
            .iter()
            .map(|v| (v.version.as_str(), v.current))
            .collect::<Vec<_>>(),
        vec![
            (first.version.as_str(), false),
            (second.version.as_str(), true)
        ]
    );
    assert!(matches!(
        store.remove(&second.version).await,
        Err(routing::store::StoreError::RemovingCurrent(_))
    ));
    assert!(store.remove(&first.version).await.unwrap() > 0);
    assert!(matches!(
        store.remove(&first.version).await,
        Err(routing::store::StoreError::NoSuchVersion(_))
    ));
    assert_eq!(store.versions().await.unwrap().len(), 1);

    // A truncated file fails the build and leaves the published version alone.
    let bytes = std::fs::read(sample()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("truncated.osm.pbf");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = import_roads(&truncated, store, |_, _, _| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("truncated.osm.pbf"), "{err}");
    assert_eq!(
        store.current_version().await.unwrap().as_deref(),
        Some(second.version.as_str())
    );
    assert_eq!(
        store.versions().await.unwrap().len(),
        1,
        "nothing half-written is left"
    );
}

/// The real OSM extracts (`testkit::extracts`).
pub fn extracts_dir() -> PathBuf {
    testkit::extracts::dir()
}

/// One extract by file name.
pub fn extract(name: &str) -> PathBuf {
    testkit::extracts::path(name)
}
