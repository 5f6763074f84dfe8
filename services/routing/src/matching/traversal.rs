//! Edges travelled from end to end, timed from the decided fixes around them.
//!
//! Between two decided fixes the vehicle is assumed to move at a constant speed along the
//! route, so a node passed at a fraction of the route's distance is passed at that fraction
//! of the time. An edge entered between fixes 3 and 4 and left between fixes 6 and 7 is one
//! traversal: its entry waits, open, until the edge is left.

use crate::ids::GraphId;
use crate::tiling::TileSource;

use super::Traversal;
use super::online::Decided;

/// Turns decided fixes and their routes into [`Traversal`]s, one segment at a time.
#[derive(Debug, Default, Clone)]
pub struct TraversalBuilder {
    /// The last decided fix of the current segment: (edge, fraction, time).
    last: Option<(GraphId, f64, f64)>,
    /// The edge entered at its source and not yet left: (edge, entry time, length).
    open: Option<(GraphId, f64, f64)>,
    lengths: Vec<f64>,
}

impl TraversalBuilder {
    /// Takes the next decided fix (in order) and the route that reached it; appends the
    /// traversals it completes to `out`.
    pub fn feed<T: TileSource + ?Sized>(
        &mut self,
        tiles: &T,
        decided: &Decided,
        route: &[GraphId],
        out: &mut Vec<Traversal>,
    ) {
        let here = (decided.fix.edge, decided.fix.fraction, decided.time_s);
        let last = self.last.replace(here);
        let Some((_, from_fraction, from_time)) = last.filter(|_| !decided.new_segment) else {
            self.open = None;
            return;
        };
        if route.len() < 2 {
            return; // still on the same edge: whatever is open stays open
        }
        self.lengths.clear();
        for &edge in route {
            let Some(e) = tiles.edge(edge) else {
                // A tile no longer loaded: no time can be given to this stretch.
                self.open = None;
                return;
            };
            self.lengths.push(f64::from(e.length_m()));
        }
        let n = route.len();
        let first = (1.0 - from_fraction) * self.lengths[0];
        let interior: f64 = self.lengths[1..n - 1].iter().sum();
        let total = first + interior + decided.fix.fraction * self.lengths[n - 1];
        let dt = decided.time_s - from_time;
        let time_at = |x: f64| {
            if total > 0.0 {
                from_time + dt * (x / total).clamp(0.0, 1.0)
            } else {
                from_time
            }
        };
        let mut emit = |edge: GraphId, enter_s: f64, exit_s: f64, length_m: f64| {
            if exit_s > enter_s {
                out.push(Traversal {
                    edge,
                    enter_s,
                    exit_s,
                    length_m,
                });
            }
        };
        if let Some((edge, enter_s, length)) = self.open.take()
            && edge == route[0]
        {
            emit(edge, enter_s, time_at(first), length);
        }
        let mut at = first;
        for (&edge, &length) in route[1..n - 1].iter().zip(&self.lengths[1..n - 1]) {
            emit(edge, time_at(at), time_at(at + length), length);
            at += length;
        }
        self.open = Some((route[n - 1], time_at(at), self.lengths[n - 1]));
    }
}
