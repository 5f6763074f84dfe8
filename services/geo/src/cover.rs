//! The set of geohash cells that covers a circle.
//!
//! The textbook "my cell and its 8 neighbours" misses matches whenever the radius exceeds a
//! cell's height or width: at length 4 a cell is 19.5 km tall (less than a 20 km radius), and
//! cell widths in metres shrink with the cosine of the latitude, so at 60 degrees a 3x3 block
//! is already too narrow and near the poles the circle may contain the pole itself. Here every
//! cell whose box comes within the radius is returned, computed from the circle's own extent.

use crate::distance::bbox_min_distance_m;
use crate::{Cell, EARTH_RADIUS_M, LatLon};

/// Extra metres kept around the circle so that floating-point error never drops a cell.
const SAFETY_M: f64 = 0.5;

/// The design's radius -> geohash-length table, made exact: the longest of the indexed lengths
/// (4, 5, 6) whose cell height is at least the radius, so that a covering stays around 3x3
/// cells at low latitudes: 500 m -> 6, 1-2 km -> 5, 5 and 20 km -> 4.
pub fn precision_for_radius(radius_m: f64) -> u8 {
    for len in [6u8, 5] {
        let (h_deg, _) = Cell::size_deg(len);
        if radius_m <= h_deg.to_radians() * EARTH_RADIUS_M {
            return len;
        }
    }
    4
}

/// Every cell of length `len` that intersects the circle of `radius_m` around `center`,
/// sorted. Includes whole polar rows when the circle contains a pole.
pub fn covering_cells(center: LatLon, radius_m: f64, len: u8) -> Vec<Cell> {
    let radius_m = radius_m.max(0.0) + SAFETY_M;
    let angular = radius_m / EARTH_RADIUS_M;
    let d_lat = angular.to_degrees();
    let lat_lo = (center.lat - d_lat).max(-90.0);
    let lat_hi = (center.lat + d_lat).min(90.0);
    let (h, w) = Cell::size_deg(len);
    let rows = Cell::rows(len) as i64;
    let cols = Cell::cols(len) as i64;
    let row_lo = (((lat_lo + 90.0) / h).floor() as i64).clamp(0, rows - 1);
    let row_hi = (((lat_hi + 90.0) / h).floor() as i64).clamp(0, rows - 1);

    // Longitude half-width of a spherical cap; the whole circle of latitudes when the cap
    // contains a pole.
    let contains_pole = center.lat + d_lat >= 90.0 || center.lat - d_lat <= -90.0;
    let sin_ratio = angular.sin() / center.lat.to_radians().cos();
    let (col_lo, col_hi) =
        if contains_pole || sin_ratio >= 1.0 || angular >= std::f64::consts::FRAC_PI_2 {
            (0, cols - 1)
        } else {
            let d_lon = sin_ratio.asin().to_degrees();
            let lo = ((center.lon - d_lon + 180.0) / w).floor() as i64;
            let hi = ((center.lon + d_lon + 180.0) / w).floor() as i64;
            if hi - lo + 1 >= cols {
                (0, cols - 1)
            } else {
                (lo, hi)
            }
        };

    let mut cells = Vec::new();
    for row in row_lo..=row_hi {
        for col in col_lo..=col_hi {
            if let Some(cell) = Cell::from_row_col(len, row, col)
                && bbox_min_distance_m(center, &cell.bbox()) <= radius_m
            {
                cells.push(cell);
            }
        }
    }
    cells.sort();
    cells.dedup();
    cells
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::haversine_m;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    #[test]
    fn precision_table() {
        assert_eq!(precision_for_radius(500.0), 6);
        assert_eq!(precision_for_radius(1000.0), 5);
        assert_eq!(precision_for_radius(2000.0), 5);
        assert_eq!(precision_for_radius(5000.0), 4);
        assert_eq!(precision_for_radius(20000.0), 4);
    }

    /// Every random point within the radius falls in a covering cell, at the latitudes where
    /// the 3x3 rule fails.
    #[test]
    fn covering_contains_every_point_in_circle() {
        let mut rng = StdRng::seed_from_u64(11);
        let lats = [0.0, 45.0, 60.0, 78.0, 85.5, 89.9, -89.99, -60.0];
        let lons = [0.0, 179.99, -179.99, 24.9];
        for &radius in &[500.0, 1000.0, 2000.0, 5000.0, 20000.0] {
            let len = precision_for_radius(radius);
            for &lat in &lats {
                for &lon in &lons {
                    let c = LatLon::new(lat, lon).unwrap();
                    let cells = covering_cells(c, radius, len);
                    for _ in 0..300 {
                        let p = LatLon::new(
                            (lat + rng.random_range(-0.2..0.2)).clamp(-90.0, 90.0),
                            ((lon + rng.random_range(-5.0..5.0) + 540.0) % 360.0) - 180.0,
                        )
                        .unwrap();
                        if haversine_m(c, p) <= radius {
                            let cell = Cell::containing(p, len);
                            assert!(
                                cells.binary_search(&cell).is_ok(),
                                "{p:?} at {radius} m from {c:?} is in {cell}, not covered"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn three_by_three_is_not_enough_everywhere() {
        // A length-4 cell is 19.5 km tall: from just below its top, 20 km reaches two rows up.
        let cell = Cell::containing(LatLon::new(0.1, 0.1).unwrap(), 4);
        let near_top = LatLon::new(cell.bbox().lat_max - 0.001, 0.1).unwrap();
        let at_20km = covering_cells(near_top, 20_000.0, 4);
        assert!(at_20km.iter().any(|c| c.row() == cell.row() + 2));
        // At 78 degrees a length-4 cell is 8 km wide: 20 km reaches three columns east and west.
        let north = Cell::containing(LatLon::new(78.0, 15.0).unwrap(), 4);
        let at_78 = covering_cells(north.center(), 20_000.0, 4);
        assert!(at_78.iter().any(|c| c.col().abs_diff(north.col()) >= 2));
        let pole = covering_cells(LatLon::new(89.95, 0.0).unwrap(), 20_000.0, 4);
        assert!(pole.len() >= Cell::cols(4) as usize);
    }
}
