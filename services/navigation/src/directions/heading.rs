//! Headings of route pieces: the bearing a point list starts and ends with (ignoring
//! pieces too short to have one) and its eight-point compass name.

use geo_core::{LatLon, haversine_m, initial_bearing_deg};

/// Segments shorter than this have no trustworthy bearing (snapping and interpolation noise).
const MIN_SEGMENT_M: f64 = 0.01;

pub(super) fn compass_8(bearing: f64) -> &'static str {
    const NAMES: [&str; 8] = [
        "north",
        "northeast",
        "east",
        "southeast",
        "south",
        "southwest",
        "west",
        "northwest",
    ];
    NAMES[((bearing / 45.0).round() as usize) % 8]
}

fn is_directional(a: LatLon, b: LatLon) -> bool {
    haversine_m(a, b) >= MIN_SEGMENT_M
}

pub(super) fn first_bearing(points: &[LatLon]) -> Option<f64> {
    points
        .windows(2)
        .find(|w| is_directional(w[0], w[1]))
        .map(|w| initial_bearing_deg(w[0], w[1]))
}

pub(super) fn last_bearing(points: &[LatLon]) -> Option<f64> {
    points
        .windows(2)
        .rev()
        .find(|w| is_directional(w[0], w[1]))
        .map(|w| initial_bearing_deg(w[0], w[1]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directions::fixtures::{HELSINKI, heading};
    use geo_core::turn_angle_deg;

    #[test]
    fn bearings_and_compass() {
        for (b, want) in [
            (0.0, "north"),
            (45.0, "northeast"),
            (90.0, "east"),
            (135.0, "southeast"),
            (180.0, "south"),
            (225.0, "southwest"),
            (270.0, "west"),
            (315.0, "northwest"),
        ] {
            let bearing = initial_bearing_deg(HELSINKI, heading(HELSINKI, b, 100.0));
            assert!(turn_angle_deg(b, bearing).abs() < 0.01, "{b} -> {bearing}");
            assert_eq!(compass_8(bearing), want);
        }
        assert_eq!(compass_8(22.4), "north");
        assert_eq!(compass_8(22.6), "northeast");
        assert_eq!(compass_8(359.0), "north");
        assert_eq!(compass_8(337.6), "north");
    }
}
