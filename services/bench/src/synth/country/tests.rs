//! The generated country against its promises, checked with the exact router.
use super::*;
use routing::Mode;
use routing::tags::RoadClass;
use routing::{Level, reference};

#[test]
fn small_country_is_deterministic_connected_and_hierarchical() {
    let params = CountryParams::small(7);
    let (graph, report) = country_graph(&params);
    let (again, report_again) = country_graph(&params);
    assert_eq!(report, report_again);
    assert_eq!(graph.nodes.len(), again.nodes.len());
    assert_eq!(graph.edges.len(), again.edges.len());
    assert!(
        (10_000..40_000).contains(&graph.nodes.len()),
        "{} graph nodes",
        graph.nodes.len()
    );
    assert_eq!(report.ways_skipped, 0);
    assert_eq!(report.ways_with_missing_nodes, 0);
    assert_eq!(report.invalid_nodes, 0);

    for class in [
        RoadClass::Motorway,
        RoadClass::MotorwayLink,
        RoadClass::Trunk,
        RoadClass::Primary,
        RoadClass::Secondary,
        RoadClass::Tertiary,
        RoadClass::Unclassified,
        RoadClass::Residential,
    ] {
        assert!(
            graph.edges.iter().any(|e| e.class == class),
            "no {class:?} edge"
        );
    }
    assert!(
        graph
            .edges
            .iter()
            .any(|e| Level::of_class(e.class) == Level::Highway)
    );
    assert!(
        graph
            .edges
            .iter()
            .any(|e| e.access.contains(Mode::Driving) && e.speed_kmh >= 120)
    );

    let main: Vec<u32> = (0..graph.nodes.len() as u32)
        .filter(|&n| !graph.nodes[n as usize].small.contains(Mode::Driving))
        .collect();
    assert!(
        main.len() * 100 >= graph.nodes.len() * 99,
        "{} of {} on the main network",
        main.len(),
        graph.nodes.len()
    );
    let costs = reference::distances(&graph, main[main.len() / 2], Mode::Driving);
    let reached = main
        .iter()
        .filter(|&&n| costs[n as usize].is_finite())
        .count();
    assert!(
        reached * 100 >= main.len() * 99,
        "reached {reached} of {}",
        main.len()
    );
    assert_eq!(
        reached,
        main.len(),
        "driving is strongly connected by construction"
    );
}

#[test]
fn elements_have_unique_ids_and_resolve() {
    let mut nodes: Vec<i64> = Vec::new();
    let mut ways: Vec<i64> = Vec::new();
    let mut ways_seen_before_nodes = false;
    let mut missing = 0;
    country_elements(&CountryParams::small(3), |e| match e {
        osm::Element::Node(n) => {
            ways_seen_before_nodes |= !ways.is_empty();
            assert!(n.id > 0);
            nodes.push(n.id);
        }
        osm::Element::Way(w) => {
            assert!(w.id > 0);
            assert!(w.refs.len() >= 2);
            missing += w
                .refs
                .iter()
                .filter(|&&r| r < 1 || r > nodes.len() as i64)
                .count();
            ways.push(w.id);
        }
        osm::Element::Relation(_) => panic!("no relations"),
    });
    assert!(!ways_seen_before_nodes);
    assert_eq!(missing, 0);
    assert!(nodes.windows(2).all(|w| w[0] < w[1]));
    assert!(ways.windows(2).all(|w| w[0] < w[1]));
}

/// Counts, timings and peak memory of one country, printed.
fn measure(params: &CountryParams) -> BuildReport {
    let start = std::time::Instant::now();
    let (mut nodes, mut ways) = (0u64, 0u64);
    country_elements(params, |e| match e {
        osm::Element::Node(_) => nodes += 1,
        _ => ways += 1,
    });
    let generation = start.elapsed();
    let start = std::time::Instant::now();
    let (graph, report) = country_graph(params);
    let total = start.elapsed();
    let mut per_class: std::collections::BTreeMap<RoadClass, (u64, f64)> = Default::default();
    for e in graph.edges.iter().filter(|e| e.forward) {
        let entry = per_class.entry(e.class).or_default();
        entry.0 += 1;
        entry.1 += f64::from(e.length_m) / 1000.0;
    }
    let small = graph
        .nodes
        .iter()
        .filter(|n| n.small.contains(Mode::Driving))
        .count();
    let small_other: Vec<usize> = [Mode::Cycling, Mode::Walking]
        .iter()
        .map(|&m| graph.nodes.iter().filter(|n| n.small.contains(m)).count())
        .collect();
    let closed = graph
        .edges
        .iter()
        .filter(|e| !e.access.contains(Mode::Driving))
        .count();
    let roundabout = graph
        .edges
        .iter()
        .filter(|e| e.forward && e.flags & routing::tags::flags::ROUNDABOUT != 0)
        .count();
    let levels = |level: Level| graph.edges.iter().filter(|e| e.level() == level).count();
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(str::to_string)
        });
    println!("osm nodes {nodes}, ways {ways}");
    println!(
        "graph nodes {}, edges {}, small for driving {small}, cycling/walking {small_other:?}",
        report.graph_nodes, report.graph_edges
    );
    println!(
        "oneway chains (closed directions) {closed}, roundabout chains {roundabout}, \
         directed edges per level: highway {}, arterial {}, local {}",
        levels(Level::Highway),
        levels(Level::Arterial),
        levels(Level::Local)
    );
    println!("generation {generation:.1?}, generation + build {total:.1?}, {peak:?}");
    for (class, (count, km)) in per_class {
        println!("  {class:?}: {count} chains, {km:.0} km");
    }
    report
}

#[test]
#[ignore = "prints the small country"]
fn small_scale() {
    measure(&CountryParams::small(7));
}

/// `cargo test --release -p routing --lib synth -- --ignored --nocapture`
#[test]
#[ignore = "country scale: run in release"]
fn country_scale() {
    let report = measure(&CountryParams::country(1));
    assert!(report.graph_nodes > 1_000_000);
}
