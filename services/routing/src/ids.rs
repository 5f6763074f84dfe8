//! Tile levels, the tile grid and graph ids.
//!
//! Each level is a regular latitude/longitude grid with its own cell size. A tile's id is
//! `row * columns + column`, with `row = floor((lat + 90) / size)` and
//! `column = floor((lon + 180) / size)` (Valhalla's scheme), so ids are stable across builds
//! and a reader can compute which tile holds any point without a lookup.

use crate::tags::RoadClass;

/// The three levels of detail.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Motorways, trunks and primaries (and their links): 1/4° tiles (about 28 km).
    Highway = 0,
    /// Secondaries and tertiaries (and links): 1/32° tiles (about 3.5 km).
    Arterial = 1,
    /// Everything else, ferries included: 1/64° tiles (about 1.7 km north–south), small
    /// enough that the sample data (central Helsinki, 1.7 x 1 km) spans several.
    Local = 2,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Highway, Level::Arterial, Level::Local];

    pub fn from_u8(v: u8) -> Option<Level> {
        Level::ALL.get(usize::from(v)).copied()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Highway => "highway",
            Level::Arterial => "arterial",
            Level::Local => "local",
        }
    }

    /// Tile edge length in degrees (powers of two, so grid arithmetic is exact).
    pub fn tile_size_deg(self) -> f64 {
        match self {
            Level::Highway => 0.25,
            Level::Arterial => 1.0 / 32.0,
            Level::Local => 1.0 / 64.0,
        }
    }

    pub fn columns(self) -> u32 {
        (360.0 / self.tile_size_deg()) as u32
    }

    pub fn rows(self) -> u32 {
        (180.0 / self.tile_size_deg()) as u32
    }

    pub fn of_class(class: RoadClass) -> Level {
        use RoadClass::*;
        match class {
            Motorway | MotorwayLink | Trunk | TrunkLink | Primary | PrimaryLink => Level::Highway,
            Secondary | SecondaryLink | Tertiary | TertiaryLink => Level::Arterial,
            _ => Level::Local,
        }
    }

    /// The tile holding a point (points on the north or east edge of the world fold into
    /// the last row or column).
    pub fn tile_of(self, lat: f64, lon: f64) -> u32 {
        let size = self.tile_size_deg();
        let row = (((lat + 90.0) / size).floor() as u32).min(self.rows() - 1);
        let col = (((lon + 180.0) / size).floor() as u32).min(self.columns() - 1);
        row * self.columns() + col
    }

    /// South-west corner and north-east corner of a tile, degrees (lat, lon).
    pub fn tile_bounds(self, tile: u32) -> ((f64, f64), (f64, f64)) {
        let size = self.tile_size_deg();
        let (row, col) = (tile / self.columns(), tile % self.columns());
        let south = f64::from(row) * size - 90.0;
        let west = f64::from(col) * size - 180.0;
        ((south, west), (south + size, west + size))
    }
}

/// A node or edge in a tile: level, tile id and index in that tile, packed in 64 bits as
/// `level << 56 | tile << 24 | index` (24-bit index: a tile holds at most 16,777,215).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GraphId(u64);

pub const MAX_INDEX: u32 = (1 << 24) - 1;

impl GraphId {
    pub fn new(level: Level, tile: u32, index: u32) -> GraphId {
        assert!(
            index <= MAX_INDEX,
            "tile index {index} over the 24-bit limit"
        );
        GraphId((level as u64) << 56 | u64::from(tile) << 24 | u64::from(index))
    }

    pub fn from_packed(v: u64) -> GraphId {
        GraphId(v)
    }

    pub fn packed(self) -> u64 {
        self.0
    }

    pub fn level(self) -> Level {
        Level::from_u8((self.0 >> 56) as u8).unwrap_or(Level::Local)
    }

    pub fn tile(self) -> u32 {
        (self.0 >> 24) as u32
    }

    pub fn index(self) -> u32 {
        (self.0 & u64::from(MAX_INDEX)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_ids_pack() {
        let id = GraphId::new(Level::Arterial, 1_036_799, 16_000_000);
        assert_eq!(
            (id.level(), id.tile(), id.index()),
            (Level::Arterial, 1_036_799, 16_000_000)
        );
        assert_eq!(GraphId::from_packed(id.packed()), id);
    }

    #[test]
    fn tile_grid() {
        let l = Level::Local;
        let t = l.tile_of(60.17, 24.94);
        let ((s, w), (n, e)) = l.tile_bounds(t);
        assert!(s <= 60.17 && 60.17 < n && w <= 24.94 && 24.94 < e);
        assert_eq!(Level::Highway.tile_of(90.0, 180.0), 720 * 1440 - 1);
        assert_eq!(Level::Highway.tile_of(-90.0, -180.0), 0);
    }
}
