//! The one place an edge's travel cost comes from (live traffic plugs in here later).

use crate::mode::Mode;
use crate::tags::{RoadClass, WALKING_SPEED_KMH, flags};

/// Seconds to travel `length_m` on an edge of this class, speed and flags.
///
/// Walking cost is distance (at a constant pace); driving uses the edge speed; cycling a
/// speed per class, or the ferry's own speed on ferries.
pub fn travel_seconds(
    length_m: f64,
    class: RoadClass,
    speed_kmh: u8,
    flag_bits: u8,
    mode: Mode,
) -> f64 {
    let kmh = match mode {
        Mode::Driving => f64::from(speed_kmh.max(1)),
        Mode::Cycling if flag_bits & flags::FERRY != 0 => f64::from(speed_kmh.max(1)),
        Mode::Cycling => class.cycling_speed_kmh(),
        Mode::Walking => WALKING_SPEED_KMH,
    };
    length_m / (kmh / 3.6)
}
