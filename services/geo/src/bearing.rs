//! Headings: the initial great-circle bearing between two points and the signed turn between
//! two headings, on the same sphere as [`crate::haversine_m`].

use crate::LatLon;

/// Initial great-circle bearing from `from` to `to`, degrees clockwise from north in
/// `[0, 360)`: the standard spherical formula. Coincident points read 0 (north).
pub fn initial_bearing_deg(from: LatLon, to: LatLon) -> f64 {
    let (lat1, lat2) = (from.lat.to_radians(), to.lat.to_radians());
    let dlon = (to.lon - from.lon).to_radians();
    let y = dlon.sin() * lat2.cos();
    let x = lat1.cos() * lat2.sin() - lat1.sin() * lat2.cos() * dlon.cos();
    let b = y.atan2(x).to_degrees().rem_euclid(360.0);
    // rem_euclid of a tiny negative number rounds up to exactly 360.
    if b >= 360.0 { 0.0 } else { b }
}

/// Signed turn from heading `incoming` to heading `outgoing` (both degrees clockwise from
/// north), in `(-180, 180]`; positive turns right, a U-turn reads +180.
pub fn turn_angle_deg(incoming: f64, outgoing: f64) -> f64 {
    let d = (outgoing - incoming).rem_euclid(360.0);
    if d > 180.0 { d - 360.0 } else { d }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offset_m;

    #[test]
    fn cardinal_and_diagonal_bearings() {
        let helsinki = LatLon::new(60.17, 24.94).unwrap();
        for b in [0.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0, 315.0_f64] {
            let r = b.to_radians();
            let to = offset_m(helsinki, 100.0 * r.cos(), 100.0 * r.sin());
            let bearing = initial_bearing_deg(helsinki, to);
            assert!((0.0..360.0).contains(&bearing));
            assert!(turn_angle_deg(b, bearing).abs() < 0.01, "{b} -> {bearing}");
        }
        // Along the equator and across the antimeridian: due east.
        let w = LatLon::new(0.0, 179.9).unwrap();
        let e = LatLon::new(0.0, -179.9).unwrap();
        assert!((initial_bearing_deg(w, e) - 90.0).abs() < 1e-9);
        assert!((initial_bearing_deg(e, w) - 270.0).abs() < 1e-9);
        // Coincident points, and a hair west of due north, never read 360.
        assert_eq!(initial_bearing_deg(w, w), 0.0);
        let p = LatLon::new(10.0, 0.0).unwrap();
        let q = LatLon::new(11.0, -1e-15).unwrap();
        assert!(initial_bearing_deg(p, q) < 360.0);
    }

    #[test]
    fn turn_angles() {
        assert_eq!(turn_angle_deg(350.0, 10.0), 20.0);
        assert_eq!(turn_angle_deg(10.0, 350.0), -20.0);
        assert_eq!(turn_angle_deg(0.0, 180.0), 180.0);
        assert_eq!(turn_angle_deg(90.0, 270.0), 180.0);
        assert_eq!(turn_angle_deg(270.0, 90.0), 180.0);
        assert_eq!(turn_angle_deg(45.0, 45.0), 0.0);
        assert_eq!(turn_angle_deg(0.0, 90.0), 90.0);
        assert_eq!(turn_angle_deg(0.0, 270.0), -90.0);
    }
}
