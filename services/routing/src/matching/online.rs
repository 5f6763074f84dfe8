//! Fixed-lag Viterbi over candidates, one fix at a time.

use std::collections::VecDeque;
use std::ops::Range;

use geo_core::{LatLon, haversine_m};

use super::candidates::{Candidate, CandidateSearch};
use super::route::{NONE, Query, Reached, Router};
use super::traversal::TraversalBuilder;
use super::{Fix, MatchOptions, MatchedFix, Traversal};
use crate::ids::GraphId;
use crate::snap::nearest_on_shape;
use crate::tiling::TileSource;

/// No predecessor: the candidate starts a segment.
const START: u32 = u32::MAX;

/// One pending fix: its candidates with their Viterbi scores (log-probabilities, the best
/// shifted to 0), back pointers, and the route from each candidate's predecessor.
#[derive(Debug)]
struct Column {
    index: usize,
    time_s: f64,
    point: LatLon,
    sigma_m: f64,
    candidates: Vec<Candidate>,
    score: Vec<f64>,
    back: Vec<u32>,
    /// Per candidate, its route in `edges` (empty at a segment start).
    route: Vec<Range<u32>>,
    edges: Vec<GraphId>,
    /// Fixes that came after this one within noise of it: matched where it is decided,
    /// never scored (see [`OnlineMatcher::push`]).
    followers: Vec<(usize, Fix)>,
}

impl Column {
    fn new(point: LatLon) -> Column {
        Column {
            index: 0,
            time_s: 0.0,
            point,
            sigma_m: 1.0,
            candidates: Vec::new(),
            score: Vec::new(),
            back: Vec::new(),
            route: Vec::new(),
            edges: Vec::new(),
            followers: Vec::new(),
        }
    }

    fn best(&self) -> Option<usize> {
        (0..self.score.len())
            .filter(|&i| self.score[i].is_finite())
            .max_by(|&a, &b| self.score[a].total_cmp(&self.score[b]).then(b.cmp(&a)))
    }

    fn route(&self, c: usize) -> &[GraphId] {
        let r = &self.route[c];
        &self.edges[r.start as usize..r.end as usize]
    }

    /// Scores as the first fix of a segment: emission alone.
    fn start_segment(&mut self) {
        let sigma = self.sigma_m;
        self.score.clear();
        self.score.extend(
            self.candidates
                .iter()
                .map(|c| emission(c.distance_m, sigma)),
        );
        self.back.clear();
        self.back.resize(self.candidates.len(), START);
        self.route.clear();
        self.route.resize(self.candidates.len(), 0..0);
        self.edges.clear();
        normalize(&mut self.score);
    }
}

/// Log of the Gaussian emission, without the constant every candidate of a fix shares.
fn emission(distance_m: f64, sigma_m: f64) -> f64 {
    let z = distance_m / sigma_m;
    -0.5 * z * z
}

/// Shifts finite scores so the best is 0: scores stay small however long the trace.
fn normalize(score: &mut [f64]) {
    let top = score.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if top.is_finite() {
        for s in score.iter_mut() {
            *s -= top;
        }
    }
}

/// One decided fix and the route that reached it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub fix: MatchedFix,
    pub time_s: f64,
    /// The first fix of a segment (of the trace, or after a break): no route reached it.
    pub new_segment: bool,
    /// Edges from the previous decided fix's edge to this fix's edge, both included.
    route: Range<usize>,
}

/// What became final after one push (or at the end).
#[derive(Debug, Default)]
pub struct Commits {
    pub decided: Vec<Decided>,
    /// Edges travelled entirely, completed by these decisions.
    pub traversals: Vec<Traversal>,
    edges: Vec<GraphId>,
}

impl Commits {
    /// The route from the previous decided fix to `decided`: its first edge is the previous
    /// fix's, its last `decided`'s own (one edge when both lie on it); empty at a segment
    /// start and for a fix that followed another within noise.
    pub fn route(&self, decided: &Decided) -> &[GraphId] {
        self.edges.get(decided.route.clone()).unwrap_or(&[])
    }

    fn clear(&mut self) {
        self.decided.clear();
        self.traversals.clear();
        self.edges.clear();
    }
}

/// Scratch space of one transition step, kept between steps.
#[derive(Debug, Default)]
struct Scratch {
    router: Router,
    reached: Reached,
    /// Best transition-only score per target so far (emission added at the end).
    best: Vec<f64>,
    order: Vec<u32>,
    /// The best path's candidate per pending fix.
    chosen: Vec<usize>,
    alive: Vec<bool>,
    parent_alive: Vec<bool>,
}

/// A map matcher fed one fix at a time. Holds at most `window` fixes of candidates.
pub struct OnlineMatcher<'t, T: TileSource + ?Sized> {
    tiles: &'t T,
    options: MatchOptions,
    pending: VecDeque<Column>,
    spare: Vec<Column>,
    search: CandidateSearch,
    scratch: Scratch,
    traversals: TraversalBuilder,
    commits: Commits,
    /// Fixes pushed so far: the next fix's index.
    pushed: usize,
    /// The followers of the last decided fix, waiting for the route on from it, and the
    /// edge that fix was decided on.
    held: Vec<(usize, Fix)>,
    held_on: Option<GraphId>,
}

impl<'t, T: TileSource + ?Sized> OnlineMatcher<'t, T> {
    pub fn new(tiles: &'t T, options: MatchOptions) -> Self {
        OnlineMatcher {
            tiles,
            options,
            pending: VecDeque::new(),
            spare: Vec::new(),
            search: CandidateSearch::default(),
            scratch: Scratch::default(),
            traversals: TraversalBuilder::default(),
            commits: Commits::default(),
            pushed: 0,
            held: Vec::new(),
            held_on: None,
        }
    }

    pub fn options(&self) -> &MatchOptions {
        &self.options
    }

    /// Adds a fix; returns the fixes that became final (the oldest pending one once the
    /// window is full; every pending one when this fix breaks the model).
    pub fn push(&mut self, fix: Fix) -> &Commits {
        self.commits.clear();
        let index = self.pushed;
        self.pushed += 1;
        // A fix within 2σ of the last one scored says more about noise than about movement:
        // scoring it lets noise pick the route (most of all when sampling is dense), so it
        // follows that fix's decision instead (Newson and Krumm, section 4).
        if let Some(last) = self.pending.back_mut()
            && haversine_m(last.point, fix.point) < 2.0 * self.options.sigma_for(&fix)
        {
            last.followers.push((index, fix));
            return &self.commits;
        }
        let mut column = self.spare.pop().unwrap_or_else(|| Column::new(fix.point));
        column.followers.clear();
        column.index = index;
        column.time_s = fix.time_s;
        column.point = fix.point;
        column.sigma_m = self.options.sigma_for(&fix);
        let radius = self.options.radius_for(&fix);
        let (mode, max) = (self.options.mode, self.options.max_candidates);
        self.search.find(
            self.tiles,
            fix.point,
            mode,
            radius,
            max,
            &mut column.candidates,
        );
        if column.candidates.is_empty() {
            self.spare.push(column);
            return &self.commits;
        }
        let linked = match self.pending.back() {
            Some(last) => Self::step(
                self.tiles,
                &self.options,
                &mut self.scratch,
                last,
                &mut column,
            ),
            None => false,
        };
        if !linked {
            self.flush();
            column.start_segment();
        }
        self.pending.push_back(column);
        while self.pending.len() > self.options.window.max(1) {
            self.commit_oldest();
        }
        &self.commits
    }

    /// Decides every pending fix; the matcher may then be fed a new trace.
    pub fn finish(&mut self) -> &Commits {
        self.commits.clear();
        self.flush();
        let last = self.held_on.take();
        self.release(last.as_slice());
        self.traversals = TraversalBuilder::default();
        &self.commits
    }

    /// Scores `next` from `last`; false when no candidate of `next` is reachable (a break).
    fn step(
        tiles: &T,
        options: &MatchOptions,
        s: &mut Scratch,
        last: &Column,
        next: &mut Column,
    ) -> bool {
        let n = next.candidates.len();
        s.best.clear();
        s.best.resize(n, f64::NEG_INFINITY);
        next.back.clear();
        next.back.resize(n, START);
        next.route.clear();
        next.route.resize(n, 0..0);
        next.edges.clear();
        s.reached.distance.resize(n, f64::INFINITY);
        s.reached.via.resize(n, NONE);
        s.order.clear();
        s.order
            .extend((0..last.score.len() as u32).filter(|&a| last.score[a as usize].is_finite()));
        s.order
            .sort_unstable_by(|&a, &b| last.score[b as usize].total_cmp(&last.score[a as usize]));
        let link = Link::between(options, last, next);
        for i in 0..s.order.len() {
            let a = s.order[i] as usize;
            if !link_from(tiles, &link, s, (last, a), next) {
                break; // no later source scores higher, so none can improve a target
            }
        }
        next.score.clear();
        next.score.extend(
            next.candidates
                .iter()
                .zip(&s.best)
                .map(|(c, &t)| t + emission(c.distance_m, next.sigma_m)),
        );
        normalize(&mut next.score);
        next.score.iter().any(|s| s.is_finite())
    }

    /// Decides the oldest pending fix along the best current path, and drops every pending
    /// hypothesis that disagrees with it.
    fn commit_oldest(&mut self) {
        self.trace_back();
        let Some(&chosen) = self.scratch.chosen.first() else {
            self.flush();
            return;
        };
        let Some(oldest) = self.pending.pop_front() else {
            return;
        };
        self.emit(&oldest, chosen);
        // Keep only descendants of the decision.
        let (parent, alive) = (&mut self.scratch.parent_alive, &mut self.scratch.alive);
        parent.clear();
        parent.resize(oldest.candidates.len(), false);
        parent[chosen] = true;
        self.spare.push(oldest);
        for column in &mut self.pending {
            alive.clear();
            alive.extend(
                column
                    .back
                    .iter()
                    .map(|&b| b != START && parent.get(b as usize).copied().unwrap_or(false)),
            );
            for (score, &ok) in column.score.iter_mut().zip(alive.iter()) {
                if !ok {
                    *score = f64::NEG_INFINITY;
                }
            }
            std::mem::swap(parent, alive);
        }
    }

    /// Fills `scratch.chosen` with the best path's candidate per pending fix, oldest first
    /// (empty when nothing is pending or the newest fix has no live candidate).
    fn trace_back(&mut self) {
        let chosen = &mut self.scratch.chosen;
        chosen.clear();
        let Some(mut at) = self.pending.back().and_then(Column::best) else {
            return;
        };
        chosen.resize(self.pending.len(), 0);
        for (k, column) in self.pending.iter().enumerate().rev() {
            chosen[k] = at;
            let back = column.back.get(at).copied().unwrap_or(START);
            if back == START {
                break;
            }
            at = back as usize;
        }
    }

    /// Decides every pending fix along the best path (at the end, or before a break).
    fn flush(&mut self) {
        self.trace_back();
        let chosen = std::mem::take(&mut self.scratch.chosen);
        for &c in &chosen {
            let Some(column) = self.pending.pop_front() else {
                break;
            };
            self.emit(&column, c);
            self.spare.push(column);
        }
        self.spare.extend(self.pending.drain(..));
        self.scratch.chosen = chosen;
    }

    fn emit(&mut self, column: &Column, c: usize) {
        let Some(candidate) = column.candidates.get(c) else {
            return;
        };
        let new_segment = column.back.get(c).is_none_or(|&b| b == START);
        if new_segment {
            let last = self.held_on.take();
            self.release(last.as_slice());
        } else {
            self.release(column.route(c));
        }
        let start = self.commits.edges.len();
        self.commits.edges.extend_from_slice(column.route(c));
        let decided = Decided {
            fix: MatchedFix {
                index: column.index,
                edge: candidate.edge,
                fraction: candidate.fraction,
                point: candidate.point,
                distance_m: candidate.distance_m,
            },
            time_s: column.time_s,
            new_segment,
            route: start..self.commits.edges.len(),
        };
        self.traversals.feed(
            self.tiles,
            &decided,
            &self.commits.edges[decided.route.clone()],
            &mut self.commits.traversals,
        );
        self.commits.decided.push(decided);
        self.held.clear();
        self.held.extend_from_slice(&column.followers);
        self.held_on = Some(candidate.edge);
    }

    /// Matches the followers of the last decided fix, each to its nearest point on `edges`
    /// (the route on to the next decided fix; that fix's own edge alone at the end of a
    /// segment), with no route of its own.
    fn release(&mut self, edges: &[GraphId]) {
        for &(index, fix) in &self.held {
            let nearest = edges
                .iter()
                .filter_map(|&id| {
                    let (d, fraction, point) =
                        nearest_on_shape(fix.point, &self.tiles.edge(id)?.shape())?;
                    Some((d, id, fraction, point))
                })
                .min_by(|a, b| a.0.total_cmp(&b.0));
            let Some((distance_m, edge, fraction, point)) = nearest else {
                continue;
            };
            let at = self.commits.edges.len();
            self.commits.decided.push(Decided {
                fix: MatchedFix {
                    index,
                    edge,
                    fraction,
                    point,
                    distance_m,
                },
                time_s: fix.time_s,
                new_segment: false,
                route: at..at,
            });
        }
        self.held.clear();
    }
}

/// Tries every route from candidate `a` of `last` to the candidates of `next` it could
/// still improve; false when there were none.
fn link_from<T: TileSource + ?Sized>(
    tiles: &T,
    link: &Link,
    s: &mut Scratch,
    (last, a): (&Column, usize),
    next: &mut Column,
) -> bool {
    let from = &last.candidates[a];
    let prior = last.score[a];
    s.reached.pending.clear();
    s.reached.pending.extend(s.best.iter().map(|&b| prior > b));
    if !s.reached.pending.iter().any(|p| *p) {
        return false;
    }
    let mut radius = 0.0f64;
    for (b, to) in next.candidates.iter().enumerate() {
        s.reached.distance[b] = f64::INFINITY;
        s.reached.via[b] = NONE;
        if !s.reached.pending[b] {
            continue;
        }
        if to.edge == from.edge && to.fraction >= from.fraction - link.backward / from.length_m {
            // Along the same edge: no search. Backward (GPS noise) counts as negative.
            s.reached.distance[b] = (to.fraction - from.fraction) * from.length_m;
            s.reached.via[b] = SAME_EDGE;
            s.reached.pending[b] = false;
            continue;
        }
        let margin = prior - s.best[b];
        let reach = if margin.is_finite() {
            link.straight_m + link.beta_m * margin
        } else {
            link.limit_m
        };
        radius = radius.max(reach.min(link.limit_m));
    }
    let query = Query {
        mode: link.mode,
        from,
        targets: &next.candidates,
        radius_m: radius,
    };
    s.router.search(tiles, &query, &mut s.reached);
    for b in 0..next.candidates.len() {
        let d = s.reached.distance[b];
        if !d.is_finite() || d > link.limit_m {
            continue;
        }
        let score = prior - (d - link.straight_m).abs() / link.beta_m;
        if score > s.best[b] {
            s.best[b] = score;
            next.back[b] = a as u32;
            let start = next.edges.len() as u32;
            let via = s.reached.via[b];
            if via == SAME_EDGE {
                next.edges.push(from.edge);
            } else {
                let to = next.candidates[b].edge;
                s.router.path_into(from.edge, via, to, &mut next.edges);
            }
            next.route[b] = start..next.edges.len() as u32;
        }
    }
    true
}

/// A target reached along the source's own edge, without a search.
const SAME_EDGE: u64 = u64::MAX - 1;

/// What every transition between two fixes shares.
struct Link {
    mode: crate::mode::Mode,
    straight_m: f64,
    beta_m: f64,
    /// Longest route considered: a detour bound, and what the speed limit allows.
    limit_m: f64,
    /// How far back along one edge noise may move a vehicle.
    backward: f64,
}

impl Link {
    fn between(options: &MatchOptions, last: &Column, next: &Column) -> Link {
        let straight_m = haversine_m(last.point, next.point);
        // A fix may repeat a time or run a little backwards; such a pair still spans the
        // time one fix takes.
        let dt = (next.time_s - last.time_s).max(1.0);
        let detour = 2.0 * straight_m + 100.0;
        Link {
            mode: options.mode,
            straight_m,
            beta_m: options.beta_m.max(0.1),
            limit_m: detour.min(options.max_speed_mps * dt),
            backward: 3.0 * last.sigma_m.max(next.sigma_m),
        }
    }
}
