//! Synthetic traces for tests and benchmarks: a route driven at its edges' speeds, sampled
//! at a fixed interval, with Gaussian GPS noise from a seeded generator (no dependency, so
//! the same seed gives the same trace everywhere).

use geo_core::{LatLon, haversine_m, offset_m};

use super::Fix;
use crate::graph::e7_to_latlon;
use crate::ids::GraphId;
use crate::mode::Mode;
use crate::tiling::TileSource;

/// SplitMix64: tiny, seedable, good enough for noise.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1]: never 0, so its logarithm is finite.
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// A standard normal deviate (Box-Muller).
    pub fn gaussian(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Where the vehicle truly was at one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TruePosition {
    pub time_s: f64,
    pub point: LatLon,
    pub edge: GraphId,
    /// Along `edge` from its source, 0..=1.
    pub fraction: f64,
}

/// Drives `edges` (a route: the first entered at `start_fraction`, the last left at
/// `end_fraction`) at each edge's speed for `mode`, sampling every `interval_s` from time 0.
/// Edges missing from `tiles` or closed to `mode` end the drive there.
pub fn drive<T: TileSource + ?Sized>(
    tiles: &T,
    edges: &[GraphId],
    (start_fraction, end_fraction): (f64, f64),
    mode: Mode,
    interval_s: f64,
) -> Vec<TruePosition> {
    let mut out = Vec::new();
    let interval_s = interval_s.max(1e-3);
    let mut clock = 0.0; // time at which the current edge's stretch starts
    let mut next_sample = 0.0;
    for (i, &id) in edges.iter().enumerate() {
        let Some(edge) = tiles.edge(id) else {
            break;
        };
        let Some(seconds) = edge.cost(mode) else {
            break;
        };
        let from = if i == 0 { start_fraction } else { 0.0 };
        let to = if i + 1 == edges.len() {
            end_fraction
        } else {
            1.0
        };
        let span = (to - from).max(0.0) * seconds;
        let shape: Vec<LatLon> = edge.shape().into_iter().map(e7_to_latlon).collect();
        while next_sample <= clock + span {
            let along = if span > 0.0 {
                (next_sample - clock) / span
            } else {
                0.0
            };
            let fraction = from + along * (to - from);
            out.push(TruePosition {
                time_s: next_sample,
                point: point_along(&shape, fraction),
                edge: id,
                fraction,
            });
            next_sample += interval_s;
        }
        clock += span;
    }
    out
}

/// The point `fraction` of the way along a polyline (by length).
pub fn point_along(shape: &[LatLon], fraction: f64) -> LatLon {
    let total: f64 = shape.windows(2).map(|w| haversine_m(w[0], w[1])).sum();
    let mut left = fraction.clamp(0.0, 1.0) * total;
    for w in shape.windows(2) {
        let d = haversine_m(w[0], w[1]);
        if left <= d && d > 0.0 {
            let t = left / d;
            return LatLon::clamped(
                w[0].lat + t * (w[1].lat - w[0].lat),
                w[0].lon + t * (w[1].lon - w[0].lon),
            );
        }
        left -= d;
    }
    shape.last().copied().unwrap_or(LatLon::clamped(0.0, 0.0))
}

/// GPS fixes from true positions: each moved by independent Gaussian noise of `sigma_m`
/// metres north and east, reporting no accuracy.
pub fn add_noise(truth: &[TruePosition], sigma_m: f64, rng: &mut Rng) -> Vec<Fix> {
    truth
        .iter()
        .map(|t| Fix {
            point: offset_m(t.point, sigma_m * rng.gaussian(), sigma_m * rng.gaussian()),
            time_s: t.time_s,
            accuracy_m: None,
        })
        .collect()
}

/// [`drive`] then [`add_noise`] with a generator seeded by `seed`.
pub fn trace<T: TileSource + ?Sized>(
    tiles: &T,
    edges: &[GraphId],
    fractions: (f64, f64),
    mode: Mode,
    (interval_s, sigma_m): (f64, f64),
    seed: u64,
) -> (Vec<TruePosition>, Vec<Fix>) {
    let truth = drive(tiles, edges, fractions, mode, interval_s);
    let fixes = add_noise(&truth, sigma_m, &mut Rng::new(seed));
    (truth, fixes)
}

/// Matches every trace with [`super::match_trace`] and returns (fixes matched per second of
/// wall time, fixes in all): what a benchmark reports. Run it on a release build.
pub fn fixes_per_second<T: TileSource + ?Sized>(
    tiles: &T,
    traces: &[Vec<Fix>],
    options: &super::MatchOptions,
) -> (f64, usize) {
    let fixes: usize = traces.iter().map(Vec::len).sum();
    let started = std::time::Instant::now();
    let mut matched = 0;
    for trace in traces {
        matched += std::hint::black_box(super::match_trace(tiles, trace, options))
            .matched
            .len();
    }
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    std::hint::black_box(matched);
    (fixes as f64 / seconds, fixes)
}

/// `count` routes found by `search` (the exact search, say) between random road points
/// inside `bounds` (south, north, west, east), each at least `min_length_m` long (tries up
/// to 50 times as many pairs).
pub fn random_routes<T: TileSource + ?Sized>(
    tiles: &T,
    (south, north, west, east): (f64, f64, f64, f64),
    search: &crate::astar::SearchOptions<'_>,
    (count, min_length_m): (usize, f64),
    seed: u64,
) -> Vec<crate::astar::SnapPath> {
    let mode = search.mode;
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let mut tries = 0;
    while out.len() < count && tries < count * 50 {
        tries += 1;
        let mut random_snap = || {
            let p = LatLon::clamped(
                south + rng.uniform() * (north - south),
                west + rng.uniform() * (east - west),
            );
            crate::snap::snap(tiles, p, mode, 200.0).filter(|s| !s.small_component)
        };
        let (Some(a), Some(b)) = (random_snap(), random_snap()) else {
            continue;
        };
        if let Some(path) = crate::astar::route_between(tiles, &a, &b, search)
            && route_length(tiles, &path) >= min_length_m
        {
            out.push(path);
        }
    }
    out
}

/// Metres a route travels.
pub fn route_length<T: TileSource + ?Sized>(tiles: &T, path: &crate::astar::SnapPath) -> f64 {
    let n = path.edges.len();
    path.edges
        .iter()
        .enumerate()
        .filter_map(|(i, &e)| {
            let length = f64::from(tiles.edge(e)?.length_m());
            let from = if i == 0 { path.start_fraction } else { 0.0 };
            let to = if i + 1 == n { path.end_fraction } else { 1.0 };
            Some((to - from).max(0.0) * length)
        })
        .sum()
}

/// How well matched traces agree with the truth, summed over traces.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Score {
    pub fixes: usize,
    /// Fixes matched onto the very edge the vehicle was on.
    pub correct: usize,
    /// Fixes matched onto some edge of the true route (right road, right direction).
    pub on_route: usize,
    /// Metres of true route, of it missing from the matched route, and of matched route not
    /// on the true one.
    pub route_m: f64,
    pub missing_m: f64,
    pub extra_m: f64,
    /// Directed edges of the true routes, of the matched routes, and in both.
    pub true_edges: usize,
    pub matched_edges: usize,
    pub common_edges: usize,
}

impl Score {
    /// Adds one trace: its true positions, true route and what the matcher made of it. The
    /// route counts from the edge of the first fix to the edge of the last.
    pub fn add<T: TileSource + ?Sized>(
        &mut self,
        tiles: &T,
        truth: &[TruePosition],
        route: &[GraphId],
        result: &super::MatchResult,
    ) {
        use std::collections::HashSet;
        // The route as far as fixes saw it: what is driven before the first fix or after
        // the last is beyond any matcher's knowledge.
        let first = truth
            .first()
            .and_then(|t| route.iter().position(|e| *e == t.edge))
            .unwrap_or(0);
        let last = truth
            .last()
            .and_then(|t| route.iter().rposition(|e| *e == t.edge))
            .unwrap_or(route.len().saturating_sub(1));
        let route = route.get(first..=last.max(first)).unwrap_or(route);
        self.fixes += truth.len();
        self.correct += result
            .matched
            .iter()
            .filter(|m| truth.get(m.index).is_some_and(|t| t.edge == m.edge))
            .count();
        self.on_route += result
            .matched
            .iter()
            .filter(|m| route.contains(&m.edge))
            .count();
        let length = |e: &GraphId| tiles.edge(*e).map_or(0.0, |e| f64::from(e.length_m()));
        let matched: HashSet<GraphId> = result.edges.iter().copied().collect();
        let true_edges: HashSet<GraphId> = route.iter().copied().collect();
        self.route_m += true_edges.iter().map(length).sum::<f64>();
        self.missing_m += true_edges.difference(&matched).map(length).sum::<f64>();
        self.extra_m += matched.difference(&true_edges).map(length).sum::<f64>();
        self.true_edges += true_edges.len();
        self.matched_edges += matched.len();
        self.common_edges += true_edges.intersection(&matched).count();
    }

    /// Share of fixes on their true edge. Bounded by noise, not by the matcher: a fix within
    /// its along-road error of a node may lie on either edge (see `error_breakdown`).
    pub fn fix_accuracy(&self) -> f64 {
        self.correct as f64 / self.fixes.max(1) as f64
    }

    /// Matched-edge accuracy: directed edges in both the true and the matched route over
    /// edges in either (so a missed edge and a wrong one both count against it).
    pub fn edge_accuracy(&self) -> f64 {
        let union = self.true_edges + self.matched_edges - self.common_edges;
        self.common_edges as f64 / union.max(1) as f64
    }

    /// Share of fixes on some edge of the true route.
    pub fn on_route_accuracy(&self) -> f64 {
        self.on_route as f64 / self.fixes.max(1) as f64
    }

    /// One minus Newson and Krumm's route mismatch fraction, `(missing + extra) / true`: the
    /// share of the route matched right, wrong detours counted against it.
    pub fn route_accuracy(&self) -> f64 {
        (1.0 - (self.missing_m + self.extra_m) / self.route_m.max(1e-9)).max(0.0)
    }
}
