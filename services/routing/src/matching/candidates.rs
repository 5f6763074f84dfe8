//! The hidden states of one fix: nearby points on edges the mode may use.

use geo_core::LatLon;

use crate::ids::{GraphId, Level};
use crate::mode::Mode;
use crate::snap::{nearest_on_shape, reach_window, tiles_near};
use crate::tiling::TileSource;

/// A point on a directed edge near a fix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub edge: GraphId,
    /// Position along the edge from its source, 0..=1 of its length.
    pub fraction: f64,
    pub point: LatLon,
    /// From the fix, metres.
    pub distance_m: f64,
    pub length_m: f64,
    /// The node the edge leads to: where every route onward starts.
    pub target: GraphId,
}

/// Finds candidates, keeping its scratch space between calls.
#[derive(Debug, Default)]
pub struct CandidateSearch {
    /// Projections already measured this call, by chain (way, segment, forward): both
    /// directions of a road share one shape, so the second is mirrored, not measured.
    measured: Vec<(i64, u32, bool, f64, f64, LatLon)>,
}

impl CandidateSearch {
    /// Replaces `out` with the `max` nearest points within `radius_m` of `p` on edges `mode`
    /// may use (one per directed edge), nearest first.
    pub fn find<T: TileSource + ?Sized>(
        &mut self,
        tiles: &T,
        p: LatLon,
        mode: Mode,
        radius_m: f64,
        max: usize,
        out: &mut Vec<Candidate>,
    ) {
        out.clear();
        self.measured.clear();
        if max == 0 || radius_m.is_nan() || radius_m <= 0.0 {
            return;
        }
        let window = reach_window(p, radius_m);
        for level in Level::ALL {
            for id in tiles_near(level, p, radius_m) {
                let Some(tile) = tiles.get(level, id) else {
                    continue;
                };
                tile.edge_index().for_each_within(&window, |e, _| {
                    let edge = tile.edge(e);
                    if !edge.access().contains(mode) {
                        return;
                    }
                    let key = (edge.way_id(), edge.seg());
                    let Some((d, fraction, point)) =
                        self.measure(key, edge.forward(), || nearest_on_shape(p, &edge.shape()))
                    else {
                        return;
                    };
                    if d <= radius_m {
                        out.push(Candidate {
                            edge: GraphId::new(level, id, e),
                            fraction,
                            point,
                            distance_m: d,
                            length_m: f64::from(edge.length_m()),
                            target: edge.target(),
                        });
                    }
                });
            }
        }
        out.sort_unstable_by(|a, b| {
            a.distance_m
                .total_cmp(&b.distance_m)
                .then(a.edge.cmp(&b.edge))
        });
        out.truncate(max);
    }

    /// The projection of the fix onto a chain's shape in the direction `forward`, measuring it
    /// only when the other direction has not been measured yet.
    fn measure(
        &mut self,
        (way, seg): (i64, u32),
        forward: bool,
        measure: impl FnOnce() -> Option<(f64, f64, LatLon)>,
    ) -> Option<(f64, f64, LatLon)> {
        if let Some(&(_, _, dir, d, fraction, point)) =
            self.measured.iter().find(|m| m.0 == way && m.1 == seg)
        {
            let fraction = if dir == forward {
                fraction
            } else {
                1.0 - fraction
            };
            return Some((d, fraction, point));
        }
        let (d, fraction, point) = measure()?;
        self.measured.push((way, seg, forward, d, fraction, point));
        Some((d, fraction, point))
    }
}

/// [`CandidateSearch::find`] with fresh scratch space.
pub fn candidates<T: TileSource + ?Sized>(
    tiles: &T,
    p: LatLon,
    mode: Mode,
    radius_m: f64,
    max: usize,
) -> Vec<Candidate> {
    let mut out = Vec::new();
    CandidateSearch::default().find(tiles, p, mode, radius_m, max, &mut out);
    out
}
