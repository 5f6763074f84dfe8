//! A synthetic country: a seeded, country-scale road network with a realistic road-class
//! hierarchy, for benchmarks.
//!
//! Why: `bench route` must measure the three tile levels (highway, arterial, local) on a
//! network the size of a country (millions of intersections over ~1,000 km, motorways
//! between cities, street grids in every town). Shipping or downloading a country extract
//! is heavy and ties the numbers to one file, so this module generates the country from a
//! seed instead. It produces plain OSM elements (nodes, then ways) and feeds them through
//! the real [`GraphBuilder`], so the graph is exactly what an import of such an extract
//! would give: classes, speeds (`maxspeed`), `oneway`, roundabouts, names and refs all go
//! through `tags.rs`, and junctions are shared nodes as in OSM.
//!
//! What the country holds (lengths in km on a local plane, projected around `origin`):
//! - **Towns** on a jittered grid (~17 km), sized by rank like Zipf's law: a few cities
//!   10–20 km across, many towns 1–4 km. Each is a rotated, jittered street grid
//!   (80–170 m) clipped to an ellipse: a `primary` cross through the centre (the highway
//!   level runs through towns, as in OSM), `secondary`/`tertiary` arterials every ~1 km,
//!   named `residential` streets, some of them oneway, and roundabouts at the exits of
//!   some towns.
//! - **Villages** fill the rest of the node budget: small grids with an `unclassified`
//!   main cross, kept away from towns and from the main roads.
//! - **Roads between settlements**: towns are linked along their Gabriel graph (which
//!   contains the minimum spanning tree): `primary` to the nearest neighbours, `secondary`
//!   for the rest, `trunk` along the routes joining the biggest cities. Villages are linked
//!   to their Gabriel neighbours by `unclassified` roads (`tertiary` towards towns). A road
//!   whose straight line would cross a settlement goes through it instead. Roads bend and
//!   carry a node every 300–800 m.
//! - **Motorways** (two-way, `oneway=no`; no dual carriageways) join the largest cities:
//!   the minimum spanning tree plus shortcuts where it makes long detours. A motorway
//!   never crosses a town: it meets it on a circle 1.5 km outside, with a `motorway_link`
//!   into the town at each junction, and junctions around one town are joined by a
//!   bypass arc (two junctions) or a full ring (three or more). Interchanges (two ramps)
//!   are built where a trunk, primary or secondary road passes under, at least 8 km
//!   apart along the motorway.
//! - Every at-grade crossing of two roads is one shared node; motorways pass over other
//!   roads without a junction unless an interchange was built there.
//!
//! Driving is strongly connected by construction: every street grid hangs on its two-way
//! centre cross, only streets parallel to one arm are ever oneway (every node of theirs
//! sits on a two-way street crossing the other arm), and every other way is two-way except
//! roundabouts, which are cycles.
//!
//! Node and way ids are 1, 2, 3, ... in emission order (nodes sorted by id, as in a PBF).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::f64::consts::{PI, TAU};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use routing::{BuildReport, Graph, GraphBuilder};

mod plane;
mod settlement;
#[cfg(test)]
mod tests;

use self::plane::*;
use self::settlement::*;

/// Parameters of a synthetic country.
#[derive(Debug, Clone)]
pub struct CountryParams {
    pub seed: u64,
    pub width_km: f64,
    pub height_km: f64,
    /// South-west corner (lat, lon), degrees.
    pub origin: (f64, f64),
    /// Rough number of graph nodes wanted (intersections and way ends).
    pub target_nodes: usize,
}

impl CountryParams {
    /// A country of 1,000 km x 600 km with about 2.5 million graph nodes.
    pub fn country(seed: u64) -> Self {
        CountryParams {
            seed,
            width_km: 1000.0,
            height_km: 600.0,
            origin: (44.0, 2.0),
            target_nodes: 2_500_000,
        }
    }

    /// A region of 60 km x 40 km with about 20,000 graph nodes, for tests.
    pub fn small(seed: u64) -> Self {
        CountryParams {
            seed,
            width_km: 60.0,
            height_km: 40.0,
            origin: (44.0, 2.0),
            target_nodes: 20_000,
        }
    }
}

/// Feeds the country's OSM elements to `visit`: every node (ids ascending), then every way.
pub fn country_elements(params: &CountryParams, mut visit: impl FnMut(osm::Element)) {
    let country = generate(params);
    let (lat0, lon0) = params.origin;
    for (i, &(x, y)) in country.nodes.iter().enumerate() {
        let lat = lat0 + y / KM_PER_DEG;
        let lon = lon0 + x / (KM_PER_DEG * lat.to_radians().cos());
        visit(osm::Element::Node(osm::Node {
            id: i as i64 + 1,
            lat,
            lon,
            tags: Vec::new(),
        }));
    }
    let ways = country.streets.into_iter().chain(country.roads);
    for (i, way) in ways.enumerate() {
        visit(osm::Element::Way(way.into_osm(i as i64 + 1)));
    }
}

/// The country as a routing graph, through [`GraphBuilder`].
pub fn country_graph(params: &CountryParams) -> (Graph, BuildReport) {
    let mut builder = GraphBuilder::new();
    country_elements(params, |element| builder.add(element));
    builder.finish()
}

/// Kilometres per degree of latitude on the sphere of `geo_core::haversine_m`.
const KM_PER_DEG: f64 = geo_core::METRES_PER_DEGREE / 1000.0;
/// Spacing of the jittered grid towns are placed on.
const TOWN_CELL_KM: f64 = 17.0;
/// Share of the node budget meant for towns (villages take the rest).
const TOWN_SHARE: f64 = 0.5;
/// Motorway junctions lie on a circle this far outside a city.
const RING_GAP_KM: f64 = 1.5;
/// Least distance along a motorway between two interchanges.
const INTERCHANGE_SPACING_KM: f64 = 8.0;

type P = (f64, f64);
/// Two point indices, low first.
type Pair = (u32, u32);
/// A place on a road: (road, segment, parameter along the segment).
type RoadPos = (u32, u32, f64);

struct Country {
    nodes: Vec<P>,
    streets: Vec<WaySpec>,
    roads: Vec<WaySpec>,
}

fn generate(params: &CountryParams) -> Country {
    let mut rng = StdRng::seed_from_u64(params.seed);
    let (w, h) = (params.width_km.max(4.0), params.height_km.max(4.0));
    let target = params.target_nodes.max(1000) as f64;
    let mut world = World::default();

    // The phases draw from one generator in this order: reordering them changes the country.
    let towns = build_towns(w, h, target, &mut world, &mut rng);
    let links = town_links(&towns);
    let mut roads = town_roads(&mut world, &mut rng, &towns, &links);
    let pairs = motorway_pairs(&towns);
    motorways(&mut world, &mut rng, &towns, &pairs, &mut roads);
    let villages = build_villages(params, (w, h, target), &mut world, &mut rng, &towns, &roads);
    rural_roads(&mut world, &mut rng, &towns, &villages, &mut roads);
    join_crossings(&mut world, &mut roads);

    Country {
        nodes: world.nodes,
        streets: world.streets,
        roads,
    }
}

fn centre_distance(centres: &[P], &(a, b): &Pair) -> f64 {
    dist(centres[a as usize], centres[b as usize])
}

/// Towns and their streets.
fn build_towns(
    w: f64,
    h: f64,
    target: f64,
    world: &mut World,
    rng: &mut StdRng,
) -> Vec<Settlement> {
    let mut towns = plan_towns(w, h, target, rng);
    for (k, town) in towns.iter_mut().enumerate() {
        town.name = format!("Town {}", k + 1);
        town.build(world, rng);
    }
    towns
}

/// The town network: Gabriel graph and spanning tree; primary to the two nearest
/// neighbours and along the tree, secondary otherwise; trunk between big cities.
fn town_links(towns: &[Settlement]) -> Vec<(u32, u32, Class)> {
    let nt = towns.len();
    let town_centres: Vec<P> = towns.iter().map(|t| t.c).collect();
    let town_radii: Vec<f64> = towns.iter().map(|t| t.a).collect();
    let (gabriel, mst) = proximity_edges(&town_centres, 8);
    let mut links: Vec<(u32, u32)> = gabriel.iter().chain(&mst).copied().collect();
    links.sort_unstable();
    links.dedup();
    let length = |pair: &Pair| centre_distance(&town_centres, pair);
    let mut nearest_two: Vec<Vec<(f64, u32)>> = vec![Vec::new(); nt];
    for &(a, b) in &links {
        let l = length(&(a, b));
        nearest_two[a as usize].push((l, b));
        nearest_two[b as usize].push((l, a));
    }
    for list in &mut nearest_two {
        list.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        list.truncate(2);
    }
    let classed: Vec<(u32, u32, Class)> = links
        .iter()
        .map(|&(a, b)| {
            let near = nearest_two[a as usize].iter().any(|&(_, o)| o == b)
                || nearest_two[b as usize].iter().any(|&(_, o)| o == a);
            let primary = near || mst.binary_search(&(a, b)).is_ok();
            (
                a,
                b,
                if primary {
                    Class::Primary
                } else {
                    Class::Secondary
                },
            )
        })
        .collect();
    let mut town_links = split_through(&town_centres, &town_radii, &classed, 0.3);
    let big = if nt >= 2 { (nt / 10).clamp(2, nt) } else { 0 };
    if big >= 2 {
        let mut adjacency: Vec<Vec<(u32, usize)>> = vec![Vec::new(); nt];
        let mut weight = Vec::new();
        for (e, &(a, b, class)) in town_links.iter().enumerate() {
            adjacency[a as usize].push((b, e));
            adjacency[b as usize].push((a, e));
            let factor = if class == Class::Primary { 1.0 } else { 1.3 };
            weight.push(length(&(a, b)) * factor);
        }
        for (a, b) in prim(&town_centres[..big]) {
            for e in shortest_path(&adjacency, &weight, a, b).unwrap_or_default() {
                town_links[e].2 = Class::Trunk;
            }
        }
    }
    town_links
}

/// One road per town link, from gate to gate.
fn town_roads(
    world: &mut World,
    rng: &mut StdRng,
    towns: &[Settlement],
    town_links: &[(u32, u32, Class)],
) -> Vec<WaySpec> {
    let mut roads: Vec<WaySpec> = Vec::new();
    for (k, &(a, b, class)) in town_links.iter().enumerate() {
        let (ta, tb) = (&towns[a as usize], &towns[b as usize]);
        let ga = &ta.main[nearest_gate(&ta.main, tb.c)];
        let gb = &tb.main[nearest_gate(&tb.main, ta.c)];
        let (start, end) = (ga.attach(world, gb.pos), gb.attach(world, ga.pos));
        let refs = world.road(rng, start, end, (0.3, 0.8), 1.5);
        let (maxspeed, prefix) = match class {
            Class::Trunk => (speed(rng, 100, 110, 0.4), "N"),
            Class::Primary => (speed(rng, 90, 80, 0.4), "N"),
            _ => (speed(rng, 70, 80, 0.3), "D"),
        };
        let mut road = WaySpec::new(refs, class, maxspeed);
        road.reference = Some(format!("{prefix} {}", k + 1));
        roads.push(road);
    }
    roads
}

/// The largest cities joined by motorways: their spanning tree plus the shortcuts where the
/// tree makes long detours.
fn motorway_pairs(towns: &[Settlement]) -> Vec<Pair> {
    let nt = towns.len();
    let town_centres: Vec<P> = towns.iter().map(|t| t.c).collect();
    let length = |pair: &Pair| centre_distance(&town_centres, pair);
    let cities = if nt >= 2 {
        (nt / 25).clamp(2, nt).max(3.min(nt))
    } else {
        0
    };
    let mut motorway_pairs = prim(&town_centres[..cities]);
    {
        let (shortcuts, _) = proximity_edges(&town_centres[..cities], 8);
        let mut shortcuts: Vec<(u32, u32)> = shortcuts
            .into_iter()
            .filter(|e| !motorway_pairs.contains(e))
            .collect();
        shortcuts.sort_by(|x, y| length(x).total_cmp(&length(y)).then(x.cmp(y)));
        for e in shortcuts {
            let mut adjacency: Vec<Vec<(u32, usize)>> = vec![Vec::new(); cities];
            let weight: Vec<f64> = motorway_pairs.iter().map(length).collect();
            for (k, &(a, b)) in motorway_pairs.iter().enumerate() {
                adjacency[a as usize].push((b, k));
                adjacency[b as usize].push((a, k));
            }
            let detour: f64 = shortest_path(&adjacency, &weight, e.0, e.1)
                .map_or(f64::INFINITY, |p| p.iter().map(|&k| weight[k]).sum());
            if detour > 1.5 * length(&e) {
                motorway_pairs.push(e);
            }
        }
    }
    motorway_pairs
}

/// The motorways: a motorway heading through a town passes it on its ring instead, with
/// junctions and a link into the town at each; rings or bypass arcs join the junctions.
fn motorways(
    world: &mut World,
    rng: &mut StdRng,
    towns: &[Settlement],
    motorway_pairs: &[Pair],
    roads: &mut Vec<WaySpec>,
) {
    let nt = towns.len();
    let town_centres: Vec<P> = towns.iter().map(|t| t.c).collect();
    let town_radii: Vec<f64> = towns.iter().map(|t| t.a).collect();
    let ring_radii: Vec<f64> = town_radii.iter().map(|r| r + RING_GAP_KM).collect();
    let mut motorway_legs: Vec<(u32, u32, usize)> = Vec::new();
    let mut seen: HashSet<(u32, u32)> = HashSet::new();
    for (k, &(a, b)) in motorway_pairs.iter().enumerate() {
        for (a, b, _) in split_through(&town_centres, &ring_radii, &[(a, b, Class::Motorway)], 0.3)
        {
            if seen.insert((a, b)) {
                motorway_legs.push((a, b, k));
            }
        }
    }
    let motorway_speeds: Vec<u8> = motorway_pairs
        .iter()
        .map(|_| speed(rng, 130, 120, 0.25))
        .collect();
    let mut junctions: HashMap<(u32, usize), u32> = HashMap::new();
    let mut ring_stops: Vec<Vec<(f64, u32)>> = vec![Vec::new(); nt];
    let mut junction = |world: &mut World, rng: &mut StdRng, city: u32, toward: P| -> u32 {
        let town = &towns[city as usize];
        let g = nearest_gate(&town.main, toward);
        *junctions.entry((city, g)).or_insert_with(|| {
            let gate = &town.main[g];
            let u = unit(town.c, gate.pos);
            let radius = town.a + RING_GAP_KM;
            let p = (town.c.0 + u.0 * radius, town.c.1 + u.1 * radius);
            let j = world.node(p);
            let inner = gate.attach(world, p);
            let q = world.pos(inner);
            let side = if rng.random_bool(0.5) { 0.1 } else { -0.1 };
            let bend = world.node((
                (p.0 + q.0) / 2.0 - u.1 * side,
                (p.1 + q.1) / 2.0 + u.0 * side,
            ));
            world
                .streets
                .push(WaySpec::new(vec![j, bend, inner], Class::MotorwayLink, 70));
            ring_stops[city as usize].push((u.1.atan2(u.0), j));
            j
        })
    };
    for (a, b, k) in motorway_legs {
        let ja = junction(world, rng, a, town_centres[b as usize]);
        let jb = junction(world, rng, b, town_centres[a as usize]);
        if ja == jb {
            continue;
        }
        let refs = world.road(rng, ja, jb, (1.0, 2.0), 3.0);
        let mut road = WaySpec::new(refs, Class::Motorway, motorway_speeds[k]);
        road.reference = Some(format!("A {}", k + 1));
        roads.push(road);
    }
    for (city, stops) in ring_stops.iter_mut().enumerate() {
        stops.sort_by(|x, y| x.0.total_cmp(&y.0));
        let arcs: Vec<(usize, usize)> = match stops.len() {
            0 | 1 => Vec::new(),
            2 => {
                // The shorter way round.
                let ccw = (stops[1].0 - stops[0].0).rem_euclid(TAU);
                if ccw <= PI {
                    vec![(0, 1)]
                } else {
                    vec![(1, 0)]
                }
            }
            n => (0..n).map(|i| (i, (i + 1) % n)).collect(),
        };
        let town = &towns[city];
        let radius = town.a + RING_GAP_KM;
        for (from, to) in arcs {
            let (a0, j0) = stops[from];
            let (a1, j1) = stops[to];
            let sweep = (a1 - a0).rem_euclid(TAU);
            let steps = ((radius * sweep) / 1.0).ceil().max(1.0) as usize;
            let mut refs = vec![j0];
            for q in 1..steps {
                let angle = a0 + sweep * q as f64 / steps as f64;
                refs.push(world.node((
                    town.c.0 + radius * angle.cos(),
                    town.c.1 + radius * angle.sin(),
                )));
            }
            refs.push(j1);
            let mut road = WaySpec::new(refs, Class::Motorway, 110);
            road.name = Some(format!("Ring of {}", town.name));
            road.reference = Some(format!("R {}", city + 1));
            roads.push(road);
        }
    }
}

/// Villages fill the rest of the node budget, clear of towns and main roads.
fn build_villages(
    params: &CountryParams,
    (w, h, target): (f64, f64, f64),
    world: &mut World,
    rng: &mut StdRng,
    towns: &[Settlement],
    roads: &[WaySpec],
) -> Vec<Settlement> {
    let town_nodes: f64 = towns.iter().map(Settlement::expected_nodes).sum();
    let wanted = (target - town_nodes).max(0.0);
    let mut villages = Vec::new();
    if wanted > 0.0 {
        let main_roads: Vec<&[u32]> = roads
            .iter()
            .map(|r| r.refs.as_slice())
            .chain(
                world
                    .streets
                    .iter()
                    .filter(|s| s.class == Class::MotorwayLink)
                    .map(|s| s.refs.as_slice()),
            )
            .collect();
        let grid = SegmentGrid::new(&world.nodes, &main_roads, 2.0);
        let avoid = (&grid, world.nodes.as_slice(), main_roads.as_slice());
        let mut cell = (w * h * 25.0 / wanted).sqrt().clamp(0.8, 50.0);
        for _ in 0..6 {
            let mut village_rng = StdRng::seed_from_u64(params.seed ^ 0x5eed_0f75_1111_a9e5);
            villages = plan_villages(w, h, cell, towns, avoid, &mut village_rng);
            let got: f64 = villages.iter().map(Settlement::expected_nodes).sum();
            if got <= 0.0 {
                break;
            }
            let correction = (got / wanted).sqrt();
            if (correction - 1.0).abs() < 0.03 {
                break;
            }
            cell = (cell * correction).clamp(0.8, 50.0);
        }
    }
    for (k, village) in villages.iter_mut().enumerate() {
        village.name = format!("Village {}", k + 1);
        village.build(world, rng);
    }
    villages
}

/// Rural roads: Gabriel neighbours among all settlements, except town to town.
fn rural_roads(
    world: &mut World,
    rng: &mut StdRng,
    towns: &[Settlement],
    villages: &[Settlement],
    roads: &mut Vec<WaySpec>,
) {
    let nt = towns.len();
    let settlements: Vec<&Settlement> = towns.iter().chain(villages).collect();
    let centres: Vec<P> = settlements.iter().map(|s| s.c).collect();
    let radii: Vec<f64> = settlements.iter().map(|s| s.a).collect();
    let (gabriel, mst) = proximity_edges(&centres, 8);
    let mut rural: Vec<(u32, u32)> = gabriel.into_iter().chain(mst).collect();
    rural.sort_unstable();
    rural.dedup();
    let rural: Vec<(u32, u32, Class)> = rural
        .into_iter()
        .filter(|&(a, b)| (a as usize) >= nt || (b as usize) >= nt)
        .map(|(a, b)| {
            let to_town = (a as usize) < nt || (b as usize) < nt;
            let class = if to_town || rng.random_bool(0.15) {
                Class::Tertiary
            } else {
                Class::Unclassified
            };
            (a, b, class)
        })
        .collect();
    for (a, b, class) in split_through(&centres, &radii, &rural, 0.15) {
        if (a as usize) < nt && (b as usize) < nt {
            continue; // the town network joins these
        }
        let (sa, sb) = (settlements[a as usize], settlements[b as usize]);
        let ga = &sa.gates[nearest_gate(&sa.gates, sb.c)];
        let gb = &sb.gates[nearest_gate(&sb.gates, sa.c)];
        let (start, end) = (ga.attach(world, gb.pos), gb.attach(world, ga.pos));
        if start == end {
            continue;
        }
        let refs = world.road(rng, start, end, (0.3, 0.7), 0.5);
        let maxspeed = match class {
            Class::Tertiary => speed(rng, 60, 50, 0.3),
            _ => speed(rng, 50, 60, 0.2),
        };
        roads.push(WaySpec::new(refs, class, maxspeed));
    }
}

/// Crossings: at grade a shared node; a motorway over a main road may get an interchange.
fn join_crossings(world: &mut World, roads: &mut [WaySpec]) {
    let found = crossings(&world.nodes, roads);
    let mut inserts: Vec<Vec<(u32, f64, u32)>> = (0..roads.len()).map(|_| Vec::new()).collect();
    // (motorway, distance along it, place on the other road, point)
    let mut candidates: Vec<(u32, f64, RoadPos, P)> = Vec::new();
    let prefix: Vec<Vec<f64>> = roads
        .iter()
        .map(|r| {
            if r.class == Class::Motorway {
                prefix_lengths(&world.nodes, &r.refs)
            } else {
                Vec::new()
            }
        })
        .collect();
    for Crossing { a, b, p } in found {
        let (ca, cb) = (roads[a.0 as usize].class, roads[b.0 as usize].class);
        let (ma, mb) = (ca == Class::Motorway, cb == Class::Motorway);
        if ma == mb {
            let x = world.node(p);
            inserts[a.0 as usize].push((a.1, a.2, x));
            inserts[b.0 as usize].push((b.1, b.2, x));
        } else {
            let (m, other, other_class) = if ma { (a, b, cb) } else { (b, a, ca) };
            if other_class.interchanges() {
                let prefix = &prefix[m.0 as usize];
                let (s0, s1) = (prefix[m.1 as usize], prefix[m.1 as usize + 1]);
                candidates.push((m.0, s0 + (s1 - s0) * m.2, other, p));
            }
        }
    }
    candidates.sort_by(|x, y| x.0.cmp(&y.0).then(x.1.total_cmp(&y.1)));
    let mut last: Option<(u32, f64)> = None;
    for (m, s, other, p) in candidates {
        let total = *prefix[m as usize].last().expect("motorway length");
        if s < 1.5
            || s > total - 1.5
            || last.is_some_and(|(lm, ls)| lm == m && s - ls < INTERCHANGE_SPACING_KM)
        {
            continue;
        }
        last = Some((m, s));
        let x = world.node(p);
        inserts[other.0 as usize].push((other.1, other.2, x));
        for (side, along) in [(0.08, s - 0.45), (-0.08, s + 0.45)] {
            let (seg, t, q) = point_along(&world.nodes, &roads[m as usize].refs, along);
            let ramp_start = world.node(q);
            inserts[m as usize].push((seg, t, ramp_start));
            let u = unit(q, p);
            let bend = world.node((
                (q.0 + p.0) / 2.0 - u.1 * side,
                (q.1 + p.1) / 2.0 + u.0 * side,
            ));
            world.streets.push(WaySpec::new(
                vec![ramp_start, bend, x],
                Class::MotorwayLink,
                70,
            ));
        }
    }
    for (road, mut list) in roads.iter_mut().zip(inserts) {
        if list.is_empty() {
            continue;
        }
        list.sort_by(|x, y| x.0.cmp(&y.0).then(x.1.total_cmp(&y.1)));
        let mut refs = Vec::with_capacity(road.refs.len() + list.len());
        let mut next = list.into_iter().peekable();
        for (k, &node) in road.refs.iter().enumerate() {
            refs.push(node);
            while let Some(&(_, _, x)) = next.peek().filter(|i| i.0 as usize == k) {
                refs.push(x);
                next.next();
            }
        }
        road.refs = refs;
    }
}
