//! The routing-tile format: a fixed 32-byte header followed by an rkyv archive of
//! [`TileData`], deflate-compressed. Loading inflates once into an aligned buffer, validates
//! it, and then reads nodes and edges in place (no per-record decoding).
//!
//! Header, little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | magic `GSRT` |
//! | 4..6 | format version ([`FORMAT_VERSION`]) |
//! | 6 | level (0 highway, 1 arterial, 2 local) |
//! | 7 | compression (0 none, 1 deflate) |
//! | 8..12 | tile id |
//! | 12..16 | stored payload length |
//! | 16..20 | archive length after inflation |
//! | 20..24 | CRC-32 of the stored payload |
//! | 24..32 | reserved, zero |

use std::io::Write;

use rkyv::util::AlignedVec;
use yoke::Yoke;

use crate::ids::{GraphId, Level};

pub const MAGIC: [u8; 4] = *b"GSRT";
/// Bumped on any change to [`TileData`] or the header; readers refuse other versions.
pub const FORMAT_VERSION: u16 = 1;
pub const HEADER_LEN: usize = 32;
const DEFLATE: u8 = 1;

/// One tile's content.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, Clone, PartialEq, Default)]
pub struct TileData {
    pub level: u8,
    pub tile_id: u32,
    pub nodes: Vec<TileNode>,
    /// The same intersection on other levels, as packed [`GraphId`]s.
    pub transitions: Vec<u64>,
    /// Grouped by source node, in each node's order.
    pub edges: Vec<TileEdge>,
    pub forbidden: Vec<TileForbidden>,
    /// Edge shapes: zigzag varints, the first point relative to the tile's south-west
    /// corner, then deltas (1e-7 degrees). Both directions of a chain share one shape when
    /// they are in the same tile.
    pub shapes: Vec<u8>,
    /// Names and refs, deduplicated within the tile.
    pub strings: Vec<String>,
}

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, Clone, PartialEq, Default)]
pub struct TileNode {
    pub osm_id: i64,
    pub lat_e7: i32,
    pub lon_e7: i32,
    pub first_edge: u32,
    pub edge_count: u32,
    pub first_transition: u32,
    pub transition_count: u32,
    /// Modes for which the node is in a small component.
    pub small: u8,
}

/// No string: name and ref use this when absent.
pub const NO_STRING: u32 = u32::MAX;
/// `TileEdge::dir` bit: the edge runs in its way's node order.
pub const DIR_FORWARD: u8 = 1;
/// `TileEdge::dir` bit: the shape is stored once for both directions of the chain, in its
/// twin's order; read it backwards.
pub const DIR_SHAPE_REVERSED: u8 = 2;

#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, Clone, PartialEq, Default)]
pub struct TileEdge {
    /// Packed [`GraphId`] of the target node (same level, possibly another tile).
    pub target: u64,
    pub way_id: i64,
    pub seg: u32,
    pub length_m: f32,
    pub access: u8,
    pub class: u8,
    pub speed_kmh: u8,
    pub flags: u8,
    pub dir: u8,
    pub name: u32,
    pub reference: u32,
    pub shape_offset: u32,
    pub shape_points: u32,
}

/// Arriving by edge `from` (packed [`GraphId`] of an edge), this tile's edge `edge` may not
/// be taken by `modes`. Sorted by `edge`.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, Clone, PartialEq, Default)]
pub struct TileForbidden {
    pub edge: u32,
    pub from: u64,
    pub modes: u8,
}

/// Why a tile could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TileError {
    #[error("tile is {0} bytes, shorter than its header")]
    Short(usize),
    #[error("not a routing tile (bad magic)")]
    Magic,
    #[error("tile format version {found}, this build reads {FORMAT_VERSION}")]
    Version { found: u16 },
    #[error("tile payload length {declared} does not match the {actual} bytes present")]
    Length { declared: usize, actual: usize },
    #[error("tile checksum mismatch: the tile is corrupt")]
    Checksum,
    #[error("tile payload does not inflate: {0}")]
    Inflate(std::io::Error),
    #[error("tile archive is invalid: {0}")]
    Archive(String),
    #[error("tile header says level {header_level} tile {header_id}, its content says otherwise")]
    Mismatch { header_level: u8, header_id: u32 },
}

impl TileData {
    /// Serialises with the header.
    pub fn encode(&self) -> Vec<u8> {
        let archive =
            rkyv::to_bytes::<rkyv::rancor::Error>(self).expect("tile data always serialises");
        let mut deflate =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        deflate.write_all(&archive).expect("writing to a Vec");
        let payload = deflate.finish().expect("writing to a Vec");
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.push(self.level);
        out.push(DEFLATE);
        out.extend_from_slice(&self.tile_id.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&(archive.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&payload);
        out
    }
}

/// A loaded tile: the validated archive, read in place.
pub struct Tile {
    archive: Yoke<&'static ArchivedTileData, Box<AlignedVec>>,
    stored_bytes: usize,
}

impl std::fmt::Debug for Tile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tile")
            .field("level", &self.data().level)
            .field("tile_id", &self.data().tile_id.to_native())
            .field("bytes", &self.stored_bytes)
            .finish()
    }
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

impl Tile {
    /// Checks the header and checksum, inflates and validates the archive.
    pub fn decode(bytes: &[u8]) -> Result<Tile, TileError> {
        if bytes.len() < HEADER_LEN {
            return Err(TileError::Short(bytes.len()));
        }
        if bytes[0..4] != MAGIC {
            return Err(TileError::Magic);
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version != FORMAT_VERSION {
            return Err(TileError::Version { found: version });
        }
        let (level, compression, tile_id) = (bytes[6], bytes[7], le_u32(bytes, 8));
        let stored = le_u32(bytes, 12) as usize;
        let raw = le_u32(bytes, 16) as usize;
        let payload = &bytes[HEADER_LEN..];
        if payload.len() != stored {
            return Err(TileError::Length {
                declared: stored,
                actual: payload.len(),
            });
        }
        if crc32fast::hash(payload) != le_u32(bytes, 20) {
            return Err(TileError::Checksum);
        }
        let mut archive = AlignedVec::<16>::with_capacity(raw);
        if compression == DEFLATE {
            let mut inflate = flate2::write::DeflateDecoder::new(&mut archive);
            inflate.write_all(payload).map_err(TileError::Inflate)?;
            inflate.finish().map_err(TileError::Inflate)?;
        } else {
            archive.extend_from_slice(payload);
        }
        let archive = Yoke::try_attach_to_cart(Box::new(archive), |buf: &AlignedVec| {
            rkyv::access::<ArchivedTileData, rkyv::rancor::Error>(buf)
        })
        .map_err(|e| TileError::Archive(e.to_string()))?;
        let tile = Tile {
            archive,
            stored_bytes: bytes.len(),
        };
        if tile.data().level != level || tile.data().tile_id.to_native() != tile_id {
            return Err(TileError::Mismatch {
                header_level: level,
                header_id: tile_id,
            });
        }
        Ok(tile)
    }

    pub fn data(&self) -> &ArchivedTileData {
        self.archive.get()
    }

    pub fn level(&self) -> Level {
        Level::from_u8(self.data().level).expect("validated on load")
    }

    pub fn id(&self) -> u32 {
        self.data().tile_id.to_native()
    }

    /// Bytes as stored (header included), for cache accounting.
    pub fn stored_bytes(&self) -> usize {
        self.stored_bytes
    }

    /// Bytes held in memory.
    pub fn memory_bytes(&self) -> usize {
        self.archive.backing_cart().len()
    }

    pub fn node(&self, index: u32) -> &ArchivedTileNode {
        &self.data().nodes[index as usize]
    }

    /// Edge indices leaving node `index`.
    pub fn out_edges(&self, index: u32) -> std::ops::Range<u32> {
        let n = self.node(index);
        let first = n.first_edge.to_native();
        first..first + n.edge_count.to_native()
    }

    pub fn edge(&self, index: u32) -> &ArchivedTileEdge {
        &self.data().edges[index as usize]
    }

    /// The node's copies on other levels.
    pub fn transitions(&self, index: u32) -> impl Iterator<Item = GraphId> + '_ {
        let n = self.node(index);
        let first = n.first_transition.to_native() as usize;
        self.data().transitions[first..first + n.transition_count.to_native() as usize]
            .iter()
            .map(|t| GraphId::from_packed(t.to_native()))
    }

    /// Forbidden-turn entries of edge `index`.
    pub fn forbidden(&self, index: u32) -> &[ArchivedTileForbidden] {
        let all = &self.data().forbidden;
        let start = all.partition_point(|f| f.edge.to_native() < index);
        let end = start + all[start..].partition_point(|f| f.edge.to_native() == index);
        &all[start..end]
    }

    pub fn string(&self, index: u32) -> Option<&str> {
        (index != NO_STRING).then(|| self.data().strings.get(index as usize).map(|s| s.as_str()))?
    }

    /// The edge's shape points (1e-7 degrees), source to target.
    pub fn shape(&self, index: u32) -> Vec<(i32, i32)> {
        let e = self.edge(index);
        let mut points = decode_shape(
            &self.data().shapes[e.shape_offset.to_native() as usize..],
            e.shape_points.to_native() as usize,
            tile_origin_e7(self.level(), self.id()),
        );
        if e.dir & DIR_SHAPE_REVERSED != 0 {
            points.reverse();
        }
        points
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &[u8], at: &mut usize) -> u64 {
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

/// The south-west corner of a tile in 1e-7 degrees: shapes are stored relative to it.
pub fn tile_origin_e7(level: Level, id: u32) -> (i32, i32) {
    let ((south, west), _) = level.tile_bounds(id);
    ((south * 1e7).round() as i32, (west * 1e7).round() as i32)
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

pub fn decode_shape(bytes: &[u8], points: usize, origin: (i32, i32)) -> Vec<(i32, i32)> {
    let mut at = 0;
    let (mut lat, mut lon) = (i64::from(origin.0), i64::from(origin.1));
    (0..points)
        .map(|_| {
            lat += unzigzag(get_varint(bytes, &mut at));
            lon += unzigzag(get_varint(bytes, &mut at));
            (lat as i32, lon as i32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TileData {
        let mut shapes = Vec::new();
        encode_shape(
            &mut shapes,
            &[(601_700_000, 249_400_000), (601_700_100, 249_399_900)],
            tile_origin_e7(Level::Local, 77),
        );
        TileData {
            level: 2,
            tile_id: 77,
            nodes: vec![TileNode {
                osm_id: 5,
                lat_e7: 601_700_000,
                lon_e7: 249_400_000,
                edge_count: 1,
                ..Default::default()
            }],
            edges: vec![TileEdge {
                target: GraphId::new(Level::Local, 78, 0).packed(),
                shape_points: 2,
                name: 0,
                reference: NO_STRING,
                ..Default::default()
            }],
            shapes,
            strings: vec!["Mannerheimintie".into()],
            ..Default::default()
        }
    }

    #[test]
    fn round_trips_and_reads_in_place() {
        let bytes = sample().encode();
        let tile = Tile::decode(&bytes).unwrap();
        assert_eq!(tile.id(), 77);
        assert_eq!(tile.level(), Level::Local);
        assert_eq!(
            tile.string(tile.edge(0).name.to_native()),
            Some("Mannerheimintie")
        );
        assert_eq!(
            tile.shape(0),
            vec![(601_700_000, 249_400_000), (601_700_100, 249_399_900)]
        );
        let back: TileData =
            rkyv::deserialize::<TileData, rkyv::rancor::Error>(tile.data()).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn rejects_damage_with_clear_errors() {
        let bytes = sample().encode();
        assert!(matches!(
            Tile::decode(&bytes[..10]),
            Err(TileError::Short(10))
        ));
        assert!(matches!(
            Tile::decode(&bytes[..bytes.len() - 1]),
            Err(TileError::Length { .. })
        ));
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 0x55;
        assert!(matches!(Tile::decode(&flipped), Err(TileError::Checksum)));
        let mut version = bytes.clone();
        version[4] = 99;
        assert!(matches!(
            Tile::decode(&version),
            Err(TileError::Version { found: 99 })
        ));
        let mut magic = bytes;
        magic[0] = b'X';
        assert!(matches!(Tile::decode(&magic), Err(TileError::Magic)));
    }
}
