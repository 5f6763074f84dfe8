//! A planned route as a navigation session follows it: its road edges end to end with the
//! distance at which each starts, where a fix lies along it, and the time left.

use geo_core::LatLon;
use routing::graph::latlon_to_e7;
use routing::snap::nearest_on_shape;

use crate::planner::PlannedRoute;
use crate::traffic::eta::TrafficSpeeds;

/// How far behind its last position a fix is looked for (GPS noise, a short reverse).
const BEHIND_M: f64 = 30.0;
/// How far ahead a fix is looked for before the whole route is searched.
const AHEAD_M: f64 = 600.0;

/// One travelled road edge (or the part of it the route uses).
#[derive(Debug, Clone)]
pub struct TrackEdge {
    /// Packed `GraphId`.
    pub edge: u64,
    pub shape_e7: Vec<(i32, i32)>,
    pub length_m: f64,
    /// Free-flow seconds.
    pub duration_s: f64,
    /// Distance along the route where it starts.
    pub start_m: f64,
}

/// The route being followed.
#[derive(Debug, Clone)]
pub struct Track {
    pub edges: Vec<TrackEdge>,
    pub total_m: f64,
    /// Distance along the route at which each leg ends (the stops after the origin).
    pub leg_ends_m: Vec<f64>,
    /// The stops after the origin, in order.
    pub stops: Vec<LatLon>,
}

impl Track {
    pub fn from_route(route: &PlannedRoute) -> Track {
        let mut edges = Vec::new();
        let mut leg_ends_m = Vec::new();
        let mut stops = Vec::new();
        let mut at = 0.0;
        for leg in &route.legs {
            for (e, &id) in leg.edges.iter().zip(&leg.edge_ids) {
                edges.push(TrackEdge {
                    edge: id,
                    shape_e7: e.shape.iter().map(|&p| latlon_to_e7(p)).collect(),
                    length_m: e.length_m,
                    duration_s: e.duration_s,
                    start_m: at,
                });
                at += e.length_m;
            }
            leg_ends_m.push(at);
            stops.push(leg.end);
        }
        Track {
            edges,
            total_m: at,
            leg_ends_m,
            stops,
        }
    }

    pub fn destination(&self) -> Option<LatLon> {
        self.stops.last().copied()
    }

    /// Where `p` lies along the route, searching from `from_m - 30 m` to 600 m ahead first,
    /// then everywhere: `(distance along, distance off the route)`.
    pub fn locate(&self, p: LatLon, from_m: f64) -> Option<(f64, f64)> {
        let near = self.nearest(p, |e| {
            e.start_m + e.length_m >= from_m - BEHIND_M && e.start_m <= from_m + AHEAD_M
        });
        match near {
            Some((along, off)) if off <= 50.0 => Some((along, off)),
            _ => self.nearest(p, |_| true),
        }
    }

    fn nearest(&self, p: LatLon, consider: impl Fn(&TrackEdge) -> bool) -> Option<(f64, f64)> {
        let mut best: Option<(f64, f64)> = None;
        for e in self.edges.iter().filter(|e| consider(e)) {
            if let Some((off, fraction, _)) = nearest_on_shape(p, &e.shape_e7)
                && best.is_none_or(|(_, b)| off < b)
            {
                best = Some((e.start_m + fraction * e.length_m, off));
            }
        }
        best
    }

    /// Seconds from `along_m` to the end with `speeds`.
    pub fn remaining_s(&self, along_m: f64, speeds: &TrafficSpeeds) -> f64 {
        self.edges
            .iter()
            .filter(|e| e.start_m + e.length_m > along_m)
            .map(|e| {
                let left = if e.length_m > 0.0 {
                    ((e.start_m + e.length_m - along_m) / e.length_m).clamp(0.0, 1.0)
                } else {
                    1.0
                };
                left * speeds.seconds(e.edge, e.length_m, e.duration_s)
            })
            .sum()
    }

    /// The stops still ahead of `along_m` (the destination at least).
    pub fn stops_ahead(&self, along_m: f64) -> Vec<LatLon> {
        let ahead: Vec<LatLon> = self
            .leg_ends_m
            .iter()
            .zip(&self.stops)
            .filter(|(end, _)| **end > along_m + 1.0)
            .map(|(_, &s)| s)
            .collect();
        if ahead.is_empty() {
            self.destination().into_iter().collect()
        } else {
            ahead
        }
    }

    /// Edge ids still ahead of `along_m`.
    pub fn edges_ahead(&self, along_m: f64) -> Vec<u64> {
        self.edges
            .iter()
            .filter(|e| e.start_m + e.length_m > along_m)
            .map(|e| e.edge)
            .collect()
    }
}
