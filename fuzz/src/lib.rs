//! Helpers shared by the fuzz targets in `fuzz_targets/`.
//!
//! Each target is one file there plus a `[[bin]]` entry in `Cargo.toml`, with its seed
//! corpus in `corpus/<target>/`; `scripts/fuzz.sh` runs every target it finds listed by
//! `cargo fuzz list`, so adding one needs nothing else.

use routing::tile::{ArchivedTileData, HEADER_LEN, MAGIC};

/// A tile file around `archive`, stored uncompressed, with the level and id its content
/// names and a valid CRC: the bytes an attacker who can write to the tile store would
/// craft. Without this the fuzzer would spend its time on checksum failures.
pub fn tile_around(archive: &[u8]) -> Option<Vec<u8>> {
    let mut aligned = rkyv::util::AlignedVec::<16>::new();
    aligned.extend_from_slice(archive);
    let data = rkyv::access::<ArchivedTileData, rkyv::rancor::Error>(&aligned).ok()?;
    let mut out = Vec::with_capacity(HEADER_LEN + archive.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&routing::tile::FORMAT_VERSION.to_le_bytes());
    out.push(data.level);
    out.push(0);
    out.extend_from_slice(&data.tile_id.to_native().to_le_bytes());
    out.extend_from_slice(&(archive.len() as u32).to_le_bytes());
    out.extend_from_slice(&(archive.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0; 12]);
    out.extend_from_slice(archive);
    reseal(&mut out);
    Some(out)
}

/// Writes the CRC a format-2 tile carries (header fields and payload) into `tile`.
pub use routing::tile::reseal;

/// What every accepted stop must be, whatever the query string: a point on the globe, or
/// a short, printable text with something to search for.
pub fn check_stop(stop: &navigation::service::Stop) {
    use navigation::service::Stop;
    match stop {
        Stop::Point(p) => {
            assert!(p.lat.is_finite() && p.lon.is_finite(), "{p:?}");
            assert!((-90.0..=90.0).contains(&p.lat), "{p:?}");
            assert!((-180.0..=180.0).contains(&p.lon), "{p:?}");
        }
        Stop::Text(text) => {
            assert!(!text.trim().is_empty() && text.trim() == text, "{text:?}");
            assert!(text.chars().count() <= navigation::http::MAX_TEXT_CHARS);
            assert!(!text.chars().any(char::is_control), "{text:?}");
            assert!(text.chars().any(char::is_alphanumeric), "{text:?}");
        }
    }
}
