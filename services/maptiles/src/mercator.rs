//! Web Mercator (EPSG:3857) in the unit square, and the XYZ tile grid over it.
//!
//! World coordinates run from `(0, 0)` at 180°W, 85.0511°N to `(1, 1)` at 180°E,
//! 85.0511°S, y pointing south as tile rows do. Latitudes beyond the projection's limit are
//! clamped onto its edge: the map ends there, as every slippy map does.

use std::f64::consts::PI;

/// The latitude where Web Mercator's square ends: `atan(sinh(π))` in degrees.
pub const MAX_LATITUDE: f64 = 85.051_128_779_806_59;

/// Deepest zoom tiles are built for; clients overzoom beyond it.
pub const MAX_ZOOM: u8 = 14;

/// A point in world coordinates. `x` may leave `[0, 1)` for geometry unwrapped across the
/// antimeridian (see [`unwrap_longitudes`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct World {
    pub x: f64,
    pub y: f64,
}

/// Projects a WGS84 position.
pub fn project(lat: f64, lon: f64) -> World {
    let lat = lat.clamp(-MAX_LATITUDE, MAX_LATITUDE).to_radians();
    World {
        x: (lon + 180.0) / 360.0,
        y: (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / PI) / 2.0,
    }
}

/// The inverse of [`project`]: `(lat, lon)`.
pub fn unproject(point: World) -> (f64, f64) {
    let lon = point.x * 360.0 - 180.0;
    let lat = (PI * (1.0 - 2.0 * point.y)).sinh().atan().to_degrees();
    (lat, lon)
}

/// Makes a line continuous across the antimeridian: where consecutive points jump by more
/// than half the world, later points are shifted by a whole world, so a way from 179.9°E
/// to 179.9°W runs 0.2° east (to `x > 1`) instead of 359.8° west.
pub fn unwrap_longitudes(points: &mut [World]) {
    let mut shift = 0.0;
    for i in 1..points.len() {
        let step = points[i].x + shift - points[i - 1].x;
        if step > 0.5 {
            shift -= 1.0;
        } else if step < -0.5 {
            shift += 1.0;
        }
        points[i].x += shift;
    }
    // Keep the start in the canonical world so tile columns stay near [0, n).
    if let Some(first) = points.first().copied() {
        let whole = first.x.floor();
        if whole != 0.0 {
            for p in points.iter_mut() {
                p.x -= whole;
            }
        }
    }
}

/// One tile of the XYZ (slippy map) grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    pub z: u8,
    pub x: u32,
    pub y: u32,
}

impl TileId {
    /// `None` unless `z <= MAX_ZOOM` and `x`, `y` are within the zoom's grid.
    pub fn new(z: u8, x: u32, y: u32) -> Option<TileId> {
        let n = 1u64 << z.min(31);
        (z <= MAX_ZOOM && u64::from(x) < n && u64::from(y) < n).then_some(TileId { z, x, y })
    }

    /// Tiles per side at this zoom.
    pub fn side(self) -> u32 {
        1 << self.z
    }

    /// The tile holding a WGS84 position at zoom `z` (at most 30); longitudes wrap.
    pub fn containing(lat: f64, lon: f64, z: u8) -> TileId {
        let z = z.min(30);
        let p = project(lat, (lon + 180.0).rem_euclid(360.0) - 180.0);
        let n = f64::from(1u32 << z);
        let clamp = |v: f64| (v * n).floor().clamp(0.0, n - 1.0) as u32;
        TileId {
            z,
            x: clamp(p.x),
            y: clamp(p.y),
        }
    }

    /// The tile and its eight neighbours, row by row from the north-west. Columns wrap
    /// around the antimeridian; rows past the poles do not exist and are left out, so a
    /// tile in the first or last row has six neighbours at most (and zoom 0 has one tile).
    pub fn with_neighbours(self) -> Vec<TileId> {
        let n = i64::from(self.side());
        let mut out = Vec::with_capacity(9);
        for dy in -1i64..=1 {
            let y = i64::from(self.y) + dy;
            if !(0..n).contains(&y) {
                continue;
            }
            for dx in -1i64..=1 {
                let x = (i64::from(self.x) + dx).rem_euclid(n);
                let tile = TileId {
                    z: self.z,
                    x: x as u32,
                    y: y as u32,
                };
                if !out.contains(&tile) {
                    out.push(tile);
                }
            }
        }
        out
    }

    /// The tile's bounds as `(west, south, east, north)` degrees.
    pub fn bounds(self) -> (f64, f64, f64, f64) {
        let n = f64::from(self.side());
        let (north, west) = unproject(World {
            x: f64::from(self.x) / n,
            y: f64::from(self.y) / n,
        });
        let (south, east) = unproject(World {
            x: f64::from(self.x + 1) / n,
            y: f64::from(self.y + 1) / n,
        });
        (west, south, east, north)
    }
}

impl std::fmt::Display for TileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.z, self.x, self.y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_matches_the_published_tile_formula() {
        // Helsinki's railway station at z14, as any slippy-map calculator gives it.
        assert_eq!(
            TileId::containing(60.1719, 24.9414, 14),
            TileId {
                z: 14,
                x: 9327,
                y: 4742
            }
        );
        let (lat, lon) = unproject(project(60.1719, 24.9414));
        assert!((lat - 60.1719).abs() < 1e-9 && (lon - 24.9414).abs() < 1e-9);
    }

    #[test]
    fn high_latitudes_clamp_onto_the_edge_of_the_square() {
        assert!(project(90.0, 0.0).y.abs() < 1e-12);
        assert!((project(-89.0, 0.0).y - 1.0).abs() < 1e-12);
        assert_eq!(TileId::containing(89.9, 10.0, 3).y, 0);
        assert_eq!(TileId::containing(-89.9, 10.0, 3).y, 7);
        assert!((TileId { z: 0, x: 0, y: 0 }.bounds().3 - MAX_LATITUDE).abs() < 1e-9);
    }

    #[test]
    fn neighbours_wrap_across_the_antimeridian_and_stop_at_the_poles() {
        let east_edge = TileId::containing(0.5, 179.99, 4);
        assert_eq!(east_edge.x, 15);
        let around = east_edge.with_neighbours();
        assert_eq!(around.len(), 9);
        assert!(around.iter().any(|t| t.x == 0), "{around:?}");
        let top = TileId { z: 4, x: 3, y: 0 }.with_neighbours();
        assert_eq!(top.len(), 6);
        assert_eq!(TileId { z: 0, x: 0, y: 0 }.with_neighbours().len(), 1);
        assert_eq!(
            TileId::containing(10.0, 180.0, 2),
            TileId::containing(10.0, -180.0, 2)
        );
    }

    #[test]
    fn a_way_across_the_antimeridian_stays_short() {
        let mut line = vec![project(-17.0, 179.9), project(-17.0, -179.9)];
        unwrap_longitudes(&mut line);
        assert!((line[1].x - line[0].x - 0.2 / 360.0).abs() < 1e-12);
        assert!(line[0].x < 1.0 && line[1].x > 1.0);
    }
}
