//! Real OpenStreetMap extracts (© OpenStreetMap contributors, ODbL 1.0).

use std::path::{Path, PathBuf};

use osm::{Element, Error, Format, Stats};

const HELSINKI: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/helsinki.osm.pbf");
const SHARED: &str = "/work/shared/data/osm";

/// Files outside the repository are optional: skip loudly rather than fail on machines
/// without them.
fn shared(name: &str) -> Option<PathBuf> {
    let path = Path::new(SHARED).join(name);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipping: {} does not exist", path.display());
        None
    }
}

/// Reads a whole file, checking the stream order on the way.
fn read_checked(path: &Path) -> (Stats, Vec<Element>) {
    let mut elements = Vec::new();
    let stats = osm::read(path, |e| elements.push(e)).unwrap();
    let rank = |e: &Element| match e {
        Element::Node(_) => 0,
        Element::Way(_) => 1,
        Element::Relation(_) => 2,
    };
    assert!(
        elements.windows(2).all(|w| rank(&w[0]) <= rank(&w[1])),
        "nodes, then ways, then relations"
    );
    assert!(
        elements
            .windows(2)
            .filter(|w| rank(&w[0]) == rank(&w[1]))
            .all(|w| w[0].id() < w[1].id()),
        "ids ascend within a kind, so blobs were delivered in file order"
    );
    assert_eq!(stats.elements(), elements.len() as u64);
    assert_eq!(stats.bytes, std::fs::metadata(path).unwrap().len());
    (stats, elements)
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("osm-test-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn helsinki_pbf() {
    let (stats, elements) = read_checked(Path::new(HELSINKI));
    assert_eq!(stats.format, Format::Pbf);
    assert!(stats.nodes > 10_000, "{stats:?}");
    assert!(stats.ways > 1_000, "{stats:?}");
    assert!(stats.relations > 10, "{stats:?}");
    for e in &elements {
        if let Element::Node(n) = e {
            assert!((59.5..61.0).contains(&n.lat), "{n:?}");
            assert!((24.0..26.0).contains(&n.lon), "{n:?}");
        }
    }
    let tagged = |k: &str| elements.iter().filter(|e| e.tag(k).is_some()).count();
    assert!(tagged("highway") > 500);
    assert!(tagged("amenity") > 100);
    let members: usize = elements
        .iter()
        .map(|e| match e {
            Element::Relation(r) => r.members.len(),
            _ => 0,
        })
        .sum();
    assert!(members > stats.relations as usize);
}

#[test]
fn progress_reaches_total() {
    let mut reports = Vec::new();
    let stats =
        osm::read_with_progress(HELSINKI, |_| {}, |done, total| reports.push((done, total)))
            .unwrap();
    let total = stats.bytes;
    assert!(reports.len() > 2, "one report per blob");
    assert_eq!(reports.last(), Some(&(total, total)));
    assert!(
        reports
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[1].1 == total)
    );
}

#[test]
fn read_from_matches_read() {
    let bytes = std::fs::read(HELSINKI).unwrap();
    assert_eq!(Format::detect(&bytes), Some(Format::Pbf));
    let mut from_memory = Vec::new();
    osm::read_from(bytes.as_slice(), Format::Pbf, |e| from_memory.push(e)).unwrap();
    let mut from_file = Vec::new();
    osm::read(HELSINKI, |e| from_file.push(e)).unwrap();
    assert_eq!(from_memory, from_file);
}

#[test]
fn andorra_pbf_exact_counts() {
    let Some(path) = shared("andorra.osm.pbf") else {
        return;
    };
    let (stats, _) = read_checked(&path);
    assert_eq!((stats.nodes, stats.ways), (69_644, 2_725));
}

#[test]
fn north_bayreuth_xml_gz_exact_counts() {
    let Some(path) = shared("north-bayreuth.osm.gz") else {
        return;
    };
    let (stats, elements) = read_checked(&path);
    assert_eq!(stats.format, Format::XmlGz);
    assert_eq!((stats.nodes, stats.ways), (58_631, 7_801));
    let restrictions = elements
        .iter()
        .filter(|e| e.tag("type") == Some("restriction"))
        .count();
    assert_eq!(restrictions, 40);
}

#[test]
fn truncated_pbf_is_an_error() {
    let bytes = std::fs::read(HELSINKI).unwrap();
    let path = temp_file("half.osm.pbf", &bytes[..bytes.len() / 2]);
    let mut seen = 0u64;
    let result = osm::read(&path, |_| seen += 1);
    std::fs::remove_file(&path).unwrap();
    match result {
        Err(Error::Truncated {
            format: Format::Pbf,
            offset,
        }) => assert_eq!(offset, bytes.len() as u64 / 2),
        other => panic!("unexpected {other:?}"),
    }
    assert!(seen > 0, "blobs before the cut are still delivered");
}

#[test]
fn pbf_cut_anywhere_is_an_error() {
    let bytes = std::fs::read(HELSINKI).unwrap();
    // Cuts near the start hit the length prefix, the blob header and the first blob; the rest
    // spread over the file.
    let cuts = (1..40).chain((1..50).map(|i| i * bytes.len() / 50));
    for cut in cuts {
        let result = osm::read_from(&bytes[..cut], Format::Pbf, |_| {});
        assert!(result.is_err(), "cut at {cut} accepted");
    }
}

#[test]
fn corrupt_pbf_is_an_error() {
    let mut bytes = std::fs::read(HELSINKI).unwrap();
    // Flip bytes inside compressed data in the middle of the file: zlib's checksum or the
    // protobuf decoder must notice; either way, no panic and no silent success.
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0x5a;
    }
    let result = osm::read_from(bytes.as_slice(), Format::Pbf, |_| {});
    assert!(result.is_err());
}

#[test]
fn garbage_pbf_is_an_error() {
    for garbage in [
        &b"\x00\x00\x00\x05hello"[..],
        &b"\xff\xff\xff\xff"[..],
        &b"\x00\x00\x00\x0d\x0a\x09OSMHeader\x18\x7f"[..],
        &[0u8; 100][..],
    ] {
        let result = osm::read_from(garbage, Format::Pbf, |_| {});
        assert!(result.is_err(), "{garbage:?}");
    }
}
