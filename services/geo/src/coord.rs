//! Validated WGS84 coordinates.

use std::fmt;

/// A point on the WGS84 ellipsoid in decimal degrees; latitude first, as in every API field.
///
/// Construction validates: both values finite, `lat` in `[-90, 90]`, `lon` in `[-180, 180]`.
/// The fields are public for reading, but the struct is `#[non_exhaustive]`, so outside this
/// crate a value can only be made through [`LatLon::new`] (checked) or [`LatLon::clamped`]
/// (for values in range by construction); a struct literal cannot skip the check.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct LatLon {
    /// Degrees north, `[-90, 90]`.
    pub lat: f64,
    /// Degrees east, `[-180, 180]`.
    pub lon: f64,
}

/// Why a coordinate was rejected; the message names the field, for API error details.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CoordError {
    #[error("latitude must be a finite number")]
    LatitudeNotFinite,
    #[error("longitude must be a finite number")]
    LongitudeNotFinite,
    #[error("latitude must be within [-90, 90]")]
    LatitudeOutOfRange,
    #[error("longitude must be within [-180, 180]")]
    LongitudeOutOfRange,
}

impl LatLon {
    /// The checked constructor, for anything that comes from outside (requests, files, the
    /// database). `const`, so it can also check a constant at compile time.
    #[allow(
        clippy::manual_range_contains,
        reason = "RangeInclusive::contains is not const"
    )]
    pub const fn new(lat: f64, lon: f64) -> Result<Self, CoordError> {
        if !lat.is_finite() {
            return Err(CoordError::LatitudeNotFinite);
        }
        if !lon.is_finite() {
            return Err(CoordError::LongitudeNotFinite);
        }
        if lat < -90.0 || lat > 90.0 {
            return Err(CoordError::LatitudeOutOfRange);
        }
        if lon < -180.0 || lon > 180.0 {
            return Err(CoordError::LongitudeOutOfRange);
        }
        Ok(LatLon { lat, lon })
    }

    /// For values in range by construction, where an error could only be a bug: fixed-point
    /// tile coordinates, points interpolated between two valid points, constants, synthetic
    /// data. Clamps `lat` into `[-90, 90]` and `lon` into `[-180, 180]` (so rounding a hair
    /// past a bound is harmless; infinities go to the bound). NaN is a bug: it panics in debug
    /// builds and reads as 0 in release builds, so the result is always a valid coordinate.
    pub const fn clamped(lat: f64, lon: f64) -> Self {
        debug_assert!(
            !lat.is_nan() && !lon.is_nan(),
            "LatLon::clamped: NaN coordinate"
        );
        let lat = if lat.is_nan() {
            0.0
        } else {
            lat.clamp(-90.0, 90.0)
        };
        let lon = if lon.is_nan() {
            0.0
        } else {
            lon.clamp(-180.0, 180.0)
        };
        LatLon { lat, lon }
    }
}

impl fmt::Display for LatLon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.lat, self.lon)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_table() {
        let cases = [
            (0.0, 0.0, None),
            (90.0, 180.0, None),
            (-90.0, -180.0, None),
            (90.0001, 0.0, Some(CoordError::LatitudeOutOfRange)),
            (0.0, -180.5, Some(CoordError::LongitudeOutOfRange)),
            (f64::NAN, 0.0, Some(CoordError::LatitudeNotFinite)),
            (0.0, f64::INFINITY, Some(CoordError::LongitudeNotFinite)),
        ];
        for (lat, lon, expected) in cases {
            assert_eq!(LatLon::new(lat, lon).err(), expected, "{lat},{lon}");
        }
    }

    #[test]
    fn clamped_keeps_valid_values_and_clamps_the_rest() {
        assert_eq!(
            LatLon::clamped(60.17, 24.94),
            LatLon::new(60.17, 24.94).unwrap()
        );
        assert_eq!(
            LatLon::clamped(90.000_000_1, -180.5),
            LatLon::new(90.0, -180.0).unwrap()
        );
        assert_eq!(
            LatLon::clamped(f64::NEG_INFINITY, f64::INFINITY),
            LatLon::new(-90.0, 180.0).unwrap()
        );
    }
}
