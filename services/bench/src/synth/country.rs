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

fn dist(a: P, b: P) -> f64 {
    (a.0 - b.0).hypot(a.1 - b.1)
}

fn unit(from: P, to: P) -> P {
    let l = dist(from, to).max(1e-12);
    ((to.0 - from.0) / l, (to.1 - from.1) / l)
}

/// Distance from `p` to segment `ab`, and the parameter of the nearest point (unclamped
/// projection, so callers can tell whether `p` lies beside the segment).
fn segment_distance(p: P, a: P, b: P) -> (f64, f64) {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let l2 = dx * dx + dy * dy;
    if l2 < 1e-18 {
        return (dist(p, a), 0.0);
    }
    let t = ((p.0 - a.0) * dx + (p.1 - a.1) * dy) / l2;
    let tc = t.clamp(0.0, 1.0);
    (dist(p, (a.0 + dx * tc, a.1 + dy * tc)), t)
}

/// Where open segments `p1p2` and `q1q2` cross, as parameters along each.
fn intersect(p1: P, p2: P, q1: P, q2: P) -> Option<(f64, f64)> {
    let r = (p2.0 - p1.0, p2.1 - p1.1);
    let s = (q2.0 - q1.0, q2.1 - q1.1);
    let denom = r.0 * s.1 - r.1 * s.0;
    if denom.abs() < 1e-15 {
        return None;
    }
    let qp = (q1.0 - p1.0, q1.1 - p1.1);
    let t = (qp.0 * s.1 - qp.1 * s.0) / denom;
    let u = (qp.0 * r.1 - qp.1 * r.0) / denom;
    const EPS: f64 = 1e-9;
    (t > EPS && t < 1.0 - EPS && u > EPS && u < 1.0 - EPS).then_some((t, u))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Class {
    Motorway,
    MotorwayLink,
    Trunk,
    Primary,
    Secondary,
    Tertiary,
    Unclassified,
    Residential,
}

impl Class {
    fn highway(self) -> &'static str {
        match self {
            Class::Motorway => "motorway",
            Class::MotorwayLink => "motorway_link",
            Class::Trunk => "trunk",
            Class::Primary => "primary",
            Class::Secondary => "secondary",
            Class::Tertiary => "tertiary",
            Class::Unclassified => "unclassified",
            Class::Residential => "residential",
        }
    }

    /// Whether a motorway crossing this class gets an interchange.
    fn interchanges(self) -> bool {
        matches!(self, Class::Trunk | Class::Primary | Class::Secondary)
    }
}

/// One way before it becomes OSM tags; `refs` index [`World::nodes`].
struct WaySpec {
    refs: Vec<u32>,
    class: Class,
    maxspeed: u8,
    oneway: bool,
    roundabout: bool,
    name: Option<String>,
    reference: Option<String>,
}

impl WaySpec {
    fn new(refs: Vec<u32>, class: Class, maxspeed: u8) -> WaySpec {
        WaySpec {
            refs,
            class,
            maxspeed,
            oneway: false,
            roundabout: false,
            name: None,
            reference: None,
        }
    }

    fn into_osm(self, id: i64) -> osm::Way {
        let mut tags = vec![
            ("highway".to_string(), self.class.highway().to_string()),
            ("maxspeed".to_string(), self.maxspeed.to_string()),
        ];
        if self.roundabout {
            tags.push(("junction".into(), "roundabout".into()));
        } else if self.oneway {
            tags.push(("oneway".into(), "yes".into()));
        } else if matches!(self.class, Class::Motorway | Class::MotorwayLink) {
            // Motorways are oneway by default in OSM; these carry both directions.
            tags.push(("oneway".into(), "no".into()));
        }
        if let Some(name) = self.name {
            tags.push(("name".into(), name));
        }
        if let Some(reference) = self.reference {
            tags.push(("ref".into(), reference));
        }
        osm::Way {
            id,
            refs: self.refs.into_iter().map(|r| i64::from(r) + 1).collect(),
            tags,
        }
    }
}

#[derive(Default)]
struct World {
    /// Positions, km east and north of the south-west corner; node id = index + 1.
    nodes: Vec<P>,
    /// Streets inside settlements, ramps and roundabouts: never split at crossings.
    streets: Vec<WaySpec>,
}

impl World {
    fn node(&mut self, p: P) -> u32 {
        self.nodes.push(p);
        (self.nodes.len() - 1) as u32
    }

    fn pos(&self, n: u32) -> P {
        self.nodes[n as usize]
    }

    /// A bending road from node `a` to node `b` with a node every `step` km (range).
    fn road(&mut self, rng: &mut StdRng, a: u32, b: u32, step: (f64, f64), bend: f64) -> Vec<u32> {
        let (pa, pb) = (self.pos(a), self.pos(b));
        let l = dist(pa, pb);
        let mut refs = vec![a];
        if l > 1e-6 {
            let n = (l / rng.random_range(step.0..step.1)).round().max(1.0) as usize;
            let d = unit(pa, pb);
            let normal = (-d.1, d.0);
            let amplitude = (0.04 * l).min(bend);
            let amp1 = amplitude * rng.random_range(-1.0..1.0);
            let amp2 = amplitude * 0.4 * rng.random_range(-1.0..1.0);
            let phase = rng.random_range(0.0..TAU);
            let seg = l / n as f64;
            for k in 1..n {
                let t = k as f64 / n as f64;
                let lateral = (PI * t).sin() * (amp1 + amp2 * (2.0 * TAU * t + phase).sin())
                    + rng.random_range(-0.05..0.05) * seg;
                let along = t * l + rng.random_range(-0.15..0.15) * seg;
                refs.push(self.node((
                    pa.0 + d.0 * along + normal.0 * lateral,
                    pa.1 + d.1 * along + normal.1 * lateral,
                )));
            }
        }
        refs.push(b);
        refs
    }
}

/// Where roads attach to a settlement: the end of a main or arterial street, possibly
/// with a roundabout just outside it.
#[derive(Clone)]
struct Gate {
    node: u32,
    pos: P,
    ring: Vec<u32>,
}

impl Gate {
    /// The node a road heading to or from `toward` attaches to.
    fn attach(&self, world: &World, toward: P) -> u32 {
        self.ring
            .iter()
            .copied()
            .min_by(|&a, &b| dist(world.pos(a), toward).total_cmp(&dist(world.pos(b), toward)))
            .unwrap_or(self.node)
    }
}

fn nearest_gate(gates: &[Gate], toward: P) -> usize {
    (0..gates.len())
        .min_by(|&a, &b| dist(gates[a].pos, toward).total_cmp(&dist(gates[b].pos, toward)))
        .expect("every settlement has gates")
}

/// A town or village: an elliptic street grid of semi-axes `a` >= `b`, rotated by `theta`.
struct Settlement {
    c: P,
    a: f64,
    b: f64,
    theta: f64,
    /// Street spacing, km.
    s: f64,
    town: bool,
    name: String,
    /// Ends of the centre cross (the through roads attach here).
    main: Vec<Gate>,
    /// `main` plus the ends of arterials (rural roads attach to any).
    gates: Vec<Gate>,
}

impl Settlement {
    fn planned(c: P, a: f64, b: f64, s: f64, theta: f64, town: bool) -> Settlement {
        Settlement {
            c,
            a,
            b,
            theta,
            s,
            town,
            name: String::new(),
            main: Vec::new(),
            gates: Vec::new(),
        }
    }

    fn expected_nodes(&self) -> f64 {
        PI * self.a * self.b / (self.s * self.s)
    }

    /// Allocates the street grid, its ways and gates.
    fn build(&mut self, world: &mut World, rng: &mut StdRng) {
        let s = self.s;
        let n = ((self.a / s).floor() as i32).max(1); // columns j: local x = j * s
        let m = ((self.b / s).floor() as i32).max(1); // rows i: local y = i * s
        let width = (2 * n + 1) as usize;
        let at = |i: i32, j: i32| (i + m) as usize * width + (j + n) as usize;
        let mut grid = vec![u32::MAX; width * (2 * m + 1) as usize];
        let (sin, cos) = self.theta.sin_cos();
        let jitter = 0.15 * s;
        for i in -m..=m {
            for j in -n..=n {
                let (x, y) = (f64::from(j) * s, f64::from(i) * s);
                // The ellipse test uses the unjittered lattice, so every row and column
                // is one interval, symmetric about the centre cross.
                if i != 0 && j != 0 && (x / self.a).powi(2) + (y / self.b).powi(2) > 1.0 {
                    continue;
                }
                let x = x + rng.random_range(-jitter..jitter);
                let y = y + rng.random_range(-jitter..jitter);
                grid[at(i, j)] =
                    world.node((self.c.0 + x * cos - y * sin, self.c.1 + x * sin + y * cos));
            }
        }
        let arterial_every = ((1.0 / s).round() as i32).max(4);
        let big = self.a >= 3.0;
        let mut ends: Vec<(u32, bool)> = Vec::new(); // (node, main cross)
        for column in [false, true] {
            let (outer, inner) = if column { (n, m) } else { (m, n) };
            for k in -outer..=outer {
                let mut refs: Vec<u32> = (-inner..=inner)
                    .map(|l| {
                        if column {
                            grid[at(l, k)]
                        } else {
                            grid[at(k, l)]
                        }
                    })
                    .filter(|&v| v != u32::MAX)
                    .collect();
                if refs.len() < 2 {
                    continue;
                }
                let arterial = self.town && k != 0 && k % arterial_every == 0;
                let (class, speed) = if k == 0 {
                    if self.town {
                        (Class::Primary, 50)
                    } else {
                        (Class::Unclassified, 50)
                    }
                } else if arterial {
                    let class = if big && k.abs() == arterial_every {
                        Class::Secondary
                    } else {
                        Class::Tertiary
                    };
                    (class, 50)
                } else if self.town && rng.random_bool(0.3) {
                    (Class::Residential, 50)
                } else {
                    (Class::Residential, 30)
                };
                let number = k + outer + 1;
                let kind = if column { "Avenue" } else { "Street" };
                let name = if k == 0 {
                    Some(format!("Main {kind} of {}", self.name))
                } else if arterial {
                    Some(format!("Boulevard {number} of {}", self.name))
                } else if rng.random_bool(0.9) {
                    Some(format!("{kind} {number} of {}", self.name))
                } else {
                    None
                };
                // Only streets parallel to the first arm are oneway: each of their nodes
                // lies on a two-way street reaching the other arm of the cross.
                let oneway =
                    class == Class::Residential && self.town && !column && rng.random_bool(0.15);
                if oneway && rng.random_bool(0.5) {
                    refs.reverse();
                }
                if k == 0 || arterial {
                    ends.push((refs[0], k == 0));
                    ends.push((refs[refs.len() - 1], k == 0));
                }
                let mut way = WaySpec::new(refs, class, speed);
                way.oneway = oneway;
                way.name = name;
                world.streets.push(way);
            }
        }
        let roundabouts = self.town && rng.random_bool(0.35);
        let main_name = format!("Main Street of {}", self.name);
        for (node, main) in ends {
            let pos = world.pos(node);
            let mut gate = Gate {
                node,
                pos,
                ring: Vec::new(),
            };
            if main && roundabouts {
                gate.ring = roundabout(world, self.c, node, &main_name);
            }
            if main {
                self.main.push(gate.clone());
            }
            self.gates.push(gate);
        }
    }
}

/// A roundabout just outside the street end `node`, joined to it by a short primary; the
/// ring nodes, counter-clockwise (right-hand traffic).
fn roundabout(world: &mut World, centre: P, node: u32, name: &str) -> Vec<u32> {
    let pos = world.pos(node);
    let u = unit(centre, pos);
    let radius = 0.03;
    let c = (pos.0 + u.0 * (0.05 + radius), pos.1 + u.1 * (0.05 + radius));
    let start = (-u.1).atan2(-u.0); // the ring node facing the town comes first
    let ring: Vec<u32> = (0..8)
        .map(|q| {
            let angle = start + TAU * f64::from(q) / 8.0;
            world.node((c.0 + radius * angle.cos(), c.1 + radius * angle.sin()))
        })
        .collect();
    let mut entry = WaySpec::new(vec![node, ring[0]], Class::Primary, 50);
    entry.name = Some(name.to_string());
    world.streets.push(entry);
    let mut refs = ring.clone();
    refs.push(ring[0]);
    let mut way = WaySpec::new(refs, Class::Primary, 30);
    way.roundabout = true;
    world.streets.push(way);
    ring
}

/// Points bucketed in a uniform grid.
struct PointGrid {
    x0: f64,
    y0: f64,
    cell: f64,
    cols: usize,
    rows: usize,
    start: Vec<u32>,
    items: Vec<u32>,
}

impl PointGrid {
    fn new(points: &[P], cell: f64) -> PointGrid {
        let (mut x0, mut y0, mut x1, mut y1) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        if let Some(&first) = points.first() {
            (x0, y0, x1, y1) = (first.0, first.1, first.0, first.1);
        }
        for p in points {
            (x0, y0, x1, y1) = (x0.min(p.0), y0.min(p.1), x1.max(p.0), y1.max(p.1));
        }
        let cols = ((x1 - x0) / cell) as usize + 1;
        let rows = ((y1 - y0) / cell) as usize + 1;
        let mut grid = PointGrid {
            x0,
            y0,
            cell,
            cols,
            rows,
            start: vec![0; cols * rows + 1],
            items: vec![0; points.len()],
        };
        let cells: Vec<usize> = points.iter().map(|&p| grid.cell_index(p)).collect();
        for &c in &cells {
            grid.start[c + 1] += 1;
        }
        for c in 0..cols * rows {
            grid.start[c + 1] += grid.start[c];
        }
        let mut fill = grid.start.clone();
        for (i, &c) in cells.iter().enumerate() {
            grid.items[fill[c] as usize] = i as u32;
            fill[c] += 1;
        }
        grid
    }

    fn cell_xy(&self, p: P) -> (isize, isize) {
        (
            ((p.0 - self.x0) / self.cell).floor() as isize,
            ((p.1 - self.y0) / self.cell).floor() as isize,
        )
    }

    fn cell_index(&self, p: P) -> usize {
        let (x, y) = self.cell_xy(p);
        let x = x.clamp(0, self.cols as isize - 1) as usize;
        let y = y.clamp(0, self.rows as isize - 1) as usize;
        y * self.cols + x
    }

    fn bucket(&self, x: isize, y: isize) -> &[u32] {
        if x < 0 || y < 0 || x >= self.cols as isize || y >= self.rows as isize {
            return &[];
        }
        let c = y as usize * self.cols + x as usize;
        &self.items[self.start[c] as usize..self.start[c + 1] as usize]
    }

    /// Every point within `r` of `p`.
    fn within(&self, points: &[P], p: P, r: f64, mut visit: impl FnMut(u32)) {
        let (lx, ly) = self.cell_xy((p.0 - r, p.1 - r));
        let (hx, hy) = self.cell_xy((p.0 + r, p.1 + r));
        for y in ly.max(0)..=hy.min(self.rows as isize - 1) {
            for x in lx.max(0)..=hx.min(self.cols as isize - 1) {
                for &i in self.bucket(x, y) {
                    if dist(points[i as usize], p) <= r {
                        visit(i);
                    }
                }
            }
        }
    }

    /// The `k` nearest other points of point `i`.
    fn nearest(&self, points: &[P], i: u32, k: usize) -> Vec<u32> {
        let p = points[i as usize];
        let (cx, cy) = self.cell_xy(p);
        let mut found: Vec<(f64, u32)> = Vec::new();
        let limit = (self.cols + self.rows) as isize;
        for d in 0..=limit {
            for y in cy - d..=cy + d {
                for x in cx - d..=cx + d {
                    if (x - cx).abs().max((y - cy).abs()) != d {
                        continue;
                    }
                    for &j in self.bucket(x, y) {
                        if j != i {
                            found.push((dist(p, points[j as usize]), j));
                        }
                    }
                }
            }
            if found.len() >= k {
                found.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                // Anything in a farther ring is at least `d` cells away.
                if found[k - 1].0 <= d as f64 * self.cell {
                    break;
                }
            }
        }
        found.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        found.into_iter().take(k).map(|(_, j)| j).collect()
    }
}

/// Union-find over `n` elements.
struct Dsu(Vec<u32>);

impl Dsu {
    fn new(n: usize) -> Dsu {
        Dsu((0..n as u32).collect())
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.0[x as usize] != x {
            let up = self.0[self.0[x as usize] as usize];
            self.0[x as usize] = up;
            x = up;
        }
        x
    }

    fn union(&mut self, a: u32, b: u32) -> bool {
        let (a, b) = (self.find(a), self.find(b));
        self.0[a as usize] = b;
        a != b
    }
}

/// Proximity edges over `points`: the Gabriel graph (among each point's `k` nearest) and a
/// minimum spanning tree, both as sorted `(low, high)` pairs. The tree is completed across
/// the rare gaps the nearest-neighbour candidates leave, so the union is always connected.
fn proximity_edges(points: &[P], k: usize) -> (Vec<Pair>, Vec<Pair>) {
    let n = points.len();
    if n < 2 {
        return (Vec::new(), Vec::new());
    }
    let grid_for = |points: &[P]| {
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for p in points {
            (x0, y0, x1, y1) = (x0.min(p.0), y0.min(p.1), x1.max(p.0), y1.max(p.1));
        }
        let area = ((x1 - x0) * (y1 - y0)).max(1e-6);
        PointGrid::new(points, (area / n as f64).sqrt().max(0.05))
    };
    let grid = grid_for(points);
    let mut candidates: Vec<(u32, u32)> = Vec::new();
    for i in 0..n as u32 {
        for j in grid.nearest(points, i, k.min(n - 1)) {
            candidates.push((i.min(j), i.max(j)));
        }
    }
    candidates.sort_unstable();
    candidates.dedup();
    let length = |&(a, b): &(u32, u32)| dist(points[a as usize], points[b as usize]);
    let gabriel: Vec<(u32, u32)> = candidates
        .iter()
        .copied()
        .filter(|&(a, b)| {
            let (pa, pb) = (points[a as usize], points[b as usize]);
            let mid = ((pa.0 + pb.0) / 2.0, (pa.1 + pb.1) / 2.0);
            let r = dist(pa, pb) / 2.0;
            let mut empty = true;
            grid.within(points, mid, r * (1.0 - 1e-9), |c| {
                if c != a && c != b {
                    empty = false;
                }
            });
            empty
        })
        .collect();
    let mut by_length = candidates.clone();
    by_length.sort_by(|x, y| length(x).total_cmp(&length(y)).then(x.cmp(y)));
    let mut dsu = Dsu::new(n);
    let mut mst = Vec::new();
    for e in by_length {
        if dsu.union(e.0, e.1) {
            mst.push(e);
        }
    }
    // Join leftover components to the nearest point outside them (brute force: rare).
    loop {
        let roots: Vec<u32> = (0..n as u32).map(|i| dsu.find(i)).collect();
        let first = roots[0];
        let Some(other) = (0..n).find(|&i| roots[i] != first) else {
            break;
        };
        let component = roots[other];
        let mut best = (f64::MAX, 0u32, 0u32);
        for i in 0..n {
            if roots[i] != component {
                continue;
            }
            for j in 0..n {
                if roots[j] != component {
                    let d = dist(points[i], points[j]);
                    if d < best.0 {
                        best = (d, i as u32, j as u32);
                    }
                }
            }
        }
        dsu.union(best.1, best.2);
        mst.push((best.1.min(best.2), best.1.max(best.2)));
    }
    mst.sort_unstable();
    (gabriel, mst)
}

/// Reroutes edges whose straight line passes through a settlement through that
/// settlement's centre instead; sorted, one edge per pair (the most important class).
fn split_through(
    points: &[P],
    radii: &[f64],
    edges: &[(u32, u32, Class)],
    margin: f64,
) -> Vec<(u32, u32, Class)> {
    let grid = PointGrid::new(points, 5.0);
    let max_radius = radii.iter().copied().fold(0.0, f64::max);
    let mut out = Vec::new();
    for &(a, b, class) in edges {
        let mut stack = vec![(a, b)];
        let mut splits = 0;
        while let Some((a, b)) = stack.pop() {
            let (pa, pb) = (points[a as usize], points[b as usize]);
            let mid = ((pa.0 + pb.0) / 2.0, (pa.1 + pb.1) / 2.0);
            let mut best: Option<(f64, u32)> = None;
            if splits < 16 {
                grid.within(points, mid, dist(pa, pb) / 2.0 + max_radius + margin, |c| {
                    if c == a || c == b {
                        return;
                    }
                    let (d, t) = segment_distance(points[c as usize], pa, pb);
                    if t > 0.0
                        && t < 1.0
                        && d < radii[c as usize] + margin
                        && best.is_none_or(|(bt, _)| t < bt)
                    {
                        best = Some((t, c));
                    }
                });
            }
            match best {
                Some((_, c)) => {
                    splits += 1;
                    stack.push((c, b));
                    stack.push((a, c));
                }
                None => out.push((a.min(b), a.max(b), class)),
            }
        }
    }
    out.sort_unstable();
    out.dedup_by_key(|e| (e.0, e.1));
    out
}

/// Segments of ways bucketed in a uniform grid (a segment goes in every cell its bounding
/// box touches).
struct SegmentGrid {
    x0: f64,
    y0: f64,
    cell: f64,
    cols: usize,
    rows: usize,
    start: Vec<u32>,
    /// (way, segment)
    items: Vec<(u32, u32)>,
}

impl SegmentGrid {
    fn new(nodes: &[P], ways: &[&[u32]], cell: f64) -> SegmentGrid {
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for &n in ways.iter().flat_map(|w| w.iter()) {
            let p = nodes[n as usize];
            (x0, y0, x1, y1) = (x0.min(p.0), y0.min(p.1), x1.max(p.0), y1.max(p.1));
        }
        if x0 > x1 {
            (x0, y0, x1, y1) = (0.0, 0.0, 0.0, 0.0);
        }
        let cols = ((x1 - x0) / cell) as usize + 1;
        let rows = ((y1 - y0) / cell) as usize + 1;
        let mut grid = SegmentGrid {
            x0,
            y0,
            cell,
            cols,
            rows,
            start: vec![0; cols * rows + 1],
            items: Vec::new(),
        };
        for pass in 0..2 {
            let mut fill = grid.start.clone();
            for (w, refs) in ways.iter().enumerate() {
                for s in 0..refs.len().saturating_sub(1) {
                    let (a, b) = (nodes[refs[s] as usize], nodes[refs[s + 1] as usize]);
                    let (lx, ly) = grid.cell_xy((a.0.min(b.0), a.1.min(b.1)));
                    let (hx, hy) = grid.cell_xy((a.0.max(b.0), a.1.max(b.1)));
                    for y in ly..=hy {
                        for x in lx..=hx {
                            let c = y * cols + x;
                            if pass == 0 {
                                grid.start[c + 1] += 1;
                            } else {
                                grid.items[fill[c] as usize] = (w as u32, s as u32);
                                fill[c] += 1;
                            }
                        }
                    }
                }
            }
            if pass == 0 {
                for c in 0..cols * rows {
                    grid.start[c + 1] += grid.start[c];
                }
                grid.items = vec![(0, 0); grid.start[cols * rows] as usize];
            }
        }
        grid
    }

    fn cell_xy(&self, p: P) -> (usize, usize) {
        let x = ((p.0 - self.x0) / self.cell)
            .floor()
            .clamp(0.0, (self.cols - 1) as f64);
        let y = ((p.1 - self.y0) / self.cell)
            .floor()
            .clamp(0.0, (self.rows - 1) as f64);
        (x as usize, y as usize)
    }

    fn bucket(&self, x: usize, y: usize) -> &[(u32, u32)] {
        let c = y * self.cols + x;
        &self.items[self.start[c] as usize..self.start[c + 1] as usize]
    }

    /// Whether any segment comes within `r` of `p`.
    fn near(&self, nodes: &[P], ways: &[&[u32]], p: P, r: f64) -> bool {
        let (lx, ly) = self.cell_xy((p.0 - r, p.1 - r));
        let (hx, hy) = self.cell_xy((p.0 + r, p.1 + r));
        (ly..=hy).any(|y| {
            (lx..=hx).any(|x| {
                self.bucket(x, y).iter().any(|&(w, s)| {
                    let refs = ways[w as usize];
                    let (a, b) = (
                        nodes[refs[s as usize] as usize],
                        nodes[refs[s as usize + 1] as usize],
                    );
                    segment_distance(p, a, b).0 < r
                })
            })
        })
    }
}

/// Two road segments crossing: (road, segment, parameter) for each, and the point.
struct Crossing {
    a: RoadPos,
    b: RoadPos,
    p: P,
}

fn crossings(nodes: &[P], roads: &[WaySpec]) -> Vec<Crossing> {
    let ways: Vec<&[u32]> = roads.iter().map(|r| r.refs.as_slice()).collect();
    let grid = SegmentGrid::new(nodes, &ways, 1.0);
    let mut out = Vec::new();
    for cy in 0..grid.rows {
        for cx in 0..grid.cols {
            let items = grid.bucket(cx, cy);
            for (k, &(r1, s1)) in items.iter().enumerate() {
                let (a1, a2) = (
                    ways[r1 as usize][s1 as usize],
                    ways[r1 as usize][s1 as usize + 1],
                );
                for &(r2, s2) in &items[k + 1..] {
                    if r1 == r2 {
                        continue;
                    }
                    let (b1, b2) = (
                        ways[r2 as usize][s2 as usize],
                        ways[r2 as usize][s2 as usize + 1],
                    );
                    if a1 == b1 || a1 == b2 || a2 == b1 || a2 == b2 {
                        continue;
                    }
                    let (p1, p2) = (nodes[a1 as usize], nodes[a2 as usize]);
                    let Some((t, u)) = intersect(p1, p2, nodes[b1 as usize], nodes[b2 as usize])
                    else {
                        continue;
                    };
                    let p = (p1.0 + (p2.0 - p1.0) * t, p1.1 + (p2.1 - p1.1) * t);
                    // A pair shares several cells; count it in the cell of the crossing.
                    if grid.cell_xy(p) == (cx, cy) {
                        out.push(Crossing {
                            a: (r1, s1, t),
                            b: (r2, s2, u),
                            p,
                        });
                    }
                }
            }
        }
    }
    out
}

/// The point at distance `s` along a polyline: (segment, parameter, point).
fn point_along(nodes: &[P], refs: &[u32], s: f64) -> (u32, f64, P) {
    let mut left = s;
    for k in 0..refs.len() - 1 {
        let (a, b) = (nodes[refs[k] as usize], nodes[refs[k + 1] as usize]);
        let l = dist(a, b);
        if left <= l || k == refs.len() - 2 {
            let t = if l > 0.0 {
                (left / l).clamp(0.0, 1.0)
            } else {
                0.0
            };
            return (k as u32, t, (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t));
        }
        left -= l;
    }
    unreachable!("a road has at least two nodes")
}

fn prefix_lengths(nodes: &[P], refs: &[u32]) -> Vec<f64> {
    let mut out = vec![0.0];
    for w in refs.windows(2) {
        out.push(out[out.len() - 1] + dist(nodes[w[0] as usize], nodes[w[1] as usize]));
    }
    out
}

/// Least-cost path between `from` and `to` over an undirected weighted graph, as edge indices.
fn shortest_path(
    adjacency: &[Vec<(u32, usize)>],
    weight: &[f64],
    from: u32,
    to: u32,
) -> Option<Vec<usize>> {
    let mut cost = vec![f64::INFINITY; adjacency.len()];
    let mut via: Vec<Option<(u32, usize)>> = vec![None; adjacency.len()];
    let mut heap = BinaryHeap::new();
    cost[from as usize] = 0.0;
    heap.push(Reverse((0u64, from)));
    while let Some(Reverse((bits, v))) = heap.pop() {
        let c = f64::from_bits(bits);
        if c > cost[v as usize] {
            continue;
        }
        if v == to {
            break;
        }
        for &(w, e) in &adjacency[v as usize] {
            let next = c + weight[e];
            if next < cost[w as usize] {
                cost[w as usize] = next;
                via[w as usize] = Some((v, e));
                heap.push(Reverse((next.to_bits(), w)));
            }
        }
    }
    if cost[to as usize].is_infinite() {
        return None;
    }
    let mut path = Vec::new();
    let mut v = to;
    while let Some((u, e)) = via[v as usize] {
        path.push(e);
        v = u;
    }
    Some(path)
}

/// Minimum spanning tree of a small complete graph (Prim), as index pairs.
fn prim(points: &[P]) -> Vec<(u32, u32)> {
    let n = points.len();
    let mut best = vec![(f64::INFINITY, 0usize); n];
    let mut done = vec![false; n];
    let mut out = Vec::new();
    if n == 0 {
        return out;
    }
    done[0] = true;
    for j in 1..n {
        best[j] = (dist(points[0], points[j]), 0);
    }
    for _ in 1..n {
        let v = (0..n)
            .filter(|&j| !done[j])
            .min_by(|&a, &b| best[a].0.total_cmp(&best[b].0))
            .expect("a point is left");
        done[v] = true;
        out.push((best[v].1.min(v) as u32, best[v].1.max(v) as u32));
        for j in 0..n {
            if !done[j] {
                let d = dist(points[v], points[j]);
                if d < best[j].0 {
                    best[j] = (d, v);
                }
            }
        }
    }
    out
}

/// Towns on a jittered grid, sized by rank, biggest first; overlapping ones are dropped.
fn plan_towns(w: f64, h: f64, target: f64, rng: &mut StdRng) -> Vec<Settlement> {
    let cols = (w / TOWN_CELL_KM).round().max(1.0) as usize;
    let rows = (h / TOWN_CELL_KM).round().max(1.0) as usize;
    let (cw, ch) = (w / cols as f64, h / rows as f64);
    let mut centres = Vec::new();
    for r in 0..rows {
        for c in 0..cols {
            centres.push((
                (c as f64 + 0.5 + rng.random_range(-0.3..0.3)) * cw,
                (r as f64 + 0.5 + rng.random_range(-0.3..0.3)) * ch,
            ));
        }
    }
    centres.shuffle(rng);
    let n = centres.len() as f64;
    // (centre, relative radius, aspect, spacing) by rank; radius ~ rank^-0.35.
    let drafts: Vec<(P, f64, f64, f64)> = centres
        .into_iter()
        .enumerate()
        .map(|(k, c)| {
            let rank = (k + 1) as f64;
            let spacing = (0.085 + 0.075 * (rank / n).sqrt()) * rng.random_range(0.9..1.1);
            let radius = rank.powf(-0.35) * rng.random_range(0.85..1.15);
            (c, radius, rng.random_range(0.65..1.0), spacing)
        })
        .collect();
    let unit_nodes: f64 = drafts
        .iter()
        .map(|&(_, r, e, s)| PI * r * r * e / (s * s))
        .sum();
    let scale = (TOWN_SHARE * target / unit_nodes).sqrt().clamp(1.5, 10.0);
    let mut towns: Vec<Settlement> = Vec::new();
    for (c, radius, aspect, s) in drafts {
        let border = c.0.min(w - c.0).min(c.1).min(h - c.1) - 0.5;
        let a = (scale * radius).clamp(0.5, 10.0).min(border);
        let b = (a * aspect).max(1.05 * s);
        if a < b || towns.iter().any(|t| dist(t.c, c) < t.a + a + 2.0) {
            continue;
        }
        towns.push(Settlement::planned(
            c,
            a,
            b,
            s,
            rng.random_range(0.0..PI),
            true,
        ));
    }
    towns.sort_by(|x, y| y.a.total_cmp(&x.a));
    towns
}

/// Villages on a jittered grid of `cell` km, clear of towns and of the roads so far.
fn plan_villages(
    w: f64,
    h: f64,
    cell: f64,
    towns: &[Settlement],
    avoid: (&SegmentGrid, &[P], &[&[u32]]),
    rng: &mut StdRng,
) -> Vec<Settlement> {
    let (grid, nodes, ways) = avoid;
    let town_centres: Vec<P> = towns.iter().map(|t| t.c).collect();
    let town_grid = PointGrid::new(&town_centres, TOWN_CELL_KM);
    let max_town = towns.iter().map(|t| t.a).fold(0.0, f64::max);
    let cols = (w / cell).ceil() as usize;
    let rows = (h / cell).ceil() as usize;
    let cap = (0.28 * cell - 0.1).clamp(0.2, 0.9);
    let mut out = Vec::new();
    for r in 0..rows {
        for c in 0..cols {
            let centre = (
                (c as f64 + 0.5 + rng.random_range(-0.2..0.2)) * cell,
                (r as f64 + 0.5 + rng.random_range(-0.2..0.2)) * cell,
            );
            let s = rng.random_range(0.10..0.16);
            let a = (0.22 * rng.random_range(0.0f64..1.0).max(1e-3).powf(-0.5)).min(cap);
            let b = (a * rng.random_range(0.6..1.0)).max(1.05 * s);
            let a = a.max(b);
            let theta = rng.random_range(0.0..PI);
            let border = centre.0.min(w - centre.0).min(centre.1).min(h - centre.1);
            if border < a + 0.3 {
                continue;
            }
            let mut clear = true;
            town_grid.within(&town_centres, centre, max_town + a + 1.0, |t| {
                if dist(town_centres[t as usize], centre) < towns[t as usize].a + a + 1.0 {
                    clear = false;
                }
            });
            if !clear || grid.near(nodes, ways, centre, a + 0.3) {
                continue;
            }
            out.push(Settlement::planned(centre, a, b, s, theta, false));
        }
    }
    out
}

fn speed(rng: &mut StdRng, usual: u8, other: u8, p_other: f64) -> u8 {
    if rng.random_bool(p_other) {
        other
    } else {
        usual
    }
}

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

#[cfg(test)]
mod tests {
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
}
