//! Edge shapes as stored: zigzag varint deltas from a start point, in 1e-7 degrees.

use super::{MAX_LAT_E7, MAX_LON_E7};
use crate::ids::Level;

pub(super) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub(super) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub(super) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(super) fn get_varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    while let Some(&b) = bytes.get(*at) {
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 || shift >= 63 {
            break;
        }
        shift += 7;
    }
    v
}

/// The south-west corner of a tile in 1e-7 degrees: node coordinates are stored relative
/// to it, so they need fewer significant bytes.
pub fn tile_origin_e7(level: Level, id: u32) -> (i32, i32) {
    let ((south, west), _) = level.tile_bounds(id);
    (
        (south * 1e7).round().clamp(-9e8, 9e8) as i32,
        (west * 1e7).round().clamp(-1.8e9, 1.8e9) as i32,
    )
}

/// Appends a shape (the caller records the offset before).
pub fn encode_shape(out: &mut Vec<u8>, points: &[(i32, i32)], origin: (i32, i32)) {
    let (mut lat, mut lon) = (i64::from(origin.0), i64::from(origin.1));
    for &(a, b) in points {
        put_varint(out, zigzag(i64::from(a) - lat));
        put_varint(out, zigzag(i64::from(b) - lon));
        (lat, lon) = (i64::from(a), i64::from(b));
    }
}

/// Reads `points` points of a shape written by [`encode_shape`]. Never more than the bytes
/// hold (a point takes at least two), and every point inside the world: a corrupt shape
/// gives wrong points, never a panic or a huge allocation.
pub fn decode_shape(bytes: &[u8], points: usize, origin: (i32, i32)) -> Vec<(i32, i32)> {
    let mut at = 0;
    let (mut lat, mut lon) = (i64::from(origin.0), i64::from(origin.1));
    let mut out = Vec::with_capacity(points.min(bytes.len() / 2));
    for _ in 0..points {
        if at >= bytes.len() {
            break;
        }
        lat = lat
            .saturating_add(unzigzag(get_varint(bytes, &mut at)))
            .clamp(-MAX_LAT_E7, MAX_LAT_E7);
        lon = lon
            .saturating_add(unzigzag(get_varint(bytes, &mut at)))
            .clamp(-MAX_LON_E7, MAX_LON_E7);
        out.push((lat as i32, lon as i32));
    }
    out
}
