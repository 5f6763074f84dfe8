//! Geohash cells: encode, decode, neighbours, base32 text.
//!
//! A cell of length `len` has `5 * len` bits, longitude and latitude bits interleaved starting
//! with longitude, exactly as geohash.org. Cells are kept as integer row/column indices, which
//! makes neighbours and coverings plain integer arithmetic: columns wrap at the antimeridian,
//! rows stop at the poles.

use std::fmt;

use crate::LatLon;

const BASE32: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

/// The longest geohash this crate handles (60 bits).
pub const MAX_LEN: u8 = 12;

/// A lat/lon-aligned box in degrees; `lon_min <= lon_max` (boxes never straddle the
/// antimeridian).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BBox {
    pub lat_min: f64,
    pub lat_max: f64,
    pub lon_min: f64,
    pub lon_max: f64,
}

/// One geohash cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell {
    len: u8,
    /// Row, counted from the south pole, `0..rows(len)`.
    row: u32,
    /// Column, counted eastwards from the antimeridian, `0..cols(len)`.
    col: u32,
}

/// Why a geohash string was rejected.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum GeohashError {
    #[error("geohash length must be 1 to 12")]
    BadLength,
    #[error("geohash contains {0:?}, which is not in the geohash alphabet")]
    BadChar(char),
}

fn lon_bits(len: u8) -> u32 {
    (5 * len as u32).div_ceil(2)
}

fn lat_bits(len: u8) -> u32 {
    5 * len as u32 / 2
}

impl Cell {
    /// The cell of length `len` (1..=12) that holds `p`.
    pub fn containing(p: LatLon, len: u8) -> Cell {
        let len = len.clamp(1, MAX_LEN);
        let rows = 1u64 << lat_bits(len);
        let cols = 1u64 << lon_bits(len);
        let row = (((p.lat + 90.0) / 180.0) * rows as f64).floor() as u64;
        let col = (((p.lon + 180.0) / 360.0) * cols as f64).floor() as u64;
        Cell {
            len,
            row: row.min(rows - 1) as u32,
            col: col.min(cols - 1) as u32,
        }
    }

    /// Geohash length in characters.
    pub fn precision(&self) -> u8 {
        self.len
    }

    pub fn rows(len: u8) -> u32 {
        1 << lat_bits(len)
    }

    pub fn cols(len: u8) -> u32 {
        1 << lon_bits(len)
    }

    /// Cell size in degrees: (latitude span, longitude span).
    pub fn size_deg(len: u8) -> (f64, f64) {
        (
            180.0 / Self::rows(len) as f64,
            360.0 / Self::cols(len) as f64,
        )
    }

    /// Builds a cell from its row and column; the column wraps, the row must exist.
    pub fn from_row_col(len: u8, row: i64, col: i64) -> Option<Cell> {
        let rows = Self::rows(len) as i64;
        let cols = Self::cols(len) as i64;
        if !(0..rows).contains(&row) {
            return None;
        }
        Some(Cell {
            len,
            row: row as u32,
            col: col.rem_euclid(cols) as u32,
        })
    }

    pub fn row(&self) -> u32 {
        self.row
    }

    pub fn col(&self) -> u32 {
        self.col
    }

    pub fn bbox(&self) -> BBox {
        let (h, w) = Self::size_deg(self.len);
        BBox {
            lat_min: -90.0 + self.row as f64 * h,
            lat_max: -90.0 + (self.row + 1) as f64 * h,
            lon_min: -180.0 + self.col as f64 * w,
            lon_max: -180.0 + (self.col + 1) as f64 * w,
        }
    }

    /// The cell's centre.
    pub fn center(&self) -> LatLon {
        let b = self.bbox();
        LatLon {
            lat: (b.lat_min + b.lat_max) / 2.0,
            lon: (b.lon_min + b.lon_max) / 2.0,
        }
    }

    /// The interleaved bits, longitude first, right-aligned.
    pub fn bits(&self) -> u64 {
        let mut bits = 0u64;
        let (mut lon_i, mut lat_i) = (lon_bits(self.len), lat_bits(self.len));
        for k in 0..(5 * self.len as u32) {
            bits <<= 1;
            if k.is_multiple_of(2) {
                lon_i -= 1;
                bits |= ((self.col >> lon_i) & 1) as u64;
            } else {
                lat_i -= 1;
                bits |= ((self.row >> lat_i) & 1) as u64;
            }
        }
        bits
    }

    /// Parses base32 text such as `u4pruydqqvj`.
    pub fn parse(text: &str) -> Result<Cell, GeohashError> {
        let len = text.len();
        if len == 0 || len > MAX_LEN as usize {
            return Err(GeohashError::BadLength);
        }
        let (mut row, mut col) = (0u32, 0u32);
        let mut k = 0u32;
        for ch in text.chars() {
            let lower = ch.to_ascii_lowercase() as u8;
            let value = BASE32
                .iter()
                .position(|&c| c == lower)
                .ok_or(GeohashError::BadChar(ch))?;
            for shift in (0..5).rev() {
                let bit = ((value >> shift) & 1) as u32;
                if k.is_multiple_of(2) {
                    col = (col << 1) | bit;
                } else {
                    row = (row << 1) | bit;
                }
                k += 1;
            }
        }
        Ok(Cell {
            len: len as u8,
            row,
            col,
        })
    }

    /// The up-to-8 cells around this one: columns wrap at the antimeridian; at the polar row
    /// there is nothing further north (or south), so fewer cells come back.
    pub fn neighbours(&self) -> Vec<Cell> {
        let mut out = Vec::with_capacity(8);
        for dr in -1i64..=1 {
            for dc in -1i64..=1 {
                if dr == 0 && dc == 0 {
                    continue;
                }
                if let Some(c) =
                    Cell::from_row_col(self.len, self.row as i64 + dr, self.col as i64 + dc)
                    && c != *self
                    && !out.contains(&c)
                {
                    out.push(c);
                }
            }
        }
        out
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = self.bits();
        let mut text = [0u8; MAX_LEN as usize];
        for (i, slot) in text.iter_mut().take(self.len as usize).enumerate() {
            let shift = 5 * (self.len as usize - 1 - i);
            *slot = BASE32[((bits >> shift) & 31) as usize];
        }
        // The alphabet is ASCII, so this cannot fail.
        f.write_str(std::str::from_utf8(&text[..self.len as usize]).unwrap_or_default())
    }
}

/// Geohash text of length `len` for a point.
pub fn encode(p: LatLon, len: u8) -> String {
    Cell::containing(p, len).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ll(lat: f64, lon: f64) -> LatLon {
        LatLon::new(lat, lon).unwrap()
    }

    #[test]
    fn known_hashes() {
        // Published examples (geohash.org, Wikipedia, the design's La Roche-Chalais / Pomerol).
        let cases = [
            (57.64911, 10.40744, 11, "u4pruydqqvj"),
            (42.6, -5.6, 5, "ezs42"),
            (37.7749, -122.4194, 6, "9q8yyk"),
            (45.15, 0.01, 4, "u000"),
            (44.99, -0.01, 4, "ezzz"),
            (-90.0, -180.0, 3, "000"),
            (90.0, 180.0, 3, "zzz"),
        ];
        for (lat, lon, len, hash) in cases {
            assert_eq!(encode(ll(lat, lon), len), hash, "{lat},{lon}");
            let cell = Cell::parse(hash).unwrap();
            let b = cell.bbox();
            assert!(b.lat_min <= lat && lat <= b.lat_max);
            assert!(b.lon_min <= lon && lon <= b.lon_max);
        }
    }

    #[test]
    fn parse_round_trips_and_rejects() {
        for hash in ["u", "ezs42", "9q8yyk", "u4pruydqqvj", "zzzzzzzzzzzz"] {
            assert_eq!(Cell::parse(hash).unwrap().to_string(), hash);
        }
        assert_eq!(Cell::parse(""), Err(GeohashError::BadLength));
        assert_eq!(Cell::parse("abc"), Err(GeohashError::BadChar('a')));
    }

    #[test]
    fn neighbours_wrap_and_clamp() {
        let cell = Cell::parse("9q8yyk").unwrap();
        let (h, w) = Cell::size_deg(6);
        let c = cell.center();
        let mut expected = vec![];
        for (dy, dx) in [
            (-1., -1.),
            (-1., 0.),
            (-1., 1.),
            (0., -1.),
            (0., 1.),
            (1., -1.),
            (1., 0.),
            (1., 1.),
        ] {
            expected.push(Cell::containing(ll(c.lat + dy * h, c.lon + dx * w), 6));
        }
        let mut got = cell.neighbours();
        got.sort();
        expected.sort();
        assert_eq!(got, expected);
        // Westernmost column: the western neighbours are at the far east.
        let west = Cell::containing(ll(0.1, -179.99), 4);
        assert!(
            west.neighbours()
                .iter()
                .any(|c| c.col() == Cell::cols(4) - 1)
        );
        // Polar row: only 5 neighbours.
        let pole = Cell::containing(ll(89.99, 10.0), 4);
        assert_eq!(pole.neighbours().len(), 5);
    }
}
