//! `route_id`: what a navigation session needs to plan a route again, carried in the id
//! itself (the stops as resolved, the mode, what to avoid, which alternative), so any
//! instance can start a session from an id another one gave, with nothing stored.
//! Forging one gains nothing: it only asks for a route between points, as `/v1/nav` does.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use geo_core::LatLon;
use routing::Mode;
use routing::astar::Avoid;
use routing::graph::{COORD_SCALE, latlon_to_e7};
use serde::{Deserialize, Serialize};

/// How long an id may be used to start a session (the contract promises an hour).
pub const VALID_FOR_S: u64 = 24 * 3600;
const FORMAT: u8 = 1;
/// Longest id accepted (24 stops at most, about 10 bytes each).
const MAX_ID_CHARS: usize = 512;

/// A route to plan again.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    /// Origin, waypoints, destination.
    pub stops: Vec<LatLon>,
    pub mode: Mode,
    pub avoid: Avoid,
    /// Which of the alternatives (0 = the best).
    pub alternative: u8,
    /// Unix seconds.
    pub issued_s: u64,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    format: u8,
    stops: Vec<(i32, i32)>,
    mode: Mode,
    avoid: u8,
    alternative: u8,
    issued_s: u64,
}

impl Ticket {
    pub fn encode(&self) -> String {
        let wire = Wire {
            format: FORMAT,
            stops: self.stops.iter().map(|&p| latlon_to_e7(p)).collect(),
            mode: self.mode,
            avoid: u8::from(self.avoid.highways)
                | u8::from(self.avoid.tolls) << 1
                | u8::from(self.avoid.ferries) << 2,
            alternative: self.alternative,
            issued_s: self.issued_s,
        };
        URL_SAFE_NO_PAD.encode(postcard::to_allocvec(&wire).expect("serialising to memory"))
    }

    /// The ticket an id holds, if it is one, still valid at `now_s`.
    pub fn decode(id: &str, now_s: u64) -> Result<Ticket, String> {
        let bad = || format!("route_id {:?} is not one this service gave", truncate(id));
        if id.len() > MAX_ID_CHARS {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(id).map_err(|_| bad())?;
        let wire: Wire = postcard::from_bytes(&bytes).map_err(|_| bad())?;
        if wire.format != FORMAT || wire.stops.len() < 2 || wire.stops.len() > 25 {
            return Err(bad());
        }
        if wire.issued_s + VALID_FOR_S < now_s {
            return Err("route_id has expired: plan the route again".into());
        }
        let stops = wire
            .stops
            .iter()
            .map(|&(lat, lon)| {
                LatLon::new(f64::from(lat) / COORD_SCALE, f64::from(lon) / COORD_SCALE)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| bad())?;
        Ok(Ticket {
            stops,
            mode: wire.mode,
            avoid: Avoid {
                highways: wire.avoid & 1 != 0,
                tolls: wire.avoid & 2 != 0,
                ferries: wire.avoid & 4 != 0,
            },
            alternative: wire.alternative,
            issued_s: wire.issued_s,
        })
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> Ticket {
        Ticket {
            stops: vec![
                LatLon::new(60.1699, 24.9384).unwrap(),
                LatLon::new(60.1841, 24.9509).unwrap(),
            ],
            mode: Mode::Driving,
            avoid: Avoid {
                highways: false,
                tolls: true,
                ferries: false,
            },
            alternative: 1,
            issued_s: 1_796_601_600,
        }
    }

    #[test]
    fn ids_round_trip_and_expire() {
        let t = ticket();
        let id = t.encode();
        assert!(id.len() < 64, "{id}");
        assert_eq!(Ticket::decode(&id, t.issued_s + 3600).unwrap(), t);
        assert!(Ticket::decode(&id, t.issued_s + VALID_FOR_S + 1).is_err());
    }

    #[test]
    fn anything_else_is_refused() {
        for id in ["", "x", "!!!!", &"A".repeat(600), "AQIDBAUGBwgJ"] {
            assert!(Ticket::decode(id, 0).is_err(), "{id}");
        }
        // Every truncation of a real id is refused or decodes; none panics.
        let id = ticket().encode();
        for end in 0..id.len() {
            let _ = Ticket::decode(&id[..end], 0);
        }
    }
}
