//! Navigation sessions (`/v1/ws/navigation`): a user follows a planned route; the server
//! follows their fixes and says when the time left moves, when they left the route, when
//! traffic makes another route clearly faster, and when they arrived.
//!
//! [`Session`] is the decision logic, free of IO (tested on its own); `http::ws` runs it
//! over a socket; [`registry::Sessions`] finds the sessions a change of speeds concerns
//! through an index from road edge to sessions, never by visiting them all.

pub mod registry;
pub mod ticket;
pub mod track;

use geo_core::{LatLon, haversine_m};

use self::track::Track;
use crate::traffic::eta::TrafficSpeeds;

/// Metres off the route that count as leaving it (the contract: more than 50 m for two
/// fixes in a row).
pub const OFF_ROUTE_M: f64 = 50.0;
const OFF_ROUTE_FIXES: u8 = 2;
/// Within this of the destination the trip is over.
pub const ARRIVED_M: f64 = 30.0;
/// An `eta` goes out when the time left moved by this much since the last one...
pub const ETA_CHANGE_S: f64 = 30.0;
/// ... and at least this often.
pub const ETA_EVERY_S: f64 = 60.0;
/// A traffic reroute needs the new route to save this share of the time left...
pub const REROUTE_SHARE: f64 = 0.10;
/// ... and at least this many seconds.
pub const REROUTE_MIN_S: f64 = 60.0;

/// What a fix leads to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Eta {
        duration_in_traffic: f64,
        distance_remaining_m: f64,
    },
    /// Off the route for two fixes: plan again from `from`.
    OffRoute {
        from: LatLon,
    },
    Arrived,
}

/// One session's route and progress.
#[derive(Debug, Clone)]
pub struct Session {
    pub route_id: String,
    pub track: Track,
    /// Distance along the route of the last fix on it.
    pub along_m: f64,
    /// The last fix.
    pub position: Option<LatLon>,
    off_fixes: u8,
    /// The last `eta` sent: (seconds left, when, Unix s).
    last_eta: Option<(f64, f64)>,
    pub arrived: bool,
}

impl Session {
    pub fn new(route_id: String, track: Track) -> Session {
        Session {
            route_id,
            track,
            along_m: 0.0,
            position: None,
            off_fixes: 0,
            last_eta: None,
            arrived: false,
        }
    }

    /// A new route (a reroute) from where the user is.
    pub fn replace(&mut self, route_id: String, track: Track) {
        self.route_id = route_id;
        self.track = track;
        self.along_m = 0.0;
        self.off_fixes = 0;
        self.last_eta = None;
    }

    /// Seconds left with `speeds`.
    pub fn remaining_s(&self, speeds: &TrafficSpeeds) -> f64 {
        self.track.remaining_s(self.along_m, speeds)
    }

    pub fn remaining_m(&self) -> f64 {
        (self.track.total_m - self.along_m).max(0.0)
    }

    /// Takes a fix at `now_s` (Unix seconds).
    pub fn on_fix(&mut self, p: LatLon, now_s: f64, speeds: &TrafficSpeeds) -> Vec<Outcome> {
        if self.arrived {
            return Vec::new();
        }
        self.position = Some(p);
        if self
            .track
            .destination()
            .is_some_and(|d| haversine_m(p, d) <= ARRIVED_M)
        {
            self.arrived = true;
            self.along_m = self.track.total_m;
            return vec![Outcome::Arrived];
        }
        match self.track.locate(p, self.along_m) {
            Some((along, off)) if off <= OFF_ROUTE_M => {
                self.off_fixes = 0;
                self.along_m = along;
            }
            _ => {
                self.off_fixes += 1;
                if self.off_fixes >= OFF_ROUTE_FIXES {
                    self.off_fixes = 0;
                    return vec![Outcome::OffRoute { from: p }];
                }
                return Vec::new();
            }
        }
        self.eta_if_due(now_s, speeds).into_iter().collect()
    }

    /// An `eta` when the time left moved by [`ETA_CHANGE_S`] or [`ETA_EVERY_S`] passed.
    pub fn eta_if_due(&mut self, now_s: f64, speeds: &TrafficSpeeds) -> Option<Outcome> {
        let left = self.remaining_s(speeds);
        let due = match self.last_eta {
            None => true,
            Some((sent, at)) => (left - sent).abs() >= ETA_CHANGE_S || now_s - at >= ETA_EVERY_S,
        };
        due.then(|| {
            self.last_eta = Some((left, now_s));
            Outcome::Eta {
                duration_in_traffic: left.round(),
                distance_remaining_m: self.remaining_m().round(),
            }
        })
    }

    /// Whether a route taking `candidate_s` is worth switching to from this one's time left.
    pub fn worth_switching(current_s: f64, candidate_s: f64) -> bool {
        current_s - candidate_s >= REROUTE_MIN_S && candidate_s <= current_s * (1.0 - REROUTE_SHARE)
    }
}

#[cfg(test)]
mod tests {
    use super::track::TrackEdge;
    use super::*;

    /// A straight 1 km route east along 60N, in ten 100 m edges at 36 km/h (10 s each).
    fn straight() -> Track {
        let step = 100.0 / geo_core::metres_per_degree_lon(60.0);
        let edges = (0..10)
            .map(|i| {
                let a = 24.0 + step * f64::from(i);
                TrackEdge {
                    edge: u64::from(i as u32),
                    shape_e7: vec![
                        (600_000_000, (a * 1e7) as i32),
                        (600_000_000, ((a + step) * 1e7) as i32),
                    ],
                    length_m: 100.0,
                    duration_s: 10.0,
                    start_m: 100.0 * f64::from(i),
                }
            })
            .collect();
        Track {
            edges,
            total_m: 1000.0,
            leg_ends_m: vec![1000.0],
            stops: vec![LatLon::clamped(60.0, 24.0 + 10.0 * step)],
        }
    }

    fn at(metres: f64, north_m: f64) -> LatLon {
        geo_core::offset_m(LatLon::clamped(60.0, 24.0), north_m, metres)
    }

    #[test]
    fn progress_eta_and_arrival() {
        let mut s = Session::new("r".into(), straight());
        let free = TrafficSpeeds::FreeFlow;
        let first = s.on_fix(at(0.0, 3.0), 0.0, &free);
        assert_eq!(
            first,
            vec![Outcome::Eta {
                duration_in_traffic: 100.0,
                distance_remaining_m: 1000.0
            }]
        );
        // 20 s of the route done 10 s later: the time left moved by 20 s, no frame.
        assert!(s.on_fix(at(200.0, -5.0), 10.0, &free).is_empty());
        // 40 s done: moved by 40 s.
        let moved = s.on_fix(at(400.0, 0.0), 20.0, &free);
        assert!(
            matches!(moved[..], [Outcome::Eta { duration_in_traffic, .. }] if (duration_in_traffic - 60.0).abs() < 1.0)
        );
        // A minute without change still gets an eta.
        assert!(s.on_fix(at(400.0, 0.0), 50.0, &free).is_empty());
        assert_eq!(s.on_fix(at(400.0, 0.0), 81.0, &free).len(), 1);
        assert_eq!(
            s.on_fix(at(990.0, 0.0), 90.0, &free),
            vec![Outcome::Arrived]
        );
        assert!(s.on_fix(at(990.0, 0.0), 91.0, &free).is_empty());
    }

    #[test]
    fn two_fixes_off_the_route_ask_for_a_reroute() {
        let mut s = Session::new("r".into(), straight());
        let free = TrafficSpeeds::FreeFlow;
        s.on_fix(at(100.0, 0.0), 0.0, &free);
        assert!(
            s.on_fix(at(150.0, 80.0), 5.0, &free).is_empty(),
            "one fix off is noise"
        );
        assert!(
            s.on_fix(at(160.0, 10.0), 6.0, &free).is_empty(),
            "back on: counting restarts"
        );
        assert!(s.on_fix(at(170.0, 60.0), 7.0, &free).is_empty());
        let off = s.on_fix(at(180.0, 70.0), 8.0, &free);
        assert!(matches!(off[..], [Outcome::OffRoute { .. }]), "{off:?}");
    }

    #[test]
    fn switching_needs_ten_percent_and_a_minute() {
        assert!(Session::worth_switching(1000.0, 880.0));
        assert!(!Session::worth_switching(1000.0, 950.0), "5% is not enough");
        assert!(
            !Session::worth_switching(300.0, 250.0),
            "under a minute saved"
        );
    }
}
