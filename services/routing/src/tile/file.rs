//! The tile file around the archive: checksum, inflation, and the helpers for harnesses
//! that craft tile files on purpose.

use std::io::Read;

use rkyv::util::AlignedVec;

use super::{
    ArchivedTileData, CHECKED_HEADER_LEN, FORMAT_VERSION, HEADER_LEN, INITIAL_INFLATE_RATIO, MAGIC,
    MAX_INFLATE_RATIO, TileError,
};

/// The CRC a tile of format `version` stores: from format 2 on, over the header's fields
/// too, so that a flipped length or id is caught as corruption.
pub(super) fn checksum(version: u16, header: &[u8], payload: &[u8]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    if version >= 2 {
        crc.update(&header[..CHECKED_HEADER_LEN]);
    }
    crc.update(payload);
    crc.finalize()
}

/// Makes the CRC stored in a current-format tile file (`tile`) match its header fields and
/// payload, so that harnesses which edit tiles on purpose (the fuzz targets, the mutation
/// tests) reach the checks behind the CRC. Shorter than a header: left as it is.
pub fn reseal(tile: &mut [u8]) {
    if tile.len() < HEADER_LEN {
        return;
    }
    let crc = checksum(FORMAT_VERSION, &tile[..HEADER_LEN], &tile[HEADER_LEN..]);
    tile[CHECKED_HEADER_LEN..CHECKED_HEADER_LEN + 4].copy_from_slice(&crc.to_le_bytes());
}

/// A tile file around `archive` (an rkyv `TileData`), stored uncompressed, with the level
/// and id its content names and a valid CRC: what someone who can write to the tile store
/// could craft. For harnesses (the fuzz targets, the mutation tests) that edit archives;
/// `None` when `archive` is not one.
pub fn wrap_archive(archive: &[u8]) -> Option<Vec<u8>> {
    let mut aligned = AlignedVec::<16>::new();
    aligned.extend_from_slice(archive);
    let data = rkyv::access::<ArchivedTileData, rkyv::rancor::Error>(&aligned).ok()?;
    let len = u32::try_from(archive.len()).ok()?;
    let mut out = Vec::with_capacity(HEADER_LEN + archive.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.push(data.level);
    out.push(0);
    out.extend_from_slice(&data.tile_id.to_native().to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0; 12]);
    out.extend_from_slice(archive);
    reseal(&mut out);
    Some(out)
}

pub(super) fn le_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// Inflates `payload` into an aligned buffer of exactly `declared` bytes. The declared
/// length is only believed as far as the payload bears it out: it must be reachable at
/// deflate's best ratio, the buffer grows with what actually inflates, and one byte past it
/// is an error, so a lying header can neither reserve gigabytes nor inflate a bomb.
pub(super) fn inflate(payload: &[u8], declared: usize) -> Result<AlignedVec<16>, TileError> {
    if declared > payload.len().saturating_mul(MAX_INFLATE_RATIO) {
        return Err(TileError::Inflation {
            declared,
            stored: payload.len(),
        });
    }
    let mut archive = AlignedVec::<16>::with_capacity(
        declared.min(payload.len().saturating_mul(INITIAL_INFLATE_RATIO)),
    );
    let mut limited = flate2::read::DeflateDecoder::new(payload).take(declared as u64 + 1);
    std::io::copy(&mut limited, &mut archive).map_err(TileError::Inflate)?;
    if archive.len() != declared {
        return Err(TileError::ArchiveLength {
            declared,
            actual: archive.len(),
        });
    }
    Ok(archive)
}
