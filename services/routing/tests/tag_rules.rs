//! Tag handling on hand-written fixtures: access per mode, oneway variants, maxspeed,
//! ferries, restrictions, islands and bad input.

mod support;

use routing::tags::{RoadClass, flags};
use routing::{Graph, Mode, ModeMask};
use support::{Fixture, cost};

const D: ModeMask = ModeMask(1);
const C: ModeMask = ModeMask(2);
const W: ModeMask = ModeMask(4);
const NONE: ModeMask = ModeMask(0);

/// Forward and backward access of a way.
type Both = (ModeMask, ModeMask);

fn m(masks: &[ModeMask]) -> ModeMask {
    masks.iter().fold(NONE, |a, b| a.union(*b))
}

/// (forward, backward) access of a single two-node way `ab` with these tags, or `None` when
/// the way is not routable at all.
fn access(tags: &[&str]) -> Option<Both> {
    let mut f = Fixture::new("a-b");
    f.way("ab", tags);
    let (graph, _) = f.build();
    if graph.edges.is_empty() {
        return None;
    }
    let a = graph.node_by_osm_id(f.node('a')).unwrap();
    let fwd = graph.edges.iter().find(|e| e.source == a).unwrap().access;
    let bwd = graph.edges.iter().find(|e| e.source != a).unwrap().access;
    Some((fwd, bwd))
}

#[test]
fn access_per_mode() {
    let all = m(&[D, C, W]);
    let table: &[(&[&str], Option<Both>)] = &[
        (&["highway=residential"], Some((all, all))),
        (&["highway=motorway", "oneway=no"], Some((D, D))),
        (&["highway=motorway"], Some((D, NONE))),
        (&["highway=trunk"], Some((m(&[D, C]), m(&[D, C])))),
        (&["highway=trunk", "sidewalk=both"], Some((all, all))),
        (&["highway=trunk", "motorroad=yes"], Some((D, D))),
        (&["highway=primary"], Some((all, all))),
        (&["highway=footway"], Some((W, W))),
        (
            &["highway=footway", "bicycle=yes"],
            Some((m(&[C, W]), m(&[C, W]))),
        ),
        (
            &["highway=pedestrian", "motor_vehicle=destination"],
            Some((m(&[D, W]), m(&[D, W]))),
        ),
        (&["highway=steps"], Some((W, W))),
        (&["highway=steps", "motorcar=yes"], Some((W, W))),
        (&["highway=path"], Some((m(&[C, W]), m(&[C, W])))),
        (&["highway=cycleway"], Some((m(&[C, W]), m(&[C, W])))),
        (&["highway=cycleway", "foot=no"], Some((C, C))),
        (&["highway=track"], Some((m(&[C, W]), m(&[C, W])))),
        (&["highway=bridleway"], None),
        (&["highway=bridleway", "foot=designated"], Some((W, W))),
        (&["highway=service", "access=private"], None),
        (&["highway=service", "access=no", "foot=yes"], Some((W, W))),
        (
            &["highway=residential", "access=destination"],
            Some((all, all)),
        ),
        (
            &["highway=residential", "motor_vehicle=no"],
            Some((m(&[C, W]), m(&[C, W]))),
        ),
        (&["highway=residential", "vehicle=no"], Some((W, W))),
        (
            &["highway=residential", "vehicle=no", "bicycle=yes"],
            Some((m(&[C, W]), m(&[C, W]))),
        ),
        (
            &["highway=residential", "foot=private"],
            Some((m(&[D, C]), m(&[D, C]))),
        ),
        (&["highway=construction"], None),
        (&["highway=proposed"], None),
        (&["highway=residential", "area=yes"], Some((W, W))),
        (&["highway=pedestrian", "area=yes"], Some((W, W))),
        (&["highway=platform"], Some((W, W))),
        (&["highway=bus_guideway"], None),
        (&["building=yes"], None),
        (&["route=ferry"], Some((m(&[C, W]), m(&[C, W])))),
        (&["route=ferry", "motor_vehicle=yes"], Some((all, all))),
    ];
    for (tags, expected) in table {
        assert_eq!(access(tags), *expected, "{tags:?}");
    }
}

#[test]
fn oneway_variants() {
    let vehicles = m(&[D, C]);
    let table: &[(&[&str], Both)] = &[
        (&["highway=residential", "oneway=yes"], (m(&[D, C, W]), W)),
        (&["highway=residential", "oneway=1"], (m(&[D, C, W]), W)),
        (&["highway=residential", "oneway=true"], (m(&[D, C, W]), W)),
        (&["highway=residential", "oneway=-1"], (W, m(&[D, C, W]))),
        (&["highway=residential", "oneway=reversible"], (W, W)),
        (
            &["highway=residential", "oneway=no"],
            (m(&[D, C, W]), m(&[D, C, W])),
        ),
        (
            &["highway=residential", "junction=roundabout"],
            (m(&[D, C, W]), W),
        ),
        (
            &["highway=residential", "junction=roundabout", "oneway=no"],
            (m(&[D, C, W]), m(&[D, C, W])),
        ),
        (&["highway=motorway_link"], (D, NONE)),
        (
            &["highway=residential", "oneway=yes", "oneway:bicycle=no"],
            (m(&[D, C, W]), m(&[C, W])),
        ),
        (
            &[
                "highway=residential",
                "oneway=yes",
                "cycleway=opposite_lane",
            ],
            (m(&[D, C, W]), m(&[C, W])),
        ),
        (
            &["highway=residential", "oneway:bicycle=yes"],
            (m(&[D, C, W]), m(&[D, W])),
        ),
        (
            &["highway=residential", "oneway=maybe"],
            (m(&[D, C, W]), m(&[D, C, W])),
        ),
        (&["highway=trunk", "oneway=yes"], (vehicles, NONE)),
    ];
    for (tags, expected) in table {
        assert_eq!(access(tags), Some(*expected), "{tags:?}");
    }
}

fn only_edge(tags: &[&str]) -> routing::Edge {
    let mut f = Fixture::new("a-------------b");
    f.way("ab", tags);
    let (graph, _) = f.build();
    graph
        .edges
        .into_iter()
        .find(|e| e.forward)
        .expect("an edge")
}

#[test]
fn speeds_names_and_flags() {
    assert_eq!(only_edge(&["highway=residential"]).speed_kmh, 30);
    assert_eq!(
        only_edge(&["highway=residential", "maxspeed=40"]).speed_kmh,
        40
    );
    assert_eq!(
        only_edge(&["highway=primary", "maxspeed=30 mph"]).speed_kmh,
        48
    );
    assert_eq!(
        only_edge(&["highway=primary", "maxspeed=DE:rural"]).speed_kmh,
        100
    );
    assert_eq!(
        only_edge(&["highway=residential", "maxspeed=9999"]).speed_kmh,
        30
    );
    assert_eq!(
        only_edge(&["highway=residential", "maxspeed=fast"]).speed_kmh,
        30
    );
    assert_eq!(
        only_edge(&["highway=motorway", "maxspeed=none"]).speed_kmh,
        130
    );
    let e = only_edge(&[
        "highway=primary",
        "name=Mannerheimintie",
        "ref=E12",
        "toll=yes",
        "bridge=yes",
    ]);
    assert_eq!(e.name.as_deref(), Some("Mannerheimintie"));
    assert_eq!(e.reference.as_deref(), Some("E12"));
    assert_eq!(e.flags, flags::TOLL | flags::BRIDGE);
    assert_eq!(e.class, RoadClass::Primary);
    let tunnel = only_edge(&["highway=secondary", "tunnel=yes"]);
    assert_eq!(tunnel.flags, flags::TUNNEL);
    assert_eq!(tunnel.level(), routing::Level::Arterial);
    // 14 characters ~ 0.0028 degrees of longitude at 60N ~ 155.8 m.
    assert!((e.length_m - 155.8).abs() < 1.0, "{}", e.length_m);
    // Driving cost is time at the edge speed; walking cost is distance at 5 km/h.
    let t = e.cost(Mode::Driving).unwrap();
    assert!((t - f64::from(e.length_m) / (65.0 / 3.6)).abs() < 1e-9);
    let w = e.cost(Mode::Walking).unwrap();
    assert!((w - f64::from(e.length_m) / (5.0 / 3.6)).abs() < 1e-9);
}

#[test]
fn ferries_carry_their_scheduled_speed() {
    let e = only_edge(&["route=ferry", "motor_vehicle=yes", "duration=00:01"]);
    assert_eq!(e.flags & flags::FERRY, flags::FERRY);
    assert_eq!(e.class, RoadClass::Ferry);
    // ~155.8 m in 60 s = 9.3 km/h.
    assert_eq!(e.speed_kmh, 9);
    assert!(e.cost(Mode::Driving).is_some());
    let plain = only_edge(&["route=ferry"]);
    assert!(
        plain.cost(Mode::Driving).is_none(),
        "car ferries must say so"
    );
    assert!(plain.cost(Mode::Walking).is_some());
}

/// A crossing: `n`orth, `s`outh, `w`est, `e`ast arms around `x`, and a much longer outer
/// ring through the corners so every forbidden turn has a detour.
const CROSSING: &str = "\
a         b

    n
  w x e
    s

c         d";

fn crossing() -> (Fixture, [i64; 4]) {
    let mut f = Fixture::new(CROSSING);
    let ws = f.way("wx", &["highway=residential"]);
    let xe = f.way("xe", &["highway=residential"]);
    let xn = f.way("xn", &["highway=residential"]);
    let xs = f.way("xs", &["highway=residential"]);
    for ring in ["wan", "nbe", "eds", "scw"] {
        f.way(ring, &["highway=residential"]);
    }
    (f, [ws, xe, xn, xs])
}

fn direct(graph: &Graph, f: &Fixture, a: char, b: char, mode: Mode) -> bool {
    // Through the crossing costs two short arms; the ring detour costs more.
    let c = cost(graph, f.node(a), f.node(b), mode).unwrap();
    let straight = cost(graph, f.node(a), f.node('x'), mode).unwrap()
        + cost(graph, f.node('x'), f.node(b), mode).unwrap();
    (c - straight).abs() < 1e-6
}

#[test]
fn no_turn_restriction() {
    let (mut f, [wx, _, xn, _]) = crossing();
    f.restriction(
        wx,
        'x',
        xn,
        &["type=restriction", "restriction=no_left_turn"],
    );
    let (graph, report) = f.build();
    assert_eq!(report.restrictions_applied, 1);
    assert!(!direct(&graph, &f, 'w', 'n', Mode::Driving));
    assert!(!direct(&graph, &f, 'w', 'n', Mode::Cycling));
    assert!(
        direct(&graph, &f, 'w', 'n', Mode::Walking),
        "pedestrians are not restricted"
    );
    assert!(
        direct(&graph, &f, 'w', 'e', Mode::Driving),
        "other turns stay open"
    );
    assert!(
        direct(&graph, &f, 'n', 'w', Mode::Driving),
        "the opposite turn stays open"
    );
}

#[test]
fn only_turn_restriction() {
    let (mut f, [wx, xe, _, _]) = crossing();
    f.restriction(
        wx,
        'x',
        xe,
        &["type=restriction", "restriction=only_straight_on"],
    );
    let (graph, _) = f.build();
    assert!(direct(&graph, &f, 'w', 'e', Mode::Driving));
    assert!(!direct(&graph, &f, 'w', 'n', Mode::Driving));
    assert!(!direct(&graph, &f, 'w', 's', Mode::Driving));
    assert!(
        direct(&graph, &f, 's', 'n', Mode::Driving),
        "other approaches are free"
    );
}

#[test]
fn restrictions_per_mode_and_exceptions() {
    let (mut f, [wx, _, xn, xs]) = crossing();
    f.restriction(
        wx,
        'x',
        xn,
        &["type=restriction", "restriction:motorcar=no_left_turn"],
    );
    f.restriction(
        wx,
        'x',
        xs,
        &[
            "type=restriction",
            "restriction=no_right_turn",
            "except=bicycle",
        ],
    );
    let (graph, _) = f.build();
    assert!(!direct(&graph, &f, 'w', 'n', Mode::Driving));
    assert!(direct(&graph, &f, 'w', 'n', Mode::Cycling));
    assert!(!direct(&graph, &f, 'w', 's', Mode::Driving));
    assert!(direct(&graph, &f, 'w', 's', Mode::Cycling));
}

#[test]
fn unusable_restrictions_are_counted() {
    let (mut f, [wx, xe, _, _]) = crossing();
    f.restriction(
        wx,
        'n',
        xe,
        &["type=restriction", "restriction=no_left_turn"],
    ); // not at via
    f.restriction(wx, 'x', xe, &["type=restriction", "restriction=give_way"]); // not a turn rule
    f.restriction(
        wx,
        'x',
        xe,
        &[
            "type=restriction",
            "restriction=no_left_turn",
            "except=motorcar;bicycle",
        ],
    );
    let (graph, report) = f.build();
    assert_eq!(report.restrictions_applied, 0);
    assert_eq!(report.restrictions_unresolved, 1);
    assert_eq!(report.restrictions_malformed, 1);
    assert!(graph.forbidden.is_empty());
}

#[test]
fn islands_are_marked_not_dropped() {
    let mut f = Fixture::new("a-b-c-d\n\n\n       x-y");
    for way in ["ab", "bc", "cd"] {
        f.way(way, &["highway=residential"]);
    }
    f.way("xy", &["highway=service"]);
    let (graph, _) = f.build();
    let small = |c: char| graph.nodes[graph.node_by_osm_id(f.node(c)).unwrap() as usize].small;
    assert_eq!(small('a'), NONE);
    assert_eq!(
        small('x'),
        ModeMask::ALL,
        "the island is kept and marked for every mode"
    );
    assert!(
        cost(&graph, f.node('x'), f.node('y'), Mode::Driving).is_some(),
        "an island still routes"
    );

    // A lone fixture of three ways is the main network of its own graph.
    let mut lone = Fixture::new("a-b-c-d");
    lone.way("ab", &["highway=service"]);
    lone.way("bc", &["highway=service"]);
    lone.way("cd", &["highway=service"]);
    let (graph, _) = lone.build();
    assert!(graph.nodes.iter().all(|n| n.small == NONE));

    // A oneway dead end is its own strongly connected component for driving only.
    let mut oneway = Fixture::new("a-b-c\n\n    d");
    oneway.way("abc", &["highway=residential"]);
    oneway.way("cd", &["highway=residential", "oneway=yes"]);
    let (graph, _) = oneway.build();
    let d = &graph.nodes[graph.node_by_osm_id(oneway.node('d')).unwrap() as usize];
    assert_eq!(d.small, m(&[D, C]));
}

#[test]
fn degree_two_chains_become_one_edge_with_shape() {
    let mut f = Fixture::new("a-b-c-d-e\n        |\n        f");
    f.way("abcde", &["highway=residential"]);
    f.way("ef", &["highway=residential"]);
    let (graph, report) = f.build();
    assert_eq!(
        report.graph_nodes, 3,
        "a, e and f; b, c and d are shape points"
    );
    let ae = graph
        .edges
        .iter()
        .find(|e| e.forward && e.way_id == 1)
        .unwrap();
    assert_eq!(ae.shape.len(), 5);
    assert!(
        (ae.length_m - 4.0 * 22.3).abs() < 1.0,
        "measured along the shape: {}",
        ae.length_m
    );
}

#[test]
fn missing_nodes_and_absurd_tags_are_skipped_and_counted() {
    let mut f = Fixture::new("a-b-c");
    let (a, b, c) = (f.node('a'), f.node('b'), f.node('c'));
    f.way_refs(vec![a, b, 999_999, c], &["highway=residential"]);
    f.way_refs(vec![888_888, 777_777], &["highway=residential"]);
    f.way_refs(vec![a], &["highway=residential"]);
    f.way(
        "bc",
        &[
            "highway=residential",
            "maxspeed=-40",
            "oneway=sideways",
            "access=???",
            "name=",
        ],
    );
    f.way("ac", &["highway=", "foo=bar"]);
    let (graph, report) = f.build();
    assert_eq!(report.ways_with_missing_nodes, 2);
    assert_eq!(report.ways_skipped, 2);
    assert_eq!(report.routable_ways, 4);
    let bc = graph
        .edges
        .iter()
        .find(|e| e.way_id == 4 && e.forward)
        .unwrap();
    assert_eq!(bc.speed_kmh, 30);
    assert_eq!(bc.name, None);
    assert!(bc.access.contains(Mode::Driving));
    assert!(
        cost(&graph, a, c, Mode::Driving).is_some(),
        "a-b then b-c, not across the gap"
    );
}
