//! Test fixtures shared by the directions tests: routes driven from Helsinki by bearing and
//! distance, and the invariants every built leg must satisfy.

use geo_core::{LatLon, haversine_m, offset_m};

use super::{LatLng, Leg, RouteEdge, build_leg, decode_polyline, distance_text, duration_text};

pub(super) const HELSINKI: LatLon = LatLon::clamped(60.17, 24.94);

pub(super) fn heading(p: LatLon, bearing_deg: f64, dist_m: f64) -> LatLon {
    let b = bearing_deg.to_radians();
    offset_m(p, dist_m * b.cos(), dist_m * b.sin())
}

pub(super) fn length(shape: &[LatLon]) -> f64 {
    shape.windows(2).map(|w| haversine_m(w[0], w[1])).sum()
}

pub(super) fn edge(shape: Vec<LatLon>, name: Option<&str>) -> RouteEdge {
    let length_m = length(&shape);
    RouteEdge {
        shape,
        length_m,
        duration_s: length_m / 10.0,
        name: name.map(str::to_owned),
        ..RouteEdge::default()
    }
}

/// Edges driven one after another from `start`: (name, bearing, metres).
pub(super) fn drive(start: LatLon, legs: &[(Option<&str>, f64, f64)]) -> Vec<RouteEdge> {
    let mut at = start;
    legs.iter()
        .map(|&(name, bearing, dist)| {
            let to = heading(at, bearing, dist);
            let e = edge(vec![at, to], name);
            at = to;
            e
        })
        .collect()
}

pub(super) fn leg(edges: &[RouteEdge]) -> Leg {
    let leg = build_leg(edges, "driving", "A St".to_owned(), "B St".to_owned());
    assert_well_formed(&leg);
    leg
}

pub(super) fn ll(p: LatLon) -> LatLng {
    p.into()
}

pub(super) fn close(a: LatLng, b: LatLon) -> bool {
    (a.lat - b.lat).abs() <= 0.5e-5 + 1e-9 && (a.lng - b.lon).abs() <= 0.5e-5 + 1e-9
}

/// Invariants every leg must satisfy, checked on every leg the tests build.
pub(super) fn assert_well_formed(leg: &Leg) {
    if leg.steps.is_empty() {
        assert_eq!(leg.distance.value, 0);
        assert_eq!(leg.duration.value, 0);
        return;
    }
    let steps = &leg.steps;
    assert_eq!(
        steps[0].start_location, leg.start_location,
        "first step starts the leg"
    );
    let arrive = steps.last().unwrap();
    assert_eq!(arrive.maneuver, "arrive");
    assert_eq!(arrive.start_location, leg.end_location);
    assert_eq!(arrive.end_location, leg.end_location);
    assert_eq!((arrive.distance.value, arrive.duration.value), (0, 0));
    if steps.len() > 1 {
        assert_eq!(steps[0].maneuver, "depart");
    }
    for w in steps.windows(2) {
        assert_eq!(w[0].end_location, w[1].start_location, "continuity: {w:#?}");
    }
    let dist: u64 = steps.iter().map(|s| s.distance.value).sum();
    let dur: u64 = steps.iter().map(|s| s.duration.value).sum();
    assert_eq!(dist, leg.distance.value);
    assert_eq!(dur, leg.duration.value);
    assert_eq!(leg.duration_in_traffic, None);
    assert_eq!(leg.distance.text, distance_text(dist as f64));
    for s in steps {
        assert_eq!(s.travel_mode, "DRIVING");
        assert_eq!(s.distance.text, distance_text(s.distance.value as f64));
        assert_eq!(s.duration.text, duration_text(s.duration.value as f64));
        let pts = decode_polyline(&s.polyline.points).unwrap();
        assert!(!pts.is_empty());
        assert!(close(s.start_location, pts[0]), "{s:?}");
        assert!(close(s.end_location, *pts.last().unwrap()), "{s:?}");
    }
}

pub(super) fn maneuvers(leg: &Leg) -> Vec<&str> {
    leg.steps.iter().map(|s| s.maneuver.as_str()).collect()
}

pub(super) fn htmls(leg: &Leg) -> Vec<&str> {
    leg.steps
        .iter()
        .map(|s| s.html_instructions.as_str())
        .collect()
}
