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
