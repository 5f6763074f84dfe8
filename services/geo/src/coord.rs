//! Validated WGS84 coordinates.

use std::fmt;

/// A point on the WGS84 ellipsoid in decimal degrees; latitude first, as in every API field.
///
/// Construction validates: both values finite, `lat` in `[-90, 90]`, `lon` in `[-180, 180]`.
#[derive(Clone, Copy, Debug, PartialEq)]
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
    pub fn new(lat: f64, lon: f64) -> Result<Self, CoordError> {
        if !lat.is_finite() {
            return Err(CoordError::LatitudeNotFinite);
        }
        if !lon.is_finite() {
            return Err(CoordError::LongitudeNotFinite);
        }
        if !(-90.0..=90.0).contains(&lat) {
            return Err(CoordError::LatitudeOutOfRange);
        }
        if !(-180.0..=180.0).contains(&lon) {
            return Err(CoordError::LongitudeOutOfRange);
        }
        Ok(LatLon { lat, lon })
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
}
