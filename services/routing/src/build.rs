//! Builds the [`Graph`] from a stream of OSM elements.

use std::collections::HashMap;
use std::sync::Arc;

use geo_core::{LatLon, haversine_m};
use osm::Element;

use crate::graph::{COORD_SCALE, Edge, ForbiddenTurn, Graph, Node, length_from_dm, length_to_dm};
use crate::mode::ModeMask;
use crate::restriction::{self, RawRestriction, Skipped};
use crate::tags::{WayAttrs, flags, way_attrs};

/// What the build saw and did; everything skipped is counted, never silently lost.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BuildReport {
    pub osm_nodes: u64,
    pub osm_ways: u64,
    pub osm_relations: u64,
    /// Nodes with coordinates outside WGS84 (dropped).
    pub invalid_nodes: u64,
    /// Ways some mode may use.
    pub routable_ways: u64,
    /// Routable ways referencing nodes missing from the file (split at the gaps).
    pub ways_with_missing_nodes: u64,
    /// Routable ways left with fewer than two usable nodes.
    pub ways_skipped: u64,
    pub restrictions_applied: u64,
    pub restrictions_via_way: u64,
    /// Restrictions whose ways or via node are not in the graph, or do not meet at the via.
    pub restrictions_unresolved: u64,
    pub restrictions_malformed: u64,
    pub graph_nodes: u64,
    pub graph_edges: u64,
    pub forbidden_turns: u64,
}

struct PendingWay {
    id: i64,
    refs: Vec<i64>,
    attrs: WayAttrs,
}

/// Collects elements, then [`GraphBuilder::finish`] makes the graph.
#[derive(Default)]
pub struct GraphBuilder {
    coords: Vec<(i64, i32, i32)>,
    ways: Vec<PendingWay>,
    restrictions: Vec<RawRestriction>,
    report: BuildReport,
}

impl GraphBuilder {
    pub fn new() -> GraphBuilder {
        GraphBuilder::default()
    }

    pub fn add(&mut self, element: Element) {
        match element {
            Element::Node(node) => {
                self.report.osm_nodes += 1;
                if LatLon::new(node.lat, node.lon).is_err() {
                    self.report.invalid_nodes += 1;
                    return;
                }
                self.coords.push((
                    node.id,
                    (node.lat * COORD_SCALE).round() as i32,
                    (node.lon * COORD_SCALE).round() as i32,
                ));
            }
            Element::Way(way) => {
                self.report.osm_ways += 1;
                if let Some(attrs) = way_attrs(&way.tags) {
                    self.report.routable_ways += 1;
                    self.ways.push(PendingWay {
                        id: way.id,
                        refs: way.refs,
                        attrs,
                    });
                }
            }
            Element::Relation(relation) => {
                self.report.osm_relations += 1;
                match restriction::parse(&relation) {
                    Ok(r) => self.restrictions.push(r),
                    Err(Skipped::ViaWay) => self.report.restrictions_via_way += 1,
                    Err(Skipped::Malformed) => self.report.restrictions_malformed += 1,
                    Err(Skipped::NotATurnRestriction) => {}
                }
            }
        }
    }

    pub fn finish(mut self) -> (Graph, BuildReport) {
        let mut report = std::mem::take(&mut self.report);
        let mut coords = std::mem::take(&mut self.coords);
        if !coords.windows(2).all(|w| w[0].0 < w[1].0) {
            coords.sort_unstable_by_key(|c| c.0);
            coords.dedup_by_key(|c| c.0);
        }
        let lookup = |id: i64| coords.binary_search_by_key(&id, |c| c.0).ok();

        // Each way becomes runs of consecutive resolvable node positions (index into the
        // way's refs, index into `coords`).
        let mut pieces: Vec<(usize, Vec<(u32, u32)>)> = Vec::new();
        let mut uses = vec![0u8; coords.len()];
        for (w, way) in self.ways.iter().enumerate() {
            let mut run: Vec<(u32, u32)> = Vec::new();
            let mut missing = false;
            let mut produced = false;
            for (pos, &id) in way.refs.iter().enumerate() {
                match lookup(id) {
                    Some(c) => {
                        if run.last().is_some_and(|&(_, last)| last == c as u32) {
                            continue; // a repeated node adds no segment
                        }
                        run.push((pos as u32, c as u32));
                    }
                    None => {
                        missing = true;
                        if run.len() >= 2 {
                            produced = true;
                            pieces.push((w, std::mem::take(&mut run)));
                        }
                        run.clear();
                    }
                }
            }
            if run.len() >= 2 {
                produced = true;
                pieces.push((w, run));
            }
            report.ways_with_missing_nodes += u64::from(missing);
            report.ways_skipped += u64::from(!produced);
        }
        for (_, run) in &pieces {
            for &(_, c) in run {
                uses[c as usize] = uses[c as usize].saturating_add(1);
            }
        }
        // Graph nodes: piece ends, shared nodes, and via nodes of restrictions.
        let mut is_graph_node = vec![false; coords.len()];
        for (_, run) in &pieces {
            is_graph_node[run[0].1 as usize] = true;
            is_graph_node[run[run.len() - 1].1 as usize] = true;
            for &(_, c) in run {
                if uses[c as usize] >= 2 {
                    is_graph_node[c as usize] = true;
                }
            }
        }
        for r in &self.restrictions {
            if let Some(c) = lookup(r.via_node)
                && uses[c] > 0
            {
                is_graph_node[c] = true;
            }
        }
        let mut node_of_coord = vec![u32::MAX; coords.len()];
        let mut nodes = Vec::new();
        for (c, &(id, lat, lon)) in coords.iter().enumerate() {
            if is_graph_node[c] {
                node_of_coord[c] = nodes.len() as u32;
                nodes.push(Node {
                    osm_id: id,
                    lat_e7: lat,
                    lon_e7: lon,
                    small: ModeMask::NONE,
                });
            }
        }

        let mut names: HashMap<String, Arc<str>> = HashMap::new();
        let mut intern = |s: &Option<String>| -> Option<Arc<str>> {
            s.as_ref().map(|s| {
                names
                    .entry(s.clone())
                    .or_insert_with(|| Arc::from(s.as_str()))
                    .clone()
            })
        };
        let point = |c: u32| {
            let (_, lat, lon) = coords[c as usize];
            (lat, lon)
        };
        let mut edges = Vec::new();
        for (w, run) in &pieces {
            let way = &self.ways[*w];
            let name = intern(&way.attrs.name);
            let reference = intern(&way.attrs.reference);
            let mut chain_start = 0usize;
            let mut chains: Vec<(usize, usize, f64)> = Vec::new();
            let mut length = 0.0;
            for i in 1..run.len() {
                length += segment_m(point(run[i - 1].1), point(run[i].1));
                if is_graph_node[run[i].1 as usize] {
                    chains.push((chain_start, i, length));
                    chain_start = i;
                    length = 0.0;
                }
            }
            let speed_kmh = ferry_speed(&way.attrs, chains.iter().map(|c| c.2).sum());
            for (start, end, length) in chains {
                let shape: Vec<(i32, i32)> =
                    run[start..=end].iter().map(|&(_, c)| point(c)).collect();
                let (a, b) = (
                    node_of_coord[run[start].1 as usize],
                    node_of_coord[run[end].1 as usize],
                );
                let template = Edge {
                    source: a,
                    target: b,
                    way_id: way.id,
                    seg: run[start].0,
                    forward: true,
                    access: way.attrs.forward,
                    length_m: length_from_dm(length_to_dm(length)),
                    class: way.attrs.class,
                    speed_kmh,
                    flags: way.attrs.flags,
                    name: name.clone(),
                    reference: reference.clone(),
                    shape,
                };
                let mut back = template.clone();
                back.source = b;
                back.target = a;
                back.forward = false;
                back.access = way.attrs.backward;
                back.shape.reverse();
                edges.push(template);
                edges.push(back);
            }
        }

        let forbidden = resolve_restrictions(&self.restrictions, &edges, &nodes, &mut report);
        let mut graph = Graph::new(nodes, edges, forbidden);
        crate::components::mark_small(&mut graph);
        report.graph_nodes = graph.nodes.len() as u64;
        report.graph_edges = graph.edges.len() as u64;
        report.forbidden_turns = graph.forbidden.len() as u64;
        (graph, report)
    }
}

fn segment_m(a: (i32, i32), b: (i32, i32)) -> f64 {
    let p = |(lat, lon): (i32, i32)| {
        LatLon::clamped(f64::from(lat) / COORD_SCALE, f64::from(lon) / COORD_SCALE)
    };
    haversine_m(p(a), p(b))
}

/// Ferries with a `duration` travel at their scheduled speed.
fn ferry_speed(attrs: &WayAttrs, way_length_m: f64) -> u8 {
    match attrs.ferry_duration_s {
        Some(seconds) if attrs.flags & flags::FERRY != 0 => (way_length_m / f64::from(seconds)
            * 3.6)
            .round()
            .clamp(1.0, 250.0) as u8,
        _ => attrs.speed_kmh,
    }
}

/// Matches restrictions to edges at their via node and expands them to forbidden turns.
fn resolve_restrictions(
    restrictions: &[RawRestriction],
    edges: &[Edge],
    nodes: &[Node],
    report: &mut BuildReport,
) -> Vec<ForbiddenTurn> {
    let mut at_node: HashMap<u32, (Vec<u32>, Vec<u32>)> = HashMap::new();
    for (i, e) in edges.iter().enumerate() {
        at_node.entry(e.target).or_default().0.push(i as u32);
        at_node.entry(e.source).or_default().1.push(i as u32);
    }
    let mut forbidden = Vec::new();
    for r in restrictions {
        let Ok(via) = nodes.binary_search_by_key(&r.via_node, |n| n.osm_id) else {
            report.restrictions_unresolved += 1;
            continue;
        };
        let Some((incoming, outgoing)) = at_node.get(&(via as u32)) else {
            report.restrictions_unresolved += 1;
            continue;
        };
        let from: Vec<u32> = incoming
            .iter()
            .copied()
            .filter(|&e| r.from_ways.contains(&edges[e as usize].way_id))
            .collect();
        let to: Vec<u32> = outgoing
            .iter()
            .copied()
            .filter(|&e| r.to_ways.contains(&edges[e as usize].way_id))
            .collect();
        if from.is_empty() || to.is_empty() {
            report.restrictions_unresolved += 1;
            continue;
        }
        report.restrictions_applied += 1;
        for &f in &from {
            if r.only {
                for &o in outgoing.iter().filter(|o| !to.contains(o)) {
                    forbidden.push(ForbiddenTurn {
                        to: o,
                        from: f,
                        modes: r.modes,
                    });
                }
            } else {
                for &t in &to {
                    let (fe, te) = (&edges[f as usize], &edges[t as usize]);
                    // From and to on one unsplit way: only the U-turn is meant, not going on.
                    if fe.way_id == te.way_id && fe.seg != te.seg {
                        continue;
                    }
                    forbidden.push(ForbiddenTurn {
                        to: t,
                        from: f,
                        modes: r.modes,
                    });
                }
            }
        }
    }
    forbidden
}
