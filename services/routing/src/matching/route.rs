//! Route distances from one candidate to the next fix's candidates: a Dijkstra on edge
//! length, edge-based (so turn restrictions hold), bounded, stopping once every target it
//! was asked for is reached.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

use super::candidates::Candidate;
use crate::ids::GraphId;
use crate::mode::Mode;
use crate::tiling::TileSource;

/// No predecessor: the edge leaves the source candidate's edge directly.
pub(crate) const NONE: u64 = u64::MAX;

/// Per target of one search: whether it is still looked for, its route distance (infinity
/// when not reached) and the edge it was entered from (`NONE`: straight from the source
/// edge).
#[derive(Debug, Default)]
pub(crate) struct Reached {
    pub pending: Vec<bool>,
    pub distance: Vec<f64>,
    pub via: Vec<u64>,
}

/// A reusable search: its map and queue keep their capacity from one search to the next.
#[derive(Debug, Default)]
pub(crate) struct Router {
    /// Per edge reached: cost (metres) to its end, and the edge before it.
    best: FxHashMap<u64, (f64, u64)>,
    /// (cost at the edge's end as bits, packed edge, packed node it leads to).
    heap: BinaryHeap<Reverse<(u64, u64, u64)>>,
}

/// One search's fixed inputs.
pub(crate) struct Query<'a> {
    pub mode: Mode,
    pub from: &'a Candidate,
    pub targets: &'a [Candidate],
    /// Distances beyond this are not looked for.
    pub radius_m: f64,
}

impl Router {
    /// Route distances from `query.from` to the targets still pending in `reached` (no
    /// longer pending once reached).
    pub fn search<T: TileSource + ?Sized>(
        &mut self,
        tiles: &T,
        query: &Query<'_>,
        reached: &mut Reached,
    ) {
        self.best.clear();
        self.heap.clear();
        let mut left = reached.pending.iter().filter(|p| **p).count();
        let start = (1.0 - query.from.fraction) * query.from.length_m;
        if left == 0 || start > query.radius_m {
            return;
        }
        let (from, node) = (query.from.edge, query.from.target);
        left -= self.relax(tiles, query, (from, node), start, NONE, reached);
        while left > 0 {
            let Some(Reverse((bits, packed, node))) = self.heap.pop() else {
                break;
            };
            let cost = f64::from_bits(bits);
            if cost > query.radius_m {
                break;
            }
            if self.best.get(&packed).is_some_and(|b| cost > b.0) {
                continue; // queued before a shorter way to this edge was found
            }
            let (edge, node) = (GraphId::from_packed(packed), GraphId::from_packed(node));
            left -= self.relax(tiles, query, (edge, node), cost, packed, reached);
        }
    }

    /// Follows every turn from the end of `arrived` (at `node`, `base` metres from the
    /// source); returns how many pending targets were reached. A target's first entry is
    /// its shortest, because edges leave the queue in order of the cost at their end.
    ///
    /// Turning back onto the same road is taken only at a dead end: otherwise a noisy fix
    /// just behind the last one is "explained" by a drive to the next node and back, a
    /// manoeuvre drivers almost never make, instead of by noise.
    fn relax<T: TileSource + ?Sized>(
        &mut self,
        tiles: &T,
        query: &Query<'_>,
        (arrived, node): (GraphId, GraphId),
        base: f64,
        via: u64,
        reached: &mut Reached,
    ) -> usize {
        let chain = tiles.edge(arrived).map(|e| (e.way_id(), e.seg()));
        let mut found = 0;
        let mut onward = 0;
        let mut u_turn = None;
        for (id, edge, _) in tiles.turns(Some(arrived), node, query.mode) {
            let length = f64::from(edge.length_m());
            let step = (id, length, edge.target());
            if chain == Some((edge.way_id(), edge.seg())) {
                u_turn = Some(step);
                continue;
            }
            onward += 1;
            found += self.enter(query, step, base, via, reached);
        }
        if onward == 0
            && let Some(step) = u_turn
        {
            found += self.enter(query, step, base, via, reached);
        }
        found
    }

    /// Enters edge `id` (of `length`, leading to `target`) at `base` metres from the source
    /// (from edge `via`).
    fn enter(
        &mut self,
        query: &Query<'_>,
        (id, length, leads_to): (GraphId, f64, GraphId),
        base: f64,
        via: u64,
        reached: &mut Reached,
    ) -> usize {
        let mut found = 0;
        for (b, target) in query.targets.iter().enumerate() {
            if reached.pending[b] && target.edge == id {
                reached.pending[b] = false;
                reached.distance[b] = base + target.fraction * length;
                reached.via[b] = via;
                found += 1;
            }
        }
        let total = base + length;
        let packed = id.packed();
        if self.best.get(&packed).is_none_or(|b| total < b.0) {
            self.best.insert(packed, (total, via));
            if total <= query.radius_m {
                self.heap
                    .push(Reverse((total.to_bits(), packed, leads_to.packed())));
            }
        }
        found
    }

    /// Appends the edges of the route just searched from `source` to `target` (entered
    /// from `via`): `source`, the edges between, `target`.
    pub fn path_into(&self, source: GraphId, via: u64, target: GraphId, out: &mut Vec<GraphId>) {
        let start = out.len();
        out.push(target);
        let mut at = via;
        // Each edge's predecessor was settled before it, so the chain ends; the guard only
        // bounds the walk should that ever not hold.
        let mut guard = self.best.len();
        while at != NONE && guard > 0 {
            out.push(GraphId::from_packed(at));
            at = self.best.get(&at).map_or(NONE, |b| b.1);
            guard -= 1;
        }
        out.push(source);
        out[start..].reverse();
    }
}
