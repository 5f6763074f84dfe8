//! The live speeds drawn: each directed edge with a live speed, with its geometry, looked up
//! once per snapshot so `GET /v1/traffic` and the `traffic` tiles only filter by box.

use routing::tags::RoadClass;
use routing::{GraphId, TileSource};

use super::live::LiveSpeeds;

/// One directed edge with a live speed.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Packed `GraphId` in the snapshot's tile version.
    pub edge: u64,
    /// `(lat, lon)` along the edge's direction.
    pub points: Vec<(f64, f64)>,
    /// west, south, east, north.
    pub bbox: [f64; 4],
    pub speed_kmh: f64,
    pub free_flow_kmh: f64,
    pub samples: u64,
    pub updated_at: i64,
    pub name: String,
    pub class: RoadClass,
}

impl Segment {
    /// Live over free-flow speed: 1 flows freely, 0.25 crawls.
    pub fn congestion(&self) -> f64 {
        self.speed_kmh / self.free_flow_kmh
    }

    /// Whether the segment's box meets `b` (west, south, east, north; west > east crosses
    /// the antimeridian).
    pub fn meets(&self, b: &[f64; 4]) -> bool {
        let [west, south, east, north] = *b;
        let lat = self.bbox[1] <= north && self.bbox[3] >= south;
        let lon = if west <= east {
            self.bbox[0] <= east && self.bbox[2] >= west
        } else {
            self.bbox[2] >= west || self.bbox[0] <= east
        };
        lat && lon
    }
}

/// The segments of every live speed whose edge the tiles have, slowest relative to free
/// flow first.
pub fn segments<T: TileSource + ?Sized>(tiles: &T, speeds: &LiveSpeeds) -> Vec<Segment> {
    let mut out: Vec<Segment> = speeds
        .live
        .iter()
        .filter_map(|(&packed, live)| {
            let edge = tiles.edge(GraphId::from_packed(packed))?;
            let points: Vec<(f64, f64)> = edge
                .shape()
                .iter()
                .map(|&(lat, lon)| (f64::from(lat) / 1e7, f64::from(lon) / 1e7))
                .collect();
            let mut bbox = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
            for &(lat, lon) in &points {
                bbox = [
                    bbox[0].min(lon),
                    bbox[1].min(lat),
                    bbox[2].max(lon),
                    bbox[3].max(lat),
                ];
            }
            Some(Segment {
                edge: packed,
                points,
                bbox,
                speed_kmh: live.speed_kmh,
                free_flow_kmh: f64::from(edge.speed_kmh().max(1)),
                samples: live.samples,
                updated_at: live.updated_at,
                name: edge.name().or(edge.reference()).unwrap_or("").to_string(),
                class: edge.class(),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        a.congestion()
            .total_cmp(&b.congestion())
            .then(a.edge.cmp(&b.edge))
    });
    out
}
