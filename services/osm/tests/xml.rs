//! OSM XML and gzipped XML against a hand-written fixture.

use std::io::Write;

use osm::{Element, Error, Format, Member, MemberKind, Node, Relation, Way};

const FIXTURE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="hand">
  <bounds minlat="60.1" minlon="24.9" maxlat="60.2" maxlon="25.0"/>
  <node id="1" lat="60.1699" lon="24.9384" version="3" user="a&amp;b"/>
  <node id="2" visible="true" lat="-33.5" lon="-70.25">
    <tag k="amenity" v="cafe"/>
    <tag k="name" v="Caf&#233; &quot;Fish &amp; Chips&quot; &lt;3"/>
    <tag k="note" v='single &apos;quoted&apos;'/>
  </node>
  <node id="-3" lat="0" lon="180"></node>
  <way id="10" version="1">
    <nd ref="1"/>
    <nd ref="2"/>
    <nd ref="-3"/>
    <nd ref="1"/>
    <tag k="highway" v="residential"/>
  </way>
  <way id="11"/>
  <relation id="100">
    <member type="way" ref="10" role="outer"/>
    <member type="node" ref="2" role=""/>
    <member type="relation" ref="101" role="sub&gt;area"/>
    <tag k="type" v="multipolygon"/>
  </relation>
  <changeset id="5"><tag k="comment" v="ignored, not an element"/></changeset>
</osm>
"#;

fn expected() -> Vec<Element> {
    let t = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    vec![
        Element::Node(Node {
            id: 1,
            lat: 60.1699,
            lon: 24.9384,
            tags: vec![],
        }),
        Element::Node(Node {
            id: 2,
            lat: -33.5,
            lon: -70.25,
            tags: vec![
                t("amenity", "cafe"),
                t("name", "Café \"Fish & Chips\" <3"),
                t("note", "single 'quoted'"),
            ],
        }),
        Element::Node(Node {
            id: -3,
            lat: 0.0,
            lon: 180.0,
            tags: vec![],
        }),
        Element::Way(Way {
            id: 10,
            refs: vec![1, 2, -3, 1],
            tags: vec![t("highway", "residential")],
        }),
        Element::Way(Way {
            id: 11,
            refs: vec![],
            tags: vec![],
        }),
        Element::Relation(Relation {
            id: 100,
            members: vec![
                Member {
                    kind: MemberKind::Way,
                    id: 10,
                    role: "outer".into(),
                },
                Member {
                    kind: MemberKind::Node,
                    id: 2,
                    role: String::new(),
                },
                Member {
                    kind: MemberKind::Relation,
                    id: 101,
                    role: "sub>area".into(),
                },
            ],
            tags: vec![t("type", "multipolygon")],
        }),
    ]
}

fn collect(bytes: &[u8], format: Format) -> Result<(Vec<Element>, osm::Stats), Error> {
    let mut out = Vec::new();
    let stats = osm::read_from(bytes, format, |e| out.push(e))?;
    Ok((out, stats))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn parses_fixture() {
    let (elements, stats) = collect(FIXTURE.as_bytes(), Format::Xml).unwrap();
    assert_eq!(elements, expected());
    assert_eq!((stats.nodes, stats.ways, stats.relations), (3, 2, 1));
    assert_eq!(stats.bytes, FIXTURE.len() as u64);
    assert_eq!(stats.format, Format::Xml);
    assert_eq!(
        elements[1].tag("name"),
        Some("Café \"Fish & Chips\" <3"),
        "entities in attribute values are unescaped"
    );
}

#[test]
fn gzipped_fixture_gives_identical_elements() {
    let gz = gzip(FIXTURE.as_bytes());
    assert_eq!(Format::detect(&gz), Some(Format::XmlGz));
    let (elements, stats) = collect(&gz, Format::XmlGz).unwrap();
    assert_eq!(elements, expected());
    assert_eq!(stats.bytes, gz.len() as u64);
}

#[test]
fn multi_member_gzip_is_read_whole() {
    // pigz and concatenated downloads produce several gzip members.
    let (head, tail) = FIXTURE.split_at(FIXTURE.find("<way").unwrap());
    let mut gz = gzip(head.as_bytes());
    gz.extend(gzip(tail.as_bytes()));
    let (elements, _) = collect(&gz, Format::XmlGz).unwrap();
    assert_eq!(elements, expected());
}

#[test]
fn bom_and_leading_whitespace() {
    let text = format!("\u{feff}\n  {}", FIXTURE.trim_start_matches(|c| c != '\n'));
    assert_eq!(Format::detect(text.as_bytes()), Some(Format::Xml));
    let (elements, _) = collect(text.as_bytes(), Format::Xml).unwrap();
    assert_eq!(elements, expected());
}

#[test]
fn truncated_xml_is_an_error_at_every_cut() {
    // Every cut inside the root element must fail: mid-tag, mid-attribute, between elements.
    let end = FIXTURE.rfind("</osm>").unwrap();
    let mut cuts = 0;
    for cut in (FIXTURE.find("<osm").unwrap() + 1)..end {
        if !FIXTURE.is_char_boundary(cut) {
            continue;
        }
        let result = collect(&FIXTURE.as_bytes()[..cut], Format::Xml);
        assert!(result.is_err(), "cut at {cut} was accepted");
        cuts += 1;
    }
    assert!(cuts > 500);
}

#[test]
fn truncated_gzip_is_an_error() {
    let gz = gzip(FIXTURE.as_bytes());
    for cut in [10, gz.len() / 2, gz.len() - 4] {
        let err = collect(&gz[..cut], Format::XmlGz).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Truncated { .. } | Error::Xml { .. } | Error::Io(_)
            ),
            "cut at {cut}: {err}"
        );
    }
}

#[test]
fn truncated_xml_reports_truncation() {
    let cut = FIXTURE.find("<way id=\"11\"/>").unwrap();
    let err = collect(&FIXTURE.as_bytes()[..cut], Format::Xml).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Truncated {
                format: Format::Xml,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn missing_lat_is_an_attribute_error() {
    let xml = r#"<osm><node id="1" lat="1" lon="2"/><node id="7" lon="2"/></osm>"#;
    let at = xml.find(r#"<node id="7""#).unwrap() as u64;
    let err = collect(xml.as_bytes(), Format::Xml).unwrap_err();
    match &err {
        Error::Attribute {
            element: "node",
            attribute: "lat",
            value: None,
            position,
        } => assert_eq!(*position, at),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!("missing attribute `lat` on <node> at byte {at}")
    );
}

#[test]
fn invalid_attributes_are_errors() {
    for (xml, attribute) in [
        (r#"<osm><node id="x" lat="1" lon="2"/></osm>"#, "id"),
        (r#"<osm><node id="1" lat="NaN" lon="2"/></osm>"#, "lat"),
        (r#"<osm><node id="1" lat="1" lon="181"/></osm>"#, "lon"),
        (r#"<osm><way id="1"><nd ref=""/></way></osm>"#, "ref"),
        (r#"<osm><way id="1"><nd/></way></osm>"#, "ref"),
        (r#"<osm><way id="1"><tag k="a"/></way></osm>"#, "v"),
        (
            r#"<osm><relation id="1"><member type="area" ref="1"/></relation></osm>"#,
            "type",
        ),
        (r#"<osm><relation/></osm>"#, "id"),
    ] {
        match collect(xml.as_bytes(), Format::Xml) {
            Err(Error::Attribute { attribute: a, .. }) => assert_eq!(a, attribute, "{xml}"),
            other => panic!("{xml}: unexpected {other:?}"),
        }
    }
}

#[test]
fn malformed_xml_is_an_error_with_position() {
    let cases: [&[u8]; 6] = [
        br#"<osm><node id="1" lat="1" lon="2"></way></osm>"#,
        br#"<osm><node id="1" lat="1" lon="2" lat="3"/></osm>"#,
        br#"<osm><way id="1"><tag k="a" v="&bogus;"/></way></osm>"#,
        br#"<html><body>not found</body></html>"#,
        br#"<osm></osm><osm></osm>"#,
        b"<osm><way id=\"1\"><tag k=\"a\" v=\"\xff\xfe\"/></way></osm>",
    ];
    for xml in cases {
        let err = collect(xml, Format::Xml).unwrap_err();
        assert!(
            matches!(err, Error::Xml { .. }),
            "{}: {err:?}",
            String::from_utf8_lossy(xml)
        );
    }
    let err = collect(
        br#"<osm><node id="1" lat="1" lon="2"></way></osm>"#,
        Format::Xml,
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with("malformed xml at byte "),
        "{err}"
    );
}

#[test]
fn empty_root_and_prolog_only() {
    let (elements, _) = collect(b"<osm version='0.6'/>", Format::Xml).unwrap();
    assert!(elements.is_empty());
    assert!(collect(b"<?xml version='1.0'?>", Format::Xml).is_err());
    assert!(collect(b"", Format::Xml).is_err());
}

#[test]
fn garbage_is_an_error() {
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert_eq!(Format::detect(&garbage), None);
    for format in [Format::Pbf, Format::Xml, Format::XmlGz] {
        assert!(
            collect(&garbage, format).is_err(),
            "garbage accepted as {format}"
        );
    }
}

#[test]
fn garbage_file_is_an_unknown_format() {
    let path = std::env::temp_dir().join(format!("osm-garbage-{}.osm", std::process::id()));
    std::fs::write(&path, b"PK\x03\x04 definitely a zip file").unwrap();
    let result = osm::read(&path, |_| {});
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(result, Err(Error::UnknownFormat(_))), "{result:?}");

    let missing = osm::read("/nonexistent/dir/file.osm.pbf", |_| {}).unwrap_err();
    assert!(matches!(missing, Error::Open { .. }));
    assert!(
        missing
            .to_string()
            .starts_with("cannot open /nonexistent/dir/file.osm.pbf: ")
    );
}

#[test]
fn read_detects_xml_file_and_reports_progress() {
    let path = std::env::temp_dir().join(format!("osm-fixture-{}.osm.gz", std::process::id()));
    let gz = gzip(FIXTURE.as_bytes());
    std::fs::write(&path, &gz).unwrap();
    let mut elements = Vec::new();
    let mut reports = Vec::new();
    let result = osm::read_with_progress(
        &path,
        |e| elements.push(e),
        |done, total| reports.push((done, total)),
    );
    std::fs::remove_file(&path).unwrap();
    let stats = result.unwrap();
    assert_eq!(stats.format, Format::XmlGz);
    assert_eq!(elements, expected());
    let total = gz.len() as u64;
    assert_eq!(reports.last(), Some(&(total, total)));
    assert!(reports.windows(2).all(|w| w[0].0 < w[1].0));
}

/// Files go through the threaded inflater (`read_with_progress`), fixtures in memory do not:
/// both must agree, including across many chunks and on damage.
#[test]
fn gzip_files_are_inflated_on_a_second_thread_with_the_same_result() {
    let dir = std::env::temp_dir().join(format!("osm-gz-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut big = String::from("<osm version=\"0.6\">\n");
    for i in 1..=40_000 {
        big.push_str(&format!(
            "<node id=\"{i}\" lat=\"{}\" lon=\"24.9\"><tag k=\"name\" v=\"n{i}\"/></node>\n",
            60.0 + f64::from(i) * 1e-6
        ));
    }
    big.push_str("</osm>\n");
    for (name, text) in [("fixture", FIXTURE), ("big", big.as_str())] {
        let gz = gzip(text.as_bytes());
        let path = dir.join(format!("{name}.osm.gz"));
        std::fs::write(&path, &gz).unwrap();
        let mut from_file = Vec::new();
        let mut last_progress = (0, 0);
        let stats = osm::read_with_progress(
            &path,
            |e| from_file.push(e),
            |done, total| {
                assert!(done >= last_progress.0, "progress goes forward");
                last_progress = (done, total);
            },
        )
        .unwrap();
        let (in_memory, _) = collect(&gz, Format::XmlGz).unwrap();
        assert_eq!(from_file, in_memory, "{name}");
        assert_eq!(stats.bytes, gz.len() as u64);
        assert_eq!(last_progress, (gz.len() as u64, gz.len() as u64));

        let cut = dir.join(format!("{name}-cut.osm.gz"));
        std::fs::write(&cut, &gz[..gz.len() * 2 / 3]).unwrap();
        let err = osm::read(&cut, |_| {}).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Truncated { .. } | Error::Xml { .. } | Error::Io(_)
            ),
            "{name}: {err}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
