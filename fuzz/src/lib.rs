//! Helpers shared by the fuzz targets in `fuzz_targets/`.
//!
//! Each target is one file there plus a `[[bin]]` entry in `Cargo.toml`, with its seed
//! corpus in `corpus/<target>/`; `scripts/fuzz.sh` runs every target it finds listed by
//! `cargo fuzz list`, so adding one needs nothing else.

/// A tile file around an archive, with a valid CRC (see [`routing::tile::wrap_archive`]).
pub use routing::tile::wrap_archive as tile_around;

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
