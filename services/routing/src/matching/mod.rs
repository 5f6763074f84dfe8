//! Map matching: which roads a GPS trace travelled, decided online with a hidden Markov model
//! (Newson and Krumm, "Hidden Markov Map Matching Through Noise and Sparseness", 2009).
//!
//! The hidden states of one fix are its *candidates*: points on the directed edges the mode
//! may use within `search_radius_m` (a two-way road gives two candidates, one per direction,
//! at the same spot). Two probabilities score a sequence of candidates:
//!
//! - **Emission**: GPS error is taken as Gaussian, so a candidate `d` metres from its fix
//!   scores `exp(-d² / 2σ²)`. `sigma_m` is the receiver's noise; a fix reporting a larger
//!   `accuracy_m` widens it (and the search radius, to about 4σ) for that fix alone, because
//!   a fix that admits being poor should not be forced onto the nearest road.
//! - **Transition**: vehicles mostly take the direct way, so the route distance between two
//!   candidates differs little from the straight-line distance between their fixes. N&K found
//!   that difference exponentially distributed: `exp(-|route - straight| / β)`. A small `β`
//!   trusts the road network (detours are unlikely); a large one trusts the fixes. Route
//!   distances come from a Dijkstra on edge *length* (not time: the evidence is about where
//!   the vehicle went, not how fast it could have) that follows access, one-way streets and
//!   turn restrictions, so an illegal manoeuvre is simply unreachable.
//!
//! Direction on a two-way road is decided by transitions alone (both directions are equally
//! near every fix). Going forward along an edge costs what it should; going *backward* along
//! the same directed edge is allowed only within a few σ (noise when slow or stopped) and
//! counted as negative distance, so the wrong direction pays about twice the distance moved
//! at every step instead of tying with the right one.
//!
//! A fix within 2σ of the last fix scored is not scored itself (Newson and Krumm drop such
//! fixes): at dense sampling the vehicle moves less between fixes than the noise does, and
//! scoring every fix lets the noise choose detours. It is matched onto the edge the earlier
//! fix is decided on.
//!
//! Transitions implying more than `max_speed_mps` are dropped: they are GPS jumps, not travel.
//! When no candidate of a fix can be reached from any live candidate of the previous one, the
//! model *breaks*: what was pending is decided and a new segment starts at that fix. Fixes
//! with no candidate at all are skipped.
//!
//! Decoding is fixed-lag Viterbi ([`OnlineMatcher`]): at most `window` fixes are pending;
//! when one more arrives the oldest is decided along the currently best path, and every
//! pending hypothesis that disagrees with that decision is dropped, so later decisions stay
//! consistent with earlier ones (the route between consecutive decided fixes always exists).
//! Memory is bounded by the window whatever the trace's length.
//!
//! Each step runs the route searches best source first and stops searching for a target once
//! no route could lift it above the score it already has (transition scores are at most
//! zero): a search's radius is the distance at which the transition penalty would exceed
//! that margin, never more than `max(2 × straight + 100 m)` nor what `max_speed_mps` allows.

mod candidates;
mod online;
mod route;
pub mod synth;
mod traversal;

use geo_core::LatLon;

use crate::ids::GraphId;
use crate::mode::Mode;
use crate::tiling::TileSource;

pub use candidates::{Candidate, CandidateSearch, candidates};
pub use online::{Commits, Decided, OnlineMatcher};
pub use traversal::TraversalBuilder;

/// One GPS fix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fix {
    pub point: LatLon,
    /// Seconds, on any clock that increases along the trace.
    pub time_s: f64,
    /// The receiver's own estimate of its error (one standard deviation, metres), if any.
    pub accuracy_m: Option<f64>,
}

/// Parameters of the model; see the module documentation for what each one trades.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchOptions {
    /// GPS noise, one standard deviation, metres.
    pub sigma_m: f64,
    /// Scale of the exponential on |route distance − straight-line distance|, metres.
    pub beta_m: f64,
    /// Candidates are looked for within `max(search_radius_m, 4σ)` of a fix.
    pub search_radius_m: f64,
    /// Candidates kept per fix, nearest first. Directed edges, so a two-way road near a node
    /// already gives four: 16 keeps about four roads, which on the sample's short urban edges
    /// raised matched-edge accuracy at 10 m / 5 s from 0.91 (with 8) to 0.94, at about
    /// half the throughput.
    pub max_candidates: usize,
    /// Fixes pending before the oldest is decided (fixed-lag Viterbi).
    pub window: usize,
    pub mode: Mode,
    /// Transitions faster than this (route distance over time) are GPS jumps.
    pub max_speed_mps: f64,
}

impl Default for MatchOptions {
    fn default() -> Self {
        MatchOptions {
            sigma_m: 10.0,
            beta_m: 10.0,
            search_radius_m: 50.0,
            max_candidates: 16,
            window: 10,
            mode: Mode::Driving,
            max_speed_mps: 70.0,
        }
    }
}

impl MatchOptions {
    /// The noise assumed for one fix: a receiver admitting more than `sigma_m` is believed.
    pub fn sigma_for(&self, fix: &Fix) -> f64 {
        let own = fix.accuracy_m.filter(|a| a.is_finite()).unwrap_or(0.0);
        self.sigma_m.max(own).max(0.1)
    }

    /// How far candidates are looked for around one fix.
    pub fn radius_for(&self, fix: &Fix) -> f64 {
        self.search_radius_m.max(4.0 * self.sigma_for(fix))
    }
}

/// One fix's matched position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchedFix {
    /// Index of the fix in the input (counting every fix pushed, matched or not).
    pub index: usize,
    pub edge: GraphId,
    /// Position along the edge from its source, 0..=1 of its length.
    pub fraction: f64,
    pub point: LatLon,
    /// From the fix to `point`, metres.
    pub distance_m: f64,
}

/// A directed road edge travelled entirely between two matched fixes, with entry and exit
/// times interpolated along the route distance between the fixes around them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Traversal {
    pub edge: GraphId,
    pub enter_s: f64,
    pub exit_s: f64,
    pub length_m: f64,
}

/// A whole trace, matched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchResult {
    /// The fixes that could be matched, in input order.
    pub matched: Vec<MatchedFix>,
    /// The matched path, consecutive duplicates removed (segments after a break follow on).
    pub edges: Vec<GraphId>,
    pub traversals: Vec<Traversal>,
}

/// Matches a whole trace: [`OnlineMatcher`] fed every fix, then finished.
pub fn match_trace<T: TileSource + ?Sized>(
    tiles: &T,
    fixes: &[Fix],
    options: &MatchOptions,
) -> MatchResult {
    let mut matcher = OnlineMatcher::new(tiles, options.clone());
    let mut result = MatchResult::default();
    for fix in fixes {
        collect(matcher.push(*fix), &mut result);
    }
    collect(matcher.finish(), &mut result);
    result
}

fn collect(commits: &Commits, result: &mut MatchResult) {
    for decided in &commits.decided {
        result.matched.push(decided.fix);
        for &edge in commits.route(decided) {
            if result.edges.last() != Some(&edge) {
                result.edges.push(edge);
            }
        }
    }
    result.traversals.extend_from_slice(&commits.traversals);
}
