//! GPS fixes as clients send them, and the one validation every way in applies
//! (`POST /v1/locations`, the navigation socket): a batch is accepted whole or not at all.

use routing::Mode;
use serde::{Deserialize, Serialize};

/// Most fixes in one batch (the seed sends 15; a client catching up after a tunnel, more).
pub const MAX_FIXES: usize = 1_000;
/// How far ahead of our clock a fix may be: phones' clocks drift, a minute is generous.
pub const MAX_FUTURE_S: f64 = 60.0;
/// How old a fix may be: older ones say nothing about traffic now, and history is not a
/// backfill API.
pub const MAX_AGE_S: f64 = 3_600.0;
/// Fastest plausible ground speed: 100 m/s (360 km/h) covers every road vehicle and trains.
const MAX_SPEED_MPS: f64 = 100.0;
/// Worst accuracy worth keeping: beyond a kilometre a fix cannot tell one road from another.
const MAX_ACCURACY_M: f64 = 10_000.0;

/// One GPS fix, as clients send it (in `POST /v1/locations` batches and on the navigation
/// socket) and as the location stream carries it once validated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = LocationFix)]
pub struct Fix {
    /// Degrees, -90..=90.
    #[schema(minimum = -90.0, maximum = 90.0)]
    pub latitude: f64,
    /// Degrees, -180..=180.
    #[schema(minimum = -180.0, maximum = 180.0)]
    pub longitude: f64,
    /// Unix seconds: at most 60 s ahead of the server's clock, at most an hour old.
    pub timestamp: f64,
    /// Ground speed, 0..=100 m/s.
    #[schema(minimum = 0.0, maximum = 100.0)]
    pub speed_mps: Option<f64>,
    /// Course over ground, 0 (north) up to 360 degrees, clockwise.
    #[schema(minimum = 0.0, exclusive_maximum = 360.0)]
    pub heading_deg: Option<f64>,
    /// Horizontal accuracy (one sigma), metres, above 0 and at most 10,000.
    #[schema(exclusive_minimum = 0.0, maximum = 10000.0)]
    pub accuracy_m: Option<f64>,
}

/// A user's accepted batch: what the location stream carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixBatch {
    pub user_id: i64,
    pub mode: Mode,
    /// When we accepted it (Unix milliseconds): history retention trusts this, not the
    /// client's clock.
    pub received_ms: i64,
    pub fixes: Vec<Fix>,
}

impl FixBatch {
    /// Compact binary form for the stream.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("serialising to memory")
    }

    pub fn decode(bytes: &[u8]) -> Option<FixBatch> {
        postcard::from_bytes(bytes).ok()
    }
}

/// Why a fix was refused: names the fix and the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("locations[{index}].{field}: {problem}")]
pub struct InvalidFix {
    pub index: usize,
    pub field: &'static str,
    pub problem: String,
}

fn check(
    index: usize,
    field: &'static str,
    value: f64,
    ok: impl Fn(f64) -> bool,
    range: &str,
) -> Result<(), InvalidFix> {
    if value.is_finite() && ok(value) {
        Ok(())
    } else {
        Err(InvalidFix {
            index,
            field,
            problem: format!("{value} is not {range}"),
        })
    }
}

/// Checks every fix against `now_s` (Unix seconds): ranges, not in the future by more than
/// [`MAX_FUTURE_S`], not older than [`MAX_AGE_S`], in time order (equal times allowed: some
/// receivers report twice per second with second resolution).
pub fn validate(fixes: &[Fix], now_s: f64) -> Result<(), InvalidFix> {
    let mut previous = f64::NEG_INFINITY;
    for (i, f) in fixes.iter().enumerate() {
        check(
            i,
            "latitude",
            f.latitude,
            |v| (-90.0..=90.0).contains(&v),
            "within [-90, 90]",
        )?;
        check(
            i,
            "longitude",
            f.longitude,
            |v| (-180.0..=180.0).contains(&v),
            "within [-180, 180]",
        )?;
        if !f.timestamp.is_finite() || f.timestamp > now_s + MAX_FUTURE_S {
            return Err(InvalidFix {
                index: i,
                field: "timestamp",
                problem: format!(
                    "{} is more than {MAX_FUTURE_S} s ahead of the server's clock ({now_s:.0})",
                    f.timestamp
                ),
            });
        }
        if f.timestamp < now_s - MAX_AGE_S {
            return Err(InvalidFix {
                index: i,
                field: "timestamp",
                problem: format!("{} is more than an hour old", f.timestamp),
            });
        }
        if f.timestamp < previous {
            return Err(InvalidFix {
                index: i,
                field: "timestamp",
                problem: format!(
                    "{} is before the previous fix's {previous}: fixes must be in time order",
                    f.timestamp
                ),
            });
        }
        previous = f.timestamp;
        if let Some(v) = f.speed_mps {
            check(
                i,
                "speed_mps",
                v,
                |v| (0.0..=MAX_SPEED_MPS).contains(&v),
                "within [0, 100]",
            )?;
        }
        if let Some(v) = f.heading_deg {
            check(
                i,
                "heading_deg",
                v,
                |v| (0.0..360.0).contains(&v),
                "within [0, 360)",
            )?;
        }
        if let Some(v) = f.accuracy_m {
            check(
                i,
                "accuracy_m",
                v,
                |v| v > 0.0 && v <= MAX_ACCURACY_M,
                "within (0, 10000]",
            )?;
        }
    }
    Ok(())
}
