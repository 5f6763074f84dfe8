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
//! | 20..24 | CRC-32 of bytes 0..20 and the stored payload (format 1: of the payload only) |
//! | 24..32 | reserved, zero |
//!
//! Nothing in a tile is trusted before it is checked against the bytes actually present:
//! the archive length is bounded by what the payload can inflate to and must match it
//! exactly, rkyv's validation bounds every column by the archive, and [`Tile::check`]
//! bounds every count and index by the columns, so a crafted tile with a valid CRC is an
//! error, never a huge allocation, a panic or an endless loop.

use std::io::Write;

use rkyv::util::AlignedVec;
use yoke::Yoke;

use crate::ids::{GraphId, Level, MAX_INDEX};
use crate::mode::{Mode, ModeMask};
use crate::tags::RoadClass;

mod edge_index;
mod file;
mod shape;

pub use edge_index::{EdgeBox, EdgeIndex};

use file::{checksum, inflate, le_u32};
pub use file::{reseal, wrap_archive};
use shape::get_varint;
#[cfg(test)]
use shape::put_varint;
pub use shape::{decode_shape, encode_shape, tile_origin_e7};

pub const MAGIC: [u8; 4] = *b"GSRT";
/// Bumped on any change to [`TileData`] or the header; readers refuse other versions.
/// Version 2 extends the CRC over the header's fields.
pub const FORMAT_VERSION: u16 = 2;
/// The previous version, still read: its bytes differ only in what the CRC covers, and the
/// header fields the CRC leaves out are checked against the content anyway.
pub const LEGACY_FORMAT_VERSION: u16 = 1;
pub const HEADER_LEN: usize = 32;
/// The header bytes the CRC covers (everything before the CRC itself).
const CHECKED_HEADER_LEN: usize = 20;
const STORED: u8 = 0;
const DEFLATE: u8 = 1;
/// Deflate's best case: a 258-byte match in two bits. An archive length beyond this many
/// times the payload cannot be real.
const MAX_INFLATE_RATIO: usize = 1032;
/// What the archive buffer starts with, as a multiple of the payload: the declared length
/// is reserved only as the inflated bytes actually arrive.
const INITIAL_INFLATE_RATIO: usize = 8;
/// The world in 1e-7 degrees: stored coordinates outside it are corruption.
const MAX_LAT_E7: i64 = 900_000_000;
const MAX_LON_E7: i64 = 1_800_000_000;

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
    #[error(
        "tile format version {found}, this build reads {LEGACY_FORMAT_VERSION} and {FORMAT_VERSION}"
    )]
    Version { found: u16 },
    #[error("tile payload length {declared} does not match the {actual} bytes present")]
    Length { declared: usize, actual: usize },
    #[error("tile compression {0} is unknown")]
    Compression(u8),
    #[error("tile archive length {declared} does not match the {actual} bytes the payload holds")]
    ArchiveLength { declared: usize, actual: usize },
    #[error("tile archive length {declared} is more than {stored} payload bytes can inflate to")]
    Inflation { declared: usize, stored: usize },
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
        let crc = checksum(FORMAT_VERSION, &out, &payload);
        out.extend_from_slice(&crc.to_le_bytes());
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
    /// Per edge, the bounding box of its shape, and a grid over them: built on first use,
    /// so snapping and matching measure only edges that could be near.
    edge_index: std::sync::OnceLock<EdgeIndex>,
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
        if version != FORMAT_VERSION && version != LEGACY_FORMAT_VERSION {
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
        if checksum(version, bytes, payload) != le_u32(bytes, 20) {
            return Err(TileError::Checksum);
        }
        let Some(grid) = Level::from_u8(level).filter(|l| tile_id < l.rows() * l.columns()) else {
            return Err(TileError::Mismatch {
                header_level: level,
                header_id: tile_id,
            });
        };
        let archive = match compression {
            STORED if raw == stored => {
                let mut archive = AlignedVec::<16>::with_capacity(raw);
                archive.extend_from_slice(payload);
                archive
            }
            STORED => {
                return Err(TileError::ArchiveLength {
                    declared: raw,
                    actual: stored,
                });
            }
            DEFLATE => inflate(payload, raw)?,
            other => return Err(TileError::Compression(other)),
        };
        let archive = Yoke::try_attach_to_cart(Box::new(archive), |buf: &AlignedVec| {
            rkyv::access::<ArchivedTileData, rkyv::rancor::Error>(buf)
        })
        .map_err(|e| TileError::Archive(e.to_string()))?;
        let tile = Tile {
            archive,
            stored_bytes: bytes.len(),
            origin: tile_origin_e7(grid, tile_id),
            edge_index: std::sync::OnceLock::new(),
        };
        if tile.data().level != level || tile.data().tile_id.to_native() != tile_id {
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

    /// Bytes held in memory, counting the edge index (built on first use, so estimated
    /// until then at a box and three cell entries per edge).
    pub fn memory_bytes(&self) -> usize {
        let index = self.edge_index.get().map_or(
            self.edge_count() as usize * (size_of::<EdgeBox>() + 12),
            EdgeIndex::memory_bytes,
        );
        self.archive.backing_cart().len() + index
    }

    /// The bounding box of each edge's shape (south, west, north, east, 1e-7 degrees).
    pub fn edge_boxes(&self) -> &[EdgeBox] {
        self.edge_index().boxes()
    }

    /// The edges by where they lie.
    pub fn edge_index(&self) -> &EdgeIndex {
        self.edge_index.get_or_init(|| {
            EdgeIndex::build(
                (0..self.edge_count())
                    .map(|e| {
                        self.edge(e).shape().iter().fold(
                            [i32::MAX, i32::MAX, i32::MIN, i32::MIN],
                            |b, &(lat, lon)| {
                                [b[0].min(lat), b[1].min(lon), b[2].max(lat), b[3].max(lon)]
                            },
                        )
                    })
                    .collect(),
            )
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

    /// Edge indices leaving `node`; none for a node this tile does not have (node ids come
    /// from other tiles, which are checked one at a time).
    pub fn out_edges(&self, node: u32) -> std::ops::Range<u32> {
        let first = &self.data().node_first_edge;
        match (first.get(node as usize), first.get(node as usize + 1)) {
            (Some(a), Some(b)) => a.to_native()..b.to_native(),
            _ => 0..0,
        }
    }

    /// The node's copies on other levels; none for a node this tile does not have.
    pub fn transitions(&self, node: u32) -> impl Iterator<Item = GraphId> + '_ {
        let d = self.data();
        let first = &d.node_first_transition;
        let range = match (first.get(node as usize), first.get(node as usize + 1)) {
            (Some(a), Some(b)) => a.to_native() as usize..b.to_native() as usize,
            _ => 0..0,
        };
        d.transitions[range]
            .iter()
            .map(|t| GraphId::from_packed(t.to_native()))
    }

    /// Edge `index`, or `None` when this tile has no such edge (for ids read from elsewhere:
    /// another tile, a contraction hierarchy).
    pub fn get_edge(&self, index: u32) -> Option<EdgeRef<'_>> {
        (index < self.edge_count()).then(|| self.edge(index))
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
        // Routers name nodes and edges by 24-bit indices (`GraphId`).
        if nodes > MAX_INDEX as usize + 1 || d.edge_target_nodes.len() > MAX_INDEX as usize + 1 {
            return bad("more nodes or edges than a graph id can name");
        }
        let in_world = |lat: i64, lon: i64| lat.abs() <= MAX_LAT_E7 && lon.abs() <= MAX_LON_E7;
        if !d
            .node_lats
            .iter()
            .zip(d.node_lons.iter())
            .all(|(lat, lon)| {
                in_world(
                    i64::from(lat.to_native()) + i64::from(self.origin.0),
                    i64::from(lon.to_native()) + i64::from(self.origin.1),
                )
            })
        {
            return bad("node outside the world");
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
        if !self.shapes_fit() {
            return bad("chain shapes do not fit their bytes");
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

    /// Whether each chain's shape is exactly the varints between its offset and the next
    /// chain's (shapes are written back to back, in chain order): so every stored point
    /// count is bounded by real bytes, and checking them all reads `shapes` once.
    fn shapes_fit(&self) -> bool {
        let d = self.data();
        let offsets = &d.chain_shape_offsets;
        let shapes = d.shapes.as_slice();
        (0..offsets.len()).all(|c| {
            let start = offsets[c].to_native() as usize;
            let end = offsets
                .get(c + 1)
                .map_or(shapes.len(), |o| o.to_native() as usize);
            let points = (d.chain_shape_points[c].to_native() & !SHAPE_END_STORED) as usize;
            if start > end || end > shapes.len() || points > (end - start) / 2 {
                return false;
            }
            let mut at = start;
            for _ in 0..points * 2 {
                if at >= end {
                    return false;
                }
                get_varint(&shapes[..end], &mut at);
            }
            at == end
        })
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
        // Sized by the points decoded, never by the stored count.
        let interior = decode_shape(&d.shapes[offset..], count, chain_start);
        let mut points = Vec::with_capacity(interior.len() + 2);
        points.push(chain_start);
        points.extend(interior);
        // A stored end point that did not decode (a corrupt tile: shapes are decoded on use,
        // not by `Tile::check`) is replaced by the computed one, so a shape always has both
        // ends.
        if stored & SHAPE_END_STORED == 0 || points.len() < 2 {
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

    /// Recomputes the CRC after a header field was edited, as a crafted tile would.
    fn reseal(bytes: &mut [u8]) {
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        let crc = checksum(version, bytes, &bytes[HEADER_LEN..]);
        bytes[20..24].copy_from_slice(&crc.to_le_bytes());
    }

    fn inconsistent(data: &TileData) -> String {
        match Tile::decode(&data.encode()) {
            Err(TileError::Inconsistent(why)) => why,
            other => panic!("expected an inconsistent tile, got {other:?}"),
        }
    }

    #[test]
    fn an_inflated_shape_count_is_refused_not_allocated() {
        // The reported crash: 2^31 - 1 points for a chain with a few shape bytes made
        // `EdgeRef::shape` reserve 16 GiB; the CRC is valid, the tile is crafted.
        let mut data = sample();
        data.chain_shape_points = vec![0x7fff_ffff];
        assert!(inconsistent(&data).contains("shapes"));
        data.chain_shape_points = vec![u32::MAX]; // the end flag too
        assert!(inconsistent(&data).contains("shapes"));
        // One point more or less than the bytes hold is as wrong.
        for points in [0, 2] {
            data.chain_shape_points = vec![points | SHAPE_END_STORED];
            assert!(inconsistent(&data).contains("shapes"), "{points}");
        }
    }

    #[test]
    fn shapes_must_lie_back_to_back_in_their_bytes() {
        let mut data = sample();
        data.chain_shape_offsets = vec![1];
        assert!(inconsistent(&data).contains("shapes"));
        data.chain_shape_offsets = vec![u32::MAX];
        assert!(inconsistent(&data).contains("shapes"));
        // Two chains sharing one shape would make the check read the bytes twice.
        let mut data = sample();
        data.edge_target_tiles.push(78);
        data.edge_target_nodes.push(0);
        data.edge_chains.push(1);
        data.edge_bits.push(EDGE_FORWARD | 1);
        data.node_first_edge = vec![0, 2];
        for column in [&mut data.chain_segs, &mut data.chain_lengths_dm] {
            column.push(0);
        }
        data.chain_way_ids.push(10);
        data.chain_classes.push(RoadClass::Residential as u8);
        data.chain_speeds.push(30);
        data.chain_flags.push(0);
        data.chain_names.push(NO_STRING);
        data.chain_refs.push(NO_STRING);
        data.chain_shape_offsets.push(0);
        data.chain_shape_points.push(1 | SHAPE_END_STORED);
        assert!(inconsistent(&data).contains("shapes"));
        // Laid out one after the other, the same two chains are fine.
        let mut shapes = data.shapes.clone();
        shapes.extend_from_slice(&data.shapes);
        data.chain_shape_offsets[1] = data.shapes.len() as u32;
        data.shapes = shapes;
        let tile = Tile::decode(&data.encode()).unwrap();
        assert_eq!(tile.edge(1).shape(), tile.edge(0).shape());
    }

    #[test]
    fn an_inflated_archive_length_is_refused_before_allocating() {
        let bytes = sample().encode();
        let real = le_u32(&bytes, 16);
        let stored = le_u32(&bytes, 12) as usize;
        for (declared, expected) in [
            (u32::MAX, "can inflate to"),
            ((stored * MAX_INFLATE_RATIO + 1) as u32, "can inflate to"),
            (real + 1, "does not match"),
            (real - 1, "does not match"),
            (0, "does not match"),
        ] {
            let mut crafted = bytes.clone();
            crafted[16..20].copy_from_slice(&declared.to_le_bytes());
            reseal(&mut crafted);
            let err = Tile::decode(&crafted).unwrap_err();
            assert!(
                matches!(
                    err,
                    TileError::ArchiveLength { .. } | TileError::Inflation { .. }
                ) && err.to_string().contains(expected),
                "{declared}: {err}"
            );
        }
        // Stored uncompressed, the archive is the payload.
        let mut stored_raw = bytes.clone();
        stored_raw[7] = STORED;
        reseal(&mut stored_raw);
        assert!(matches!(
            Tile::decode(&stored_raw),
            Err(TileError::ArchiveLength { .. })
        ));
        let mut unknown = bytes;
        unknown[7] = 9;
        reseal(&mut unknown);
        assert!(matches!(
            Tile::decode(&unknown),
            Err(TileError::Compression(9))
        ));
    }

    #[test]
    fn the_checksum_covers_the_header_fields() {
        let bytes = sample().encode();
        assert_eq!(u16::from_le_bytes([bytes[4], bytes[5]]), FORMAT_VERSION);
        for at in [6, 7, 8, 12, 16] {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x01;
            let err = Tile::decode(&flipped).unwrap_err();
            // A changed payload length is caught as such before the checksum.
            assert!(
                matches!(err, TileError::Checksum | TileError::Length { .. }),
                "byte {at}: {err}"
            );
        }
    }

    #[test]
    fn format_1_tiles_still_load() {
        // Format 1 differs only in its CRC, which covered the payload alone.
        let mut bytes = sample().encode();
        bytes[4..6].copy_from_slice(&LEGACY_FORMAT_VERSION.to_le_bytes());
        let crc = crc32fast::hash(&bytes[HEADER_LEN..]);
        bytes[20..24].copy_from_slice(&crc.to_le_bytes());
        let tile = Tile::decode(&bytes).unwrap();
        assert_eq!(tile.edge(0).name(), Some("Mannerheimintie"));
        // Its unchecked header fields are still checked against the content.
        let mut lying = bytes.clone();
        lying[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            Tile::decode(&lying),
            Err(TileError::Inflation { .. })
        ));
    }

    #[test]
    fn coordinates_and_ids_outside_the_world_are_refused() {
        let mut data = sample();
        data.node_lats = vec![i32::MAX]; // overflowed when added to the tile's origin
        assert!(inconsistent(&data).contains("outside the world"));
        let mut data = sample();
        data.node_lons = vec![i32::MIN];
        assert!(inconsistent(&data).contains("outside the world"));
        let mut data = sample();
        let tiles = Level::Local.rows() * Level::Local.columns();
        data.tile_id = tiles;
        assert!(matches!(
            Tile::decode(&data.encode()),
            Err(TileError::Mismatch { .. })
        ));
        let mut data = sample();
        data.level = 3;
        assert!(matches!(
            Tile::decode(&data.encode()),
            Err(TileError::Mismatch { .. })
        ));
    }

    #[test]
    fn ids_from_other_tiles_that_name_nothing_read_as_nothing() {
        let tile = Tile::decode(&sample().encode()).unwrap();
        assert_eq!(tile.out_edges(0), 0..1);
        assert_eq!(tile.out_edges(1), 0..0);
        assert_eq!(tile.out_edges(u32::MAX), 0..0);
        assert_eq!(tile.transitions(7).count(), 0);
        assert!(tile.get_edge(0).is_some());
        assert!(tile.get_edge(1).is_none());
    }

    #[test]
    fn corrupt_shape_bytes_decode_to_points_in_the_world() {
        let mut bytes = Vec::new();
        put_varint(&mut bytes, u64::MAX);
        put_varint(&mut bytes, u64::MAX - 1);
        let points = decode_shape(&bytes, 1_000_000_000, (0, 0));
        assert_eq!(points.len(), 1);
        let (lat, lon) = points[0];
        assert!(i64::from(lat).abs() <= MAX_LAT_E7 && i64::from(lon).abs() <= MAX_LON_E7);
    }
}
