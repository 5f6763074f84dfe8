//! Geocoding: free text to places (`forward`) and coordinates to addresses (`reverse`), for
//! `GET /v1/geocode` and the free-text origins and destinations of `GET /v1/nav`.
//!
//! **Where the data comes from.** The SQL table `geocode_places` (migrations
//! `0002_geocode.sql`) is filled by the operator's OSM import: [`load_from_osm`] reads an
//! extract once ([`extract_places`]: addresses, named places, named POIs and streets merged
//! per name) and [`replace_all`] swaps the table's contents in one transaction, so readers see
//! the old set or the new one, never a mix. Nothing else writes to it; an empty table simply
//! finds nothing.
//!
//! **How search works.** Stored `search_text` and queries both go through [`normalize`]
//! (lowercase, accents stripped, punctuation to spaces), so "sao joao" finds "São João" and
//! `LIKE` patterns built from it hold no wildcards. Forward search asks SQL only for rows
//! holding every word of the query as a token prefix (`search_text LIKE '% tok%'`, once per
//! word) and ranks them in Rust ([`rank`]); reverse search reads a bounding box over
//! `(lat, lon)` and orders it by exact haversine distance in Rust. Plain `LIKE` and range
//! predicates behave the same on SQLite and PostgreSQL, so the embedded default and a
//! PostgreSQL deployment give identical answers, with no extension (no FTS5, `pg_trgm` or
//! PostGIS) to install. A `LIKE '%..%'` scan reads the whole table, which stays in the
//! milliseconds for city and region extracts (tens to hundreds of thousands of rows).

mod extract;
mod normalize;
pub mod rank;
mod store;

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use kit::db::Db;

pub use extract::{Extractor, POI_KEYS, Place, STREET_MERGE_M, extract_places};
pub use normalize::normalize;
pub use store::{
    DUPLICATE_M, FORWARD_CANDIDATES, GeocodeResult, REVERSE_ADDRESS_RADII_M,
    REVERSE_FALLBACK_RADII_M, count, forward, is_empty, replace_all, reverse, search_text,
};

/// What [`load_from_osm`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoadSummary {
    /// Rows now in `geocode_places`.
    pub places: u64,
    /// Wall-clock time of reading and writing together.
    pub seconds: f64,
}

/// Reads the OSM file at `path` (on a blocking thread) and replaces the geocoding table with
/// its places.
pub async fn load_from_osm(db: &Db, path: &Path) -> anyhow::Result<LoadSummary> {
    let started = Instant::now();
    let owned = path.to_path_buf();
    let places = tokio::task::spawn_blocking(move || extract_places(&owned))
        .await
        .context("geocoding extraction thread")?
        .with_context(|| format!("reading places from {}", path.display()))?;
    let places = replace_all(db, &places)
        .await
        .context("writing geocoding places")?;
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(places, seconds, file = %path.display(), "geocoding places loaded");
    Ok(LoadSummary { places, seconds })
}
