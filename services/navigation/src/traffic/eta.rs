//! Travel times with traffic: Google's `duration_in_traffic` for a planned route.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::LiveView;
use crate::directions::duration_value;
use crate::planner::Plan;
use crate::response::DirectionsResponse;

/// Departures this close to now use live speeds; later ones the typical speeds of their
/// hour of the week (live congestion says little about an hour from now).
pub const LIVE_HORIZON_S: f64 = 15.0 * 60.0;

/// Where speeds come from for one request.
pub enum TrafficSpeeds {
    /// Live speeds, else this hour's profile (both in the view).
    Live(Arc<LiveView>),
    /// The profile of the departure's hour of the week.
    Typical(Arc<FxHashMap<u64, f64>>),
    /// Nothing known: free flow.
    FreeFlow,
}

impl TrafficSpeeds {
    /// The speed on `edge` (packed id), when traffic knows one.
    pub fn speed_kmh(&self, edge: u64) -> Option<f64> {
        match self {
            TrafficSpeeds::Live(view) => view.speeds.speed_kmh(edge),
            TrafficSpeeds::Typical(profile) => profile.get(&edge).copied(),
            TrafficSpeeds::FreeFlow => None,
        }
        .filter(|s| *s > 0.0)
    }

    /// Seconds to travel `length_m` of `edge`, or `free_flow_s` when traffic knows nothing.
    pub fn seconds(&self, edge: u64, length_m: f64, free_flow_s: f64) -> f64 {
        match self.speed_kmh(edge) {
            Some(kmh) => length_m / (kmh / 3.6),
            None => free_flow_s,
        }
    }
}

/// Sets every leg's `duration_in_traffic` from `speeds` over the edges the plan travels.
pub fn set_durations_in_traffic(
    response: &mut DirectionsResponse,
    plan: &Plan,
    speeds: &TrafficSpeeds,
) {
    for (route, planned) in response.routes.iter_mut().zip(&plan.routes) {
        for (leg, planned_leg) in route.legs.iter_mut().zip(&planned.legs) {
            let seconds: f64 = planned_leg
                .edges
                .iter()
                .zip(&planned_leg.edge_ids)
                .map(|(e, &id)| speeds.seconds(id, e.length_m, e.duration_s))
                .sum();
            leg.duration_in_traffic = Some(duration_value(seconds.round() as u64));
        }
    }
}
