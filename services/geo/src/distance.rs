//! The one distance model of the project: great-circle distance on a sphere.
//!
//! Every service measures with [`haversine_m`]; search results must equal a brute-force scan
//! with this function, so bounds used for pruning ([`bbox_min_distance_m`], `Circle`) are
//! exact up to floating-point error and callers add a margin.

use crate::{BBox, LatLon};

/// Mean Earth radius (IUGG), metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Metres per degree of latitude on the sphere of [`EARTH_RADIUS_M`], which is also the length
/// of a degree of longitude at the equator: `R·π/180` ≈ 111 195.08 m. The one metre/degree
/// constant of the project, consistent with [`haversine_m`] (one degree of latitude measures
/// exactly this).
pub const METRES_PER_DEGREE: f64 = EARTH_RADIUS_M.to_radians();

/// Metres per degree of longitude at latitude `lat_deg`: [`METRES_PER_DEGREE`]` · cos(lat)`,
/// 0 at the poles.
#[inline]
pub fn metres_per_degree_lon(lat_deg: f64) -> f64 {
    METRES_PER_DEGREE * lat_deg.to_radians().cos()
}

/// Half-sizes in degrees, `(d_lat, d_lon)`, of the latitude/longitude box around a point at
/// latitude `lat_deg` that holds a circle of `radius_m`, in the local flat approximation
/// (`d_lat = r / METRES_PER_DEGREE`, `d_lon = d_lat / cos(lat)`).
///
/// Not an exact spherical bound: the true longitude half-width is a little larger away from
/// the equator, so callers pruning with it add a margin. Near a pole `d_lon` grows without
/// bound (the cosine is floored at 1e-6); callers clamp to the whole longitude range.
#[inline]
pub fn degree_span(lat_deg: f64, radius_m: f64) -> (f64, f64) {
    let d_lat = radius_m / METRES_PER_DEGREE;
    (d_lat, d_lat / lat_deg.to_radians().cos().max(1e-6))
}

/// The point `north_m` metres north and `east_m` metres east of `p`, in the local flat
/// (equirectangular) approximation around `p`: exact along meridians, good to well under 0.1%
/// within tens of kilometres away from the poles. Meant for test fixtures, synthetic data and
/// jitter, not for navigation.
///
/// The latitude is clamped into `[-90, 90]`, the longitude wrapped into `[-180, 180]`. At a
/// pole, where a degree of longitude has no length, the longitude is kept.
pub fn offset_m(p: LatLon, north_m: f64, east_m: f64) -> LatLon {
    let lat = p.lat + north_m / METRES_PER_DEGREE;
    let per_lon = metres_per_degree_lon(p.lat);
    let lon = if per_lon > 1e-9 {
        wrap_lon(p.lon + east_m / per_lon)
    } else {
        p.lon
    };
    LatLon::clamped(lat, lon)
}

/// Longitude brought into `[-180, 180]`; 180 stays 180 (not -180) when it came from the east.
fn wrap_lon(lon: f64) -> f64 {
    if (-180.0..=180.0).contains(&lon) {
        return lon;
    }
    let wrapped = (lon + 180.0).rem_euclid(360.0) - 180.0;
    if wrapped == -180.0 && lon > 0.0 {
        180.0
    } else {
        wrapped
    }
}

/// Great-circle distance between two points, metres.
#[inline]
pub fn haversine_m(a: LatLon, b: LatLon) -> f64 {
    haversine_raw(a.lat, a.lon, b.lat, b.lon)
}

#[inline]
pub(crate) fn haversine_raw(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    Origin::new(LatLon {
        lat: lat1,
        lon: lon1,
    })
    .distance_m(lat2, lon2)
}

/// A fixed first point with its cosine precomputed, for measuring many points from one
/// centre (a search's goal, a query's centre). Gives bit-for-bit the same results as
/// [`haversine_m`].
#[derive(Clone, Copy, Debug)]
pub struct Origin {
    lat: f64,
    lon: f64,
    cos_lat: f64,
}

impl Origin {
    #[inline]
    pub fn new(p: LatLon) -> Origin {
        Origin {
            lat: p.lat,
            lon: p.lon,
            cos_lat: p.lat.to_radians().cos(),
        }
    }

    pub(crate) fn lat(&self) -> f64 {
        self.lat
    }

    pub(crate) fn lon(&self) -> f64 {
        self.lon
    }

    pub(crate) fn cos_lat(&self) -> f64 {
        self.cos_lat
    }

    /// The haversine term `h`; the distance is `2 R asin(sqrt(h))`.
    #[inline]
    fn haversine_term(&self, lat: f64, lon: f64) -> f64 {
        let d_phi = (lat - self.lat).to_radians();
        let d_lambda = (lon - self.lon).to_radians();
        (d_phi * 0.5).sin().powi(2)
            + self.cos_lat * lat.to_radians().cos() * (d_lambda * 0.5).sin().powi(2)
    }

    #[inline]
    fn distance_from_term(h: f64) -> f64 {
        2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
    }

    #[inline]
    pub(crate) fn distance_m(&self, lat: f64, lon: f64) -> f64 {
        Self::distance_from_term(self.haversine_term(lat, lon))
    }

    /// Great-circle distance to `p`, metres: the same value as `haversine_m(origin, p)`.
    #[inline]
    pub fn distance_to_m(&self, p: LatLon) -> f64 {
        self.distance_m(p.lat, p.lon)
    }

    /// Straight-line (chord) distance through the Earth to `p`, metres: `2R·sqrt(h)` where
    /// the great-circle distance is `2R·asin(sqrt(h))`. Never more than the great-circle
    /// distance (and within 0.1% of it up to ~500 km), and cheaper (no `asin`), so it makes an
    /// admissible A* bound.
    #[inline]
    pub fn chord_m(&self, p: LatLon) -> f64 {
        2.0 * EARTH_RADIUS_M * self.haversine_term(p.lat, p.lon).sqrt().min(1.0)
    }

    /// A cheap lower bound of the distance to any point of the box, metres.
    ///
    /// `h = sin²(Δφ/2) + cos φ1 cos φ2 sin²(Δλ/2)`; over the box, `|Δφ|` is at least the
    /// latitude gap, `|Δλ|` at least the longitude gap and `cos φ2` at least the cosine of the
    /// box's largest absolute latitude, so plugging those in bounds `h` from below.
    #[inline]
    pub(crate) fn box_lower_bound_m(&self, b: &BBox) -> f64 {
        let lat_gap = (b.lat_min - self.lat).max(self.lat - b.lat_max).max(0.0);
        let lon_gap = if (b.lon_min..=b.lon_max).contains(&self.lon) {
            0.0
        } else {
            let west = (b.lon_min - self.lon).rem_euclid(360.0);
            let east = (self.lon - b.lon_max).rem_euclid(360.0);
            west.min(east).min(180.0)
        };
        let far_lat = b.lat_min.abs().max(b.lat_max.abs()).min(90.0);
        let h = (lat_gap.to_radians() * 0.5).sin().powi(2)
            + self.cos_lat.max(0.0)
                * far_lat.to_radians().cos().max(0.0)
                * (lon_gap.to_radians() * 0.5).sin().powi(2);
        Self::distance_from_term(h)
    }
}

/// Relative width of the band around the threshold in which [`Circle::contains`] falls back to
/// the full distance: many orders of magnitude above the rounding error of `h`.
const TERM_BAND: f64 = 1e-10;

/// Degrees added to the circle's bounding box so that rounding never rejects a point inside.
const BOX_SLACK_DEG: f64 = 1e-9;

/// A search circle with precomputed bounds, for deciding membership of many points quickly
/// and with exactly the answer of `haversine_m(center, p) <= radius_m`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Circle {
    pub(crate) origin: Origin,
    pub(crate) radius_m: f64,
    /// Points with a haversine term below this are inside, above `term_out` outside.
    term_in: f64,
    term_out: f64,
    lat_lo: f64,
    lat_hi: f64,
    /// Half-width in longitude; `None` when the circle spans every longitude (it holds a pole).
    lon_half: Option<f64>,
}

impl Circle {
    pub(crate) fn new(center: LatLon, radius_m: f64) -> Circle {
        let angular = (radius_m / EARTH_RADIUS_M).max(0.0);
        let half = (angular * 0.5).min(std::f64::consts::FRAC_PI_2);
        let term = half.sin().powi(2);
        let d_lat = angular.to_degrees();
        let contains_pole = center.lat + d_lat >= 90.0 || center.lat - d_lat <= -90.0;
        let sin_ratio = angular.sin() / center.lat.to_radians().cos();
        let lon_half = if contains_pole
            || angular >= std::f64::consts::FRAC_PI_2
            || !sin_ratio.is_finite()
            || sin_ratio >= 1.0
        {
            None
        } else {
            Some(sin_ratio.asin().to_degrees() + BOX_SLACK_DEG)
        };
        Circle {
            origin: Origin::new(center),
            radius_m,
            term_in: term * (1.0 - TERM_BAND),
            term_out: if angular >= std::f64::consts::PI {
                f64::INFINITY
            } else {
                term * (1.0 + TERM_BAND)
            },
            lat_lo: center.lat - d_lat - BOX_SLACK_DEG,
            lat_hi: center.lat + d_lat + BOX_SLACK_DEG,
            lon_half,
        }
    }

    /// Whether the point lies in the circle's bounding box (cheap rejection).
    #[inline]
    fn in_bounds(&self, lat: f64, lon: f64) -> bool {
        if lat < self.lat_lo || lat > self.lat_hi {
            return false;
        }
        self.lon_half.is_none_or(|half| {
            let d = (lon - self.origin.lon).abs();
            d.min(360.0 - d) <= half
        })
    }

    /// Whether the point is within the radius (same answer as the full haversine).
    #[inline]
    pub(crate) fn contains(&self, lat: f64, lon: f64) -> bool {
        if !self.in_bounds(lat, lon) {
            return false;
        }
        let h = self.origin.haversine_term(lat, lon);
        if h < self.term_in {
            true
        } else if h > self.term_out {
            false
        } else {
            Origin::distance_from_term(h) <= self.radius_m
        }
    }

    /// The point's distance when it is within the radius.
    #[inline]
    pub(crate) fn distance_if_within(&self, lat: f64, lon: f64) -> Option<f64> {
        if !self.in_bounds(lat, lon) {
            return None;
        }
        let h = self.origin.haversine_term(lat, lon);
        if h > self.term_out {
            return None;
        }
        let d = Origin::distance_from_term(h);
        (d <= self.radius_m).then_some(d)
    }

    /// Cheap test: the box lies outside the circle's bounding box.
    #[inline]
    pub(crate) fn box_disjoint(&self, b: &BBox) -> bool {
        if b.lat_max < self.lat_lo || b.lat_min > self.lat_hi {
            return true;
        }
        match self.lon_half {
            None => false,
            Some(half) => {
                let (lo, hi) = (self.origin.lon - half, self.origin.lon + half);
                ![-360.0, 0.0, 360.0]
                    .iter()
                    .any(|shift| b.lon_min <= hi + shift && b.lon_max >= lo + shift)
            }
        }
    }

    /// Cheap test: the box lies inside the circle's bounding box (necessary, not sufficient,
    /// for lying inside the circle).
    #[inline]
    pub(crate) fn box_within_bounds(&self, b: &BBox) -> bool {
        if b.lat_min < self.lat_lo || b.lat_max > self.lat_hi {
            return false;
        }
        match self.lon_half {
            None => true,
            Some(half) => {
                let (lo, hi) = (self.origin.lon - half, self.origin.lon + half);
                [-360.0, 0.0, 360.0]
                    .iter()
                    .any(|shift| b.lon_min >= lo + shift && b.lon_max <= hi + shift)
            }
        }
    }
}

/// Shortest great-circle distance from `p` to any point of the lat/lon box, metres
/// (0 when inside).
///
/// Why it is exact: when `p`'s longitude lies within the box the nearest point is straight
/// north or south of it; otherwise it lies on one of the two bounding meridian segments, where
/// the distance is unimodal in latitude, so the clamped foot of the perpendicular (or an end)
/// is the minimum.
pub fn bbox_min_distance_m(p: LatLon, b: &BBox) -> f64 {
    if lon_within(p.lon, b.lon_min, b.lon_max) {
        if p.lat < b.lat_min {
            return (b.lat_min - p.lat).to_radians() * EARTH_RADIUS_M;
        }
        if p.lat > b.lat_max {
            return (p.lat - b.lat_max).to_radians() * EARTH_RADIUS_M;
        }
        return 0.0;
    }
    meridian_segment_distance(p, b.lon_min, b.lat_min, b.lat_max).min(meridian_segment_distance(
        p, b.lon_max, b.lat_min, b.lat_max,
    ))
}

fn lon_within(lon: f64, min: f64, max: f64) -> bool {
    (min..=max).contains(&lon)
        // -180 and 180 are the same meridian.
        || (lon == -180.0 && max == 180.0)
        || (lon == 180.0 && min == -180.0)
}

fn meridian_segment_distance(p: LatLon, meridian_lon: f64, lat_a: f64, lat_b: f64) -> f64 {
    let d_lambda = (meridian_lon - p.lon).to_radians();
    let mut best = haversine_raw(p.lat, p.lon, lat_a, meridian_lon).min(haversine_raw(
        p.lat,
        p.lon,
        lat_b,
        meridian_lon,
    ));
    let cos_dl = d_lambda.cos();
    if cos_dl > 0.0 {
        let foot = (p.lat.to_radians().tan() / cos_dl).atan().to_degrees();
        let foot = foot.clamp(lat_a, lat_b);
        best = best.min(haversine_raw(p.lat, p.lon, foot, meridian_lon));
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    #[test]
    fn known_distances() {
        // One degree of latitude on this sphere.
        let one_deg = EARTH_RADIUS_M.to_radians();
        let a = LatLon::new(0.0, 0.0).unwrap();
        let b = LatLon::new(1.0, 0.0).unwrap();
        assert!((haversine_m(a, b) - one_deg).abs() < 1e-6);
        // Across the antimeridian: 0.2 degrees of longitude at the equator.
        let w = LatLon::new(0.0, 179.9).unwrap();
        let e = LatLon::new(0.0, -179.9).unwrap();
        assert!((haversine_m(w, e) - 0.2 * one_deg).abs() < 1e-6);
        // Antipodes.
        let n = LatLon::new(90.0, 0.0).unwrap();
        let s = LatLon::new(-90.0, 0.0).unwrap();
        assert!((haversine_m(n, s) - std::f64::consts::PI * EARTH_RADIUS_M).abs() < 1e-6);
    }

    #[test]
    fn metre_degree_conversions() {
        // A degree of latitude measures METRES_PER_DEGREE with the distance model itself.
        let a = LatLon::new(60.0, 25.0).unwrap();
        let north = offset_m(a, 1_000.0, 0.0);
        assert!((haversine_m(a, north) - 1_000.0).abs() < 1e-6);
        assert!((METRES_PER_DEGREE - 111_195.08).abs() < 0.01);
        // At 60° a degree of longitude is half as long.
        assert!((metres_per_degree_lon(60.0) - METRES_PER_DEGREE / 2.0).abs() < 1e-6);
        let east = offset_m(a, 0.0, 1_000.0);
        assert!((haversine_m(a, east) - 1_000.0).abs() < 0.01);
        let (d_lat, d_lon) = degree_span(60.0, 1_000.0);
        assert!((d_lat - (north.lat - a.lat)).abs() < 1e-12);
        assert!((d_lon - (east.lon - a.lon)).abs() < 1e-12);
        // Wrapping across the antimeridian, clamping at a pole, no movement east at a pole.
        let w = offset_m(
            LatLon::new(0.0, 179.99).unwrap(),
            0.0,
            2.0 * 0.01 * METRES_PER_DEGREE,
        );
        assert!((w.lon + 179.99).abs() < 1e-9, "{w:?}");
        let pole = offset_m(LatLon::new(89.99, 10.0).unwrap(), 10_000.0, 0.0);
        assert_eq!(pole.lat, 90.0);
        assert_eq!(offset_m(pole, 0.0, 500.0).lon, 10.0);
        assert_eq!(wrap_lon(180.0), 180.0);
        assert_eq!(wrap_lon(540.0), 180.0);
        assert_eq!(wrap_lon(-181.0), 179.0);
    }

    #[test]
    fn origin_chord_is_a_tight_lower_bound() {
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..2000 {
            let a = LatLon::new(
                rng.random_range(-90.0..=90.0),
                rng.random_range(-180.0..=180.0),
            )
            .unwrap();
            let b = LatLon::new(
                rng.random_range(-90.0..=90.0),
                rng.random_range(-180.0..=180.0),
            )
            .unwrap();
            let o = Origin::new(b);
            let d = haversine_m(b, a);
            assert_eq!(o.distance_to_m(a), d);
            let chord = o.chord_m(a);
            assert!(chord <= d + 1e-6, "{chord} > {d}");
            if d < 500_000.0 {
                assert!(chord >= d * 0.999, "{chord} vs {d}");
            }
        }
    }

    /// Sampling the box densely never finds a point closer than the bound or farther than the
    /// upper bound.
    #[test]
    fn bbox_bounds_hold_against_sampling() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..2000 {
            let lat_min = rng.random_range(-89.0..88.0);
            let lon_min = rng.random_range(-180.0..179.0);
            let size = rng.random_range(0.001..1.0);
            let b = BBox {
                lat_min,
                lat_max: (lat_min + size).min(90.0),
                lon_min,
                lon_max: (lon_min + size * 2.0).min(180.0),
            };
            let p = LatLon::new(
                (lat_min + rng.random_range(-2.0..2.0)).clamp(-90.0, 90.0),
                lon_min + rng.random_range(-3.0..3.0),
            );
            let Ok(p) = p else { continue };
            let lo = bbox_min_distance_m(p, &b);
            let cheap = Origin::new(p).box_lower_bound_m(&b);
            assert!(
                cheap <= lo + 1e-6,
                "cheap bound {cheap} above exact {lo} for {p:?} {b:?}"
            );
            // The quadtree counts a node as wholly inside when its corners are: the farthest
            // point of a box must be a corner.
            let hi = [
                (b.lat_min, b.lon_min),
                (b.lat_min, b.lon_max),
                (b.lat_max, b.lon_min),
                (b.lat_max, b.lon_max),
            ]
            .iter()
            .map(|&(lat, lon)| haversine_raw(p.lat, p.lon, lat, lon))
            .fold(0.0, f64::max);
            for i in 0..=20 {
                for j in 0..=20 {
                    let lat = b.lat_min + (b.lat_max - b.lat_min) * i as f64 / 20.0;
                    let lon = b.lon_min + (b.lon_max - b.lon_min) * j as f64 / 20.0;
                    let d = haversine_raw(p.lat, p.lon, lat, lon);
                    assert!(
                        d >= lo - 1e-6,
                        "min bound {lo} > sampled {d} for {p:?} {b:?}"
                    );
                    assert!(
                        d <= hi + 1e-6,
                        "farthest corner {hi} < sampled {d} for {p:?} {b:?}"
                    );
                }
            }
        }
    }
}
