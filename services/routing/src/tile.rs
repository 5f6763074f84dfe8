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

use crate::ids::{GraphId, Level, MAX_INDEX};
use crate::mode::{Mode, ModeMask};
use crate::tags::RoadClass;

pub const MAGIC: [u8; 4] = *b"GSRT";
/// Bumped on any change to [`TileData`] or the header; readers refuse other versions.
pub const FORMAT_VERSION: u16 = 1;
pub const HEADER_LEN: usize = 32;
const DEFLATE: u8 = 1;

/// One tile's content, stored column by column (each field of a record in its own array):
/// columns of similar numbers compress far better than interleaved records, and a router
/// reads only the columns it needs.
///
/// Nodes and directed edges are CSR: node `i`'s edges are
/// `node_first_edge[i]..node_first_edge[i + 1]`, its transitions likewise. Both directions
/// of a chain of way segments share one *chain* record (way, length, class, speed, names,
/// shape) when both lie in this tile.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, Clone, PartialEq, Default)]
pub struct TileData {
    pub level: u8,
    pub tile_id: u32,

    pub node_osm_ids: Vec<i64>,
    /// Latitude and longitude in 1e-7 degrees, relative to the tile's south-west corner
    /// ([`tile_origin_e7`]).
    pub node_lats: Vec<i32>,
    pub node_lons: Vec<i32>,
    /// Modes for which the node is in a small component.
    pub node_small: Vec<u8>,
    /// `nodes + 1` offsets into the edge columns.
    pub node_first_edge: Vec<u32>,
    /// `nodes + 1` offsets into `transitions`.
    pub node_first_transition: Vec<u32>,
    /// The same intersection on other levels, as packed [`GraphId`]s.
    pub transitions: Vec<u64>,

    /// Each edge's target node: its tile (on this tile's level, possibly another tile) and
    /// its index there.
    pub edge_target_tiles: Vec<u32>,
    pub edge_target_nodes: Vec<u32>,
    pub edge_chains: Vec<u32>,
    /// Allowed modes (low three bits) and [`EDGE_FORWARD`] / [`EDGE_AGAINST_CHAIN`].
    pub edge_bits: Vec<u8>,

    pub chain_way_ids: Vec<i64>,
    /// Where the chain starts in its way's node list.
    pub chain_segs: Vec<u32>,
    /// Decimetres ([`crate::graph::length_from_dm`]).
    pub chain_lengths_dm: Vec<u32>,
    pub chain_classes: Vec<u8>,
    pub chain_speeds: Vec<u8>,
    pub chain_flags: Vec<u8>,
    pub chain_names: Vec<u32>,
    pub chain_refs: Vec<u32>,
    pub chain_shape_offsets: Vec<u32>,
    /// Points stored for the chain; [`SHAPE_END_STORED`] set when its end node lies in
    /// another tile and its coordinates are the last stored point.
    pub chain_shape_points: Vec<u32>,

    pub forbidden: Vec<TileForbidden>,
    /// Interior shape points as zigzag varint deltas, starting from the chain's start node.
    pub shapes: Vec<u8>,
    /// Names and refs, deduplicated within the tile.
    pub strings: Vec<String>,
}

/// No string: name and ref use this when absent.
pub const NO_STRING: u32 = u32::MAX;
/// `edge_bits`: the edge runs in its way's node order.
pub const EDGE_FORWARD: u8 = 0x40;
/// `edge_bits`: the edge runs from its chain's end to its start.
pub const EDGE_AGAINST_CHAIN: u8 = 0x80;
const ACCESS_BITS: u8 = 0x07;
/// `chain_shape_points` flag (see there).
pub const SHAPE_END_STORED: u32 = 1 << 31;

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
    #[error("tile content is inconsistent: {0}")]
    Inconsistent(String),
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
    /// The south-west corner node coordinates are relative to.
    origin: (i32, i32),
    /// Per edge, the bounding box of its shape (south, west, north, east, 1e-7 degrees):
    /// built on first use, so snapping measures only edges that could be nearest.
    edge_boxes: std::sync::OnceLock<Vec<[i32; 4]>>,
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
            origin: Level::from_u8(level)
                .map(|l| tile_origin_e7(l, tile_id))
                .unwrap_or_default(),
            edge_boxes: std::sync::OnceLock::new(),
        };
        if tile.data().level != level
            || tile.data().tile_id.to_native() != tile_id
            || Level::from_u8(level).is_none()
        {
            return Err(TileError::Mismatch {
                header_level: level,
                header_id: tile_id,
            });
        }
        tile.check()?;
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

    /// Bytes held in memory (counting the edge boxes, which may be built later).
    pub fn memory_bytes(&self) -> usize {
        self.archive.backing_cart().len() + self.edge_count() as usize * 16
    }

    /// The bounding box of each edge's shape (south, west, north, east, 1e-7 degrees).
    pub fn edge_boxes(&self) -> &[[i32; 4]] {
        self.edge_boxes.get_or_init(|| {
            (0..self.edge_count())
                .map(|e| {
                    self.edge(e).shape().iter().fold(
                        [i32::MAX, i32::MAX, i32::MIN, i32::MIN],
                        |b, &(lat, lon)| {
                            [b[0].min(lat), b[1].min(lon), b[2].max(lat), b[3].max(lon)]
                        },
                    )
                })
                .collect()
        })
    }

    pub fn node_count(&self) -> u32 {
        self.data().node_osm_ids.len() as u32
    }

    pub fn edge_count(&self) -> u32 {
        self.data().edge_target_nodes.len() as u32
    }

    pub fn node_osm_id(&self, node: u32) -> i64 {
        self.data().node_osm_ids[node as usize].to_native()
    }

    /// (lat, lon) in 1e-7 degrees.
    pub fn node_e7(&self, node: u32) -> (i32, i32) {
        let d = self.data();
        (
            d.node_lats[node as usize].to_native() + self.origin.0,
            d.node_lons[node as usize].to_native() + self.origin.1,
        )
    }

    /// Modes for which the node lies in a small component.
    pub fn node_small(&self, node: u32) -> ModeMask {
        ModeMask(self.data().node_small[node as usize])
    }

    /// Edge indices leaving `node`.
    pub fn out_edges(&self, node: u32) -> std::ops::Range<u32> {
        let first = &self.data().node_first_edge;
        first[node as usize].to_native()..first[node as usize + 1].to_native()
    }

    /// The node's copies on other levels.
    pub fn transitions(&self, node: u32) -> impl Iterator<Item = GraphId> + '_ {
        let d = self.data();
        let (a, b) = (
            d.node_first_transition[node as usize].to_native() as usize,
            d.node_first_transition[node as usize + 1].to_native() as usize,
        );
        d.transitions[a..b]
            .iter()
            .map(|t| GraphId::from_packed(t.to_native()))
    }

    pub fn edge(&self, index: u32) -> EdgeRef<'_> {
        EdgeRef {
            tile: self,
            index,
            chain: self.data().edge_chains[index as usize].to_native() as usize,
        }
    }

    /// The node an edge leaves from.
    pub fn edge_source(&self, edge: u32) -> u32 {
        let first = &self.data().node_first_edge;
        (first.partition_point(|f| f.to_native() <= edge) - 1) as u32
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

    /// Checks what validation of the archive alone cannot: that the columns agree in length
    /// and every index points inside the tile, so reading can never go out of bounds.
    fn check(&self) -> Result<(), TileError> {
        let d = self.data();
        let bad = |what: &str| Err(TileError::Inconsistent(what.to_string()));
        let nodes = d.node_osm_ids.len();
        if [d.node_lats.len(), d.node_lons.len(), d.node_small.len()]
            .iter()
            .any(|&l| l != nodes)
            || d.node_first_edge.len() != nodes + 1
            || d.node_first_transition.len() != nodes + 1
        {
            return bad("node columns differ in length");
        }
        let edges = d.edge_target_nodes.len();
        if d.edge_target_tiles.len() != edges
            || d.edge_chains.len() != edges
            || d.edge_bits.len() != edges
        {
            return bad("edge columns differ in length");
        }
        let monotone = |col: &[rkyv::rend::u32_le], end: usize| {
            col.first().map(|f| f.to_native()) == Some(0)
                && col.windows(2).all(|w| w[0].to_native() <= w[1].to_native())
                && col.last().map(|l| l.to_native() as usize) == Some(end)
        };
        if !monotone(&d.node_first_edge, edges)
            || !monotone(&d.node_first_transition, d.transitions.len())
        {
            return bad("node offsets are not a CSR index");
        }
        let chains = d.chain_way_ids.len();
        if [
            d.chain_segs.len(),
            d.chain_lengths_dm.len(),
            d.chain_classes.len(),
            d.chain_speeds.len(),
            d.chain_flags.len(),
            d.chain_names.len(),
            d.chain_refs.len(),
            d.chain_shape_offsets.len(),
            d.chain_shape_points.len(),
        ]
        .iter()
        .any(|&l| l != chains)
        {
            return bad("chain columns differ in length");
        }
        if d.edge_chains
            .iter()
            .any(|c| c.to_native() as usize >= chains)
        {
            return bad("edge refers to a missing chain");
        }
        let string_ok = |i: u32| i == NO_STRING || (i as usize) < d.strings.len();
        if !d
            .chain_names
            .iter()
            .chain(d.chain_refs.iter())
            .all(|i| string_ok(i.to_native()))
        {
            return bad("chain refers to a missing string");
        }
        if d.chain_shape_offsets
            .iter()
            .any(|o| o.to_native() as usize > d.shapes.len())
        {
            return bad("shape offset past the end");
        }
        if d.forbidden
            .iter()
            .any(|f| f.edge.to_native() as usize >= edges)
            || !d
                .forbidden
                .windows(2)
                .all(|w| w[0].edge.to_native() <= w[1].edge.to_native())
        {
            return bad("forbidden turns are not sorted edge entries");
        }
        // An edge against its chain starts at the chain's end, which is then in this tile.
        for e in 0..edges as u32 {
            let edge = self.edge(e);
            if edge.against_chain() && edge.target_in_tile().is_none() {
                return bad("edge runs against a chain whose start is elsewhere");
            }
        }
        Ok(())
    }
}

/// One directed edge of a loaded tile.
#[derive(Clone, Copy)]
pub struct EdgeRef<'a> {
    tile: &'a Tile,
    index: u32,
    chain: usize,
}

impl<'a> EdgeRef<'a> {
    fn d(&self) -> &'a ArchivedTileData {
        self.tile.data()
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    pub fn target(&self) -> GraphId {
        let d = self.d();
        GraphId::new(
            self.tile.level(),
            d.edge_target_tiles[self.index as usize].to_native(),
            d.edge_target_nodes[self.index as usize].to_native() & MAX_INDEX,
        )
    }

    /// The target's index when it lies in this tile.
    pub fn target_in_tile(&self) -> Option<u32> {
        let t = self.target();
        (t.level() == self.tile.level()
            && t.tile() == self.tile.id()
            && t.index() < self.tile.node_count())
        .then_some(t.index())
    }

    fn bits(&self) -> u8 {
        self.d().edge_bits[self.index as usize]
    }

    pub fn access(&self) -> ModeMask {
        ModeMask(self.bits() & ACCESS_BITS)
    }

    /// Whether the edge runs in its way's node order.
    pub fn forward(&self) -> bool {
        self.bits() & EDGE_FORWARD != 0
    }

    fn against_chain(&self) -> bool {
        self.bits() & EDGE_AGAINST_CHAIN != 0
    }

    pub fn way_id(&self) -> i64 {
        self.d().chain_way_ids[self.chain].to_native()
    }

    pub fn seg(&self) -> u32 {
        self.d().chain_segs[self.chain].to_native()
    }

    pub fn length_m(&self) -> f32 {
        crate::graph::length_from_dm(self.d().chain_lengths_dm[self.chain].to_native())
    }

    pub fn class(&self) -> RoadClass {
        RoadClass::from_u8(self.d().chain_classes[self.chain])
    }

    pub fn speed_kmh(&self) -> u8 {
        self.d().chain_speeds[self.chain]
    }

    /// [`crate::tags::flags`] bits.
    pub fn flags(&self) -> u8 {
        self.d().chain_flags[self.chain]
    }

    pub fn name(&self) -> Option<&'a str> {
        self.tile
            .string(self.d().chain_names[self.chain].to_native())
    }

    pub fn reference(&self) -> Option<&'a str> {
        self.tile
            .string(self.d().chain_refs[self.chain].to_native())
    }

    /// Travel cost in seconds for `mode`, or `None` when the mode may not use this edge.
    pub fn cost(&self, mode: Mode) -> Option<f64> {
        self.access().contains(mode).then(|| {
            crate::cost::travel_seconds(
                f64::from(self.length_m()),
                self.class(),
                self.speed_kmh(),
                self.flags(),
                mode,
            )
        })
    }

    /// The edge's shape (1e-7 degrees), source to target, both ends included.
    pub fn shape(&self) -> Vec<(i32, i32)> {
        let d = self.d();
        let stored = d.chain_shape_points[self.chain].to_native();
        let count = (stored & !SHAPE_END_STORED) as usize;
        let offset = d.chain_shape_offsets[self.chain].to_native() as usize;
        let source = self.tile.node_e7(self.tile.edge_source(self.index));
        let target_in_tile = self.target_in_tile().map(|t| self.tile.node_e7(t));
        let chain_start = if self.against_chain() {
            target_in_tile.unwrap_or(source)
        } else {
            source
        };
        let mut points = Vec::with_capacity(count + 2);
        points.push(chain_start);
        points.extend(decode_shape(&d.shapes[offset..], count, chain_start));
        if stored & SHAPE_END_STORED == 0 {
            let chain_end = if self.against_chain() {
                source
            } else {
                target_in_tile.unwrap_or(source)
            };
            points.push(chain_end);
        }
        if self.against_chain() {
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
        let start = (601_700_000, 249_400_000);
        encode_shape(&mut shapes, &[(601_700_050, 249_399_950)], start);
        TileData {
            level: 2,
            tile_id: 77,
            node_osm_ids: vec![5],
            node_lats: vec![start.0 - tile_origin_e7(Level::Local, 77).0],
            node_lons: vec![start.1 - tile_origin_e7(Level::Local, 77).1],
            node_small: vec![0],
            node_first_edge: vec![0, 1],
            node_first_transition: vec![0, 0],
            edge_target_tiles: vec![78],
            edge_target_nodes: vec![0],
            edge_chains: vec![0],
            edge_bits: vec![EDGE_FORWARD | 1],
            chain_way_ids: vec![9],
            chain_segs: vec![0],
            chain_lengths_dm: vec![125],
            chain_classes: vec![RoadClass::Residential as u8],
            chain_speeds: vec![30],
            chain_flags: vec![0],
            chain_names: vec![0],
            chain_refs: vec![NO_STRING],
            chain_shape_offsets: vec![0],
            chain_shape_points: vec![1 | SHAPE_END_STORED],
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
        let edge = tile.edge(0);
        assert_eq!(edge.name(), Some("Mannerheimintie"));
        assert_eq!(edge.reference(), None);
        assert_eq!(edge.access(), ModeMask(1));
        assert!(edge.forward());
        assert_eq!(
            edge.shape(),
            vec![(601_700_000, 249_400_000), (601_700_050, 249_399_950)]
        );
        let back: TileData =
            rkyv::deserialize::<TileData, rkyv::rancor::Error>(tile.data()).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn rejects_inconsistent_content() {
        let mut data = sample();
        data.edge_chains = vec![3];
        assert!(matches!(
            Tile::decode(&data.encode()),
            Err(TileError::Inconsistent(_))
        ));
        let mut data = sample();
        data.node_first_edge = vec![0, 2];
        assert!(matches!(
            Tile::decode(&data.encode()),
            Err(TileError::Inconsistent(_))
        ));
        let mut data = sample();
        data.chain_names = vec![7];
        assert!(matches!(
            Tile::decode(&data.encode()),
            Err(TileError::Inconsistent(_))
        ));
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
