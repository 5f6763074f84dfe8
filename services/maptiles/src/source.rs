//! Reads an OSM file into map features, in three streaming passes so that only what the map
//! needs is ever held: multipolygon relations first (which ways they use), then ways (which
//! nodes they use), then nodes (positions, and places).

use std::path::Path;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::features::{Kind, Layer, MapFeature, Shape, classify_place, classify_way};
use crate::mercator::{World, project, unwrap_longitudes};

/// A published business, drawn in the `pois` layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Poi {
    pub id: i64,
    pub name: String,
    pub category: String,
    pub lat: f64,
    pub lon: f64,
}

/// What a read produced.
#[derive(Debug, Default)]
pub struct Extract {
    pub features: Vec<MapFeature>,
    /// `(west, south, east, north)` of the nodes used, if any.
    pub bounds: Option<(f64, f64, f64, f64)>,
    /// Ways and relations whose nodes were not all in the file (clipped extracts).
    pub incomplete: u64,
}

struct Multipolygon {
    id: i64,
    kind: Kind,
    /// `(way id, is outer)`.
    members: Vec<(i64, bool)>,
}

struct MapWay {
    id: i64,
    kind: Kind,
    refs: Vec<i64>,
}

/// Reads `path` (PBF, XML or gzipped XML) into features; `pois` become the `pois` layer.
pub fn read_extract(
    path: &Path,
    pois: &[Poi],
    mut progress: impl FnMut(&str, u64, u64),
) -> Result<Extract, osm::Error> {
    // Pass 1: multipolygons and the ways they are made of.
    let mut multipolygons = Vec::new();
    osm::read_with_progress(
        path,
        |element| {
            if let osm::Element::Relation(r) = element
                && matches!(
                    r.tags
                        .iter()
                        .find(|(k, _)| k == "type")
                        .map(|(_, v)| v.as_str()),
                    Some("multipolygon")
                )
                && let Some(kind) = classify_way(&r.tags, true, true)
            {
                let members = r
                    .members
                    .iter()
                    .filter(|m| m.kind == osm::MemberKind::Way)
                    .map(|m| (m.id, m.role != "inner"))
                    .collect();
                multipolygons.push(Multipolygon {
                    id: r.id,
                    kind,
                    members,
                });
            }
        },
        |done, total| progress("relations", done, total),
    )?;
    let wanted_ways: FxHashSet<i64> = multipolygons
        .iter()
        .flat_map(|m| m.members.iter().map(|&(id, _)| id))
        .collect();

    // Pass 2: ways on the map, and the member ways' node lists.
    let mut ways = Vec::new();
    let mut member_refs: FxHashMap<i64, Vec<i64>> = FxHashMap::default();
    osm::read_with_progress(
        path,
        |element| {
            if let osm::Element::Way(w) = element {
                if wanted_ways.contains(&w.id) {
                    member_refs.insert(w.id, w.refs.clone());
                }
                let closed = w.refs.len() >= 4 && w.refs.first() == w.refs.last();
                if let Some(kind) = classify_way(&w.tags, closed, false) {
                    ways.push(MapWay {
                        id: w.id,
                        kind,
                        refs: w.refs,
                    });
                }
            }
        },
        |done, total| progress("ways", done, total),
    )?;
    let mut ids: Vec<i64> = ways
        .iter()
        .flat_map(|w| w.refs.iter().copied())
        .chain(member_refs.values().flatten().copied())
        .collect();
    ids.sort_unstable();
    ids.dedup();

    // Pass 3: node positions, and places.
    let mut positions: Vec<Option<World>> = vec![None; ids.len()];
    let mut features = Vec::new();
    let mut bounds = Bounds::default();
    osm::read_with_progress(
        path,
        |element| {
            if let osm::Element::Node(n) = element {
                if let Ok(i) = ids.binary_search(&n.id) {
                    positions[i] = Some(project(n.lat, n.lon));
                    bounds.add(n.lat, n.lon);
                }
                if let Some((props, min_zoom)) = classify_place(&n.tags) {
                    features.push(MapFeature {
                        layer: Layer::Places,
                        id: u64::try_from(n.id).ok(),
                        min_zoom,
                        props,
                        shape: Shape::Point(project(n.lat, n.lon)),
                    });
                }
            }
        },
        |done, total| progress("nodes", done, total),
    )?;
    let nodes = NodeIndex { ids, positions };

    let mut incomplete = 0;
    for way in ways {
        let Some(mut points) = nodes.locate(&way.refs) else {
            incomplete += 1;
            continue;
        };
        unwrap_longitudes(&mut points);
        let shape = if way.kind.area {
            Shape::Polygon(vec![points])
        } else {
            Shape::Line(points)
        };
        features.push(MapFeature {
            layer: way.kind.layer,
            id: u64::try_from(way.id).ok(),
            min_zoom: way.kind.min_zoom,
            props: way.kind.props,
            shape,
        });
    }
    for mp in multipolygons {
        incomplete += multipolygon_features(&mp, &member_refs, &nodes, &mut features);
    }
    for poi in pois {
        features.push(poi_feature(poi));
        bounds.add(poi.lat, poi.lon);
    }
    Ok(Extract {
        features,
        bounds: bounds.get(),
        incomplete,
    })
}

/// Positions of the nodes the map uses, by id.
struct NodeIndex {
    ids: Vec<i64>,
    positions: Vec<Option<World>>,
}

impl NodeIndex {
    /// Every position of `refs`, or `None` if one is missing from the file.
    fn locate(&self, refs: &[i64]) -> Option<Vec<World>> {
        refs.iter()
            .map(|id| {
                self.ids
                    .binary_search(id)
                    .ok()
                    .and_then(|i| self.positions[i])
            })
            .collect()
    }
}

/// Adds one multipolygon's polygons (one per outer ring, with the holes inside it); returns
/// 1 if some of it could not be built.
fn multipolygon_features(
    mp: &Multipolygon,
    member_refs: &FxHashMap<i64, Vec<i64>>,
    nodes: &NodeIndex,
    features: &mut Vec<MapFeature>,
) -> u64 {
    let mut outers = Vec::new();
    let mut inners = Vec::new();
    for (way, outer) in &mp.members {
        if let Some(refs) = member_refs.get(way) {
            if *outer { &mut outers } else { &mut inners }.push(refs.as_slice());
        }
    }
    let (outer_rings, broken_outer) = assemble_rings(&outers);
    let (inner_rings, broken_inner) = assemble_rings(&inners);
    let mut incomplete = broken_outer + broken_inner > 0;
    let inner_rings: Vec<Vec<World>> = inner_rings.iter().filter_map(|r| nodes.locate(r)).collect();
    for ring in outer_rings {
        let Some(mut outer) = nodes.locate(&ring) else {
            incomplete = true;
            continue;
        };
        unwrap_longitudes(&mut outer);
        let holes: Vec<Vec<World>> = inner_rings
            .iter()
            .filter(|inner| contains(&outer, inner[0]))
            .cloned()
            .collect();
        features.push(MapFeature {
            layer: mp.kind.layer,
            id: u64::try_from(mp.id).ok(),
            min_zoom: mp.kind.min_zoom,
            props: mp.kind.props.clone(),
            shape: Shape::Polygon(std::iter::once(outer).chain(holes).collect()),
        });
    }
    u64::from(incomplete)
}

fn poi_feature(poi: &Poi) -> MapFeature {
    MapFeature {
        layer: Layer::Pois,
        id: u64::try_from(poi.id).ok(),
        min_zoom: Layer::Pois.min_zoom(),
        props: vec![
            ("id", crate::mvt::PropValue::Int(poi.id)),
            ("name", crate::mvt::PropValue::Text(poi.name.clone())),
            (
                "category",
                crate::mvt::PropValue::Text(poi.category.clone()),
            ),
        ],
        shape: Shape::Point(project(poi.lat, poi.lon)),
    }
}

#[derive(Default)]
struct Bounds(Option<(f64, f64, f64, f64)>);

impl Bounds {
    fn add(&mut self, lat: f64, lon: f64) {
        let b = self.0.get_or_insert((lon, lat, lon, lat));
        *b = (b.0.min(lon), b.1.min(lat), b.2.max(lon), b.3.max(lat));
    }

    fn get(&self) -> Option<(f64, f64, f64, f64)> {
        self.0
    }
}

/// Joins ways end to end into closed rings (by node id, either direction); returns the
/// rings and how many chains could not be closed.
pub fn assemble_rings(ways: &[&[i64]]) -> (Vec<Vec<i64>>, usize) {
    let mut by_end: FxHashMap<i64, Vec<usize>> = FxHashMap::default();
    for (i, w) in ways.iter().enumerate() {
        if let (Some(&a), Some(&b)) = (w.first(), w.last()) {
            by_end.entry(a).or_default().push(i);
            by_end.entry(b).or_default().push(i);
        }
    }
    let mut used = vec![false; ways.len()];
    let mut rings = Vec::new();
    let mut broken = 0;
    for start in 0..ways.len() {
        if used[start] || ways[start].len() < 2 {
            continue;
        }
        used[start] = true;
        let mut ring = ways[start].to_vec();
        while ring.first() != ring.last() {
            let end = *ring.last().expect("not empty");
            let next = by_end
                .get(&end)
                .and_then(|c| c.iter().copied().find(|&i| !used[i]));
            let Some(next) = next else { break };
            used[next] = true;
            let way = ways[next];
            if way.first() == Some(&end) {
                ring.extend_from_slice(&way[1..]);
            } else {
                ring.extend(way[..way.len() - 1].iter().rev());
            }
        }
        if ring.len() >= 4 && ring.first() == ring.last() {
            rings.push(ring);
        } else {
            broken += 1;
        }
    }
    (rings, broken)
}

/// Even-odd point-in-ring test.
fn contains(ring: &[World], p: World) -> bool {
    let mut inside = false;
    let mut j = ring.len().wrapping_sub(1);
    for i in 0..ring.len() {
        let (a, b) = (ring[i], ring[j]);
        if (a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x {
            inside = !inside;
        }
        j = i;
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_assemble_from_ways_in_either_direction() {
        let a: &[i64] = &[1, 2, 3];
        let b: &[i64] = &[1, 4, 3]; // runs the other way round
        let c: &[i64] = &[10, 11, 12, 10];
        let d: &[i64] = &[20, 21];
        let (rings, broken) = assemble_rings(&[a, b, c, d]);
        assert_eq!(rings, vec![vec![1, 2, 3, 4, 1], vec![10, 11, 12, 10]]);
        assert_eq!(broken, 1);
    }

    #[test]
    fn point_in_ring() {
        let square = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0)]
            .map(|(x, y)| World { x, y });
        assert!(contains(&square, World { x: 0.5, y: 0.5 }));
        assert!(!contains(&square, World { x: 1.5, y: 0.5 }));
    }
}
