//! SQL for the `geocode_places` table (migrations `0002_geocode.sql`).
//!
//! Every statement is written once in the dialect SQLite and PostgreSQL share. Search uses
//! only `LIKE` over the normalised `search_text` and a bounding box over `(lat, lon)`, then
//! ranks and measures in Rust, so both engines answer identically.

use geo_core::{LatLon, haversine_m};
use kit::db::Db;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Result;

use super::extract::Place;
use super::normalize::tokens;
use super::rank::{Candidate, Query, score, types_for};

/// Rows per multi-row INSERT: 9 columns x 500 rows stays far under both engines' limits.
const BATCH_ROWS: usize = 500;

/// At most this many rows are ranked per forward query; SQL picks them by how many query
/// tokens they hold as whole words, then by importance.
pub const FORWARD_CANDIDATES: usize = 1_000;

/// Results with the same formatted address this close are one place, reported once.
pub const DUPLICATE_M: f64 = 1_000.0;

/// Reverse geocoding looks for street addresses within these growing radii (metres)...
pub const REVERSE_ADDRESS_RADII_M: [f64; 3] = [100.0, 300.0, 1_000.0];
/// ...and only when there is none within the last one, for any other place (street, POI,
/// district, town) within these.
pub const REVERSE_FALLBACK_RADII_M: [f64; 3] = [2_000.0, 5_000.0, 10_000.0];

/// One geocoding answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GeocodeResult {
    pub formatted_address: String,
    pub lat: f64,
    pub lng: f64,
    pub place_id: String,
    /// Google place types, most specific first (`street_address`, `route`, `locality`, ...).
    pub types: Vec<String>,
    /// Distance from the queried point (reverse geocoding only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<f64>,
}

/// The normalised, space-padded token list stored for a place: its names, street, house
/// number, postcode and city.
pub fn search_text(place: &Place) -> String {
    let mut parts: Vec<&str> = vec![place.name.as_str()];
    parts.extend(place.alt_names.iter().map(String::as_str));
    parts.extend(
        [
            &place.street,
            &place.housenumber,
            &place.postcode,
            &place.city,
        ]
        .into_iter()
        .flatten()
        .map(String::as_str),
    );
    format!(" {} ", tokens(&parts.join(" ")).join(" "))
}

/// Replaces the whole table with `places` in one transaction; returns the rows written.
/// A repeated `id` keeps its first place.
pub async fn replace_all(db: &Db, places: &[Place]) -> anyhow::Result<u64> {
    const COLS: usize = 9;
    let texts: Vec<String> = places.iter().map(search_text).collect();
    let mut tx = db.pool.begin().await?;
    sqlx::query("DELETE FROM geocode_places")
        .execute(&mut *tx)
        .await?;
    let mut written = 0;
    let rows: Vec<(&Place, &String)> = places.iter().zip(&texts).collect();
    for chunk in rows.chunks(BATCH_ROWS) {
        let values = (0..chunk.len())
            .map(|r| {
                let cols: Vec<String> = (1..=COLS).map(|c| format!("${}", r * COLS + c)).collect();
                format!("({})", cols.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO geocode_places (place_id, name, formatted_address, kind, housenumber, \
             lat, lon, search_text, rank_weight) VALUES {values} \
             ON CONFLICT (place_id) DO NOTHING"
        );
        let mut query = sqlx::query(&sql);
        for (place, text) in chunk {
            query = query
                .bind(&place.id)
                .bind(&place.name)
                .bind(&place.formatted_address)
                .bind(&place.kind)
                .bind(&place.housenumber)
                .bind(place.lat)
                .bind(place.lon)
                .bind(*text)
                .bind(place.rank_weight);
        }
        written += query.execute(&mut *tx).await?.rows_affected();
    }
    tx.commit().await?;
    Ok(written)
}

/// Rows in the table (zero until an import has filled it).
pub async fn count(db: &Db) -> Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM geocode_places")
        .fetch_one(&db.pool)
        .await?;
    Ok(row.try_get("n")?)
}

/// Whether the table has no row yet (first start before any import).
pub async fn is_empty(db: &Db) -> Result<bool> {
    let row = sqlx::query("SELECT place_id FROM geocode_places LIMIT 1")
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.is_none())
}

const CANDIDATE_COLUMNS: &str =
    "place_id, name, formatted_address, kind, housenumber, lat, lon, search_text, rank_weight";

fn candidate(row: &AnyRow) -> Result<Candidate> {
    Ok(Candidate {
        place_id: row.try_get("place_id")?,
        name: row.try_get("name")?,
        formatted_address: row.try_get("formatted_address")?,
        kind: row.try_get("kind")?,
        housenumber: row.try_get("housenumber")?,
        lat: row.try_get("lat")?,
        lon: row.try_get("lon")?,
        search_text: row.try_get("search_text")?,
        rank_weight: row.try_get("rank_weight")?,
    })
}

fn result(c: Candidate, distance_m: Option<f64>) -> GeocodeResult {
    GeocodeResult {
        types: types_for(&c.kind),
        formatted_address: c.formatted_address,
        lat: c.lat,
        lng: c.lon,
        place_id: c.place_id,
        distance_m,
    }
}

/// Rows holding every `required` token as a token prefix, those holding the most query
/// tokens as whole words first. Tokens are normalised, so they hold no `LIKE` wildcards.
async fn candidates(db: &Db, required: &[&str], all: &[String]) -> Result<Vec<Candidate>> {
    let mut conditions = Vec::new();
    let mut params: Vec<String> = Vec::new();
    for token in required {
        params.push(format!("% {token}%"));
        conditions.push(format!("search_text LIKE ${}", params.len()));
    }
    let mut whole = Vec::new();
    for token in all {
        params.push(format!("% {token} %"));
        whole.push(format!(
            "CASE WHEN search_text LIKE ${} THEN 1 ELSE 0 END",
            params.len()
        ));
    }
    let sql = format!(
        "SELECT {CANDIDATE_COLUMNS} FROM geocode_places WHERE {} \
         ORDER BY ({}) DESC, rank_weight DESC, place_id LIMIT {FORWARD_CANDIDATES}",
        conditions.join(" AND "),
        whole.join(" + "),
    );
    let mut query = sqlx::query(&sql);
    for p in &params {
        query = query.bind(p);
    }
    query
        .fetch_all(&db.pool)
        .await?
        .iter()
        .map(candidate)
        .collect()
}

/// Which of `words` start a token of at least one row (one scan for all of them).
async fn words_found(db: &Db, words: &[&str]) -> Result<Vec<bool>> {
    let columns: Vec<String> = (1..=words.len())
        .map(|i| {
            format!(
                "CAST(MAX(CASE WHEN search_text LIKE ${i} THEN 1 ELSE 0 END) AS BIGINT) AS w{i}"
            )
        })
        .collect();
    let sql = format!("SELECT {} FROM geocode_places", columns.join(", "));
    let mut query = sqlx::query(&sql);
    for word in words {
        query = query.bind(format!("% {word}%"));
    }
    let row = query.fetch_one(&db.pool).await?;
    (1..=words.len())
        .map(|i| {
            let found: Option<i64> = row.try_get(format!("w{i}").as_str())?;
            Ok(found == Some(1))
        })
        .collect()
}

/// Forward geocoding: places matching free text, best first, at most `limit`.
///
/// Insensitive to case, accents, punctuation and word order; the words of the query must
/// start tokens of the place (its names, street, city), numbers are optional and rank house
/// numbers. When nothing holds every word, words found nowhere in the table (a typo) are
/// dropped, then one more word, the last first (a country name), provided at least half of
/// the words remain. Results with the same formatted address within [`DUPLICATE_M`] are
/// reported once. `near` (lat, lon) favours closer places. Safe for any input: the text is
/// normalised to letters, digits and spaces before it reaches a `LIKE` pattern, and at most
/// [`MAX_TOKENS`](super::rank::MAX_TOKENS) tokens are used.
pub async fn forward(
    db: &Db,
    query: &str,
    near: Option<(f64, f64)>,
    limit: usize,
) -> Result<Vec<GeocodeResult>> {
    let parsed = Query::parse(query);
    if parsed.tokens.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let required = parsed.required();
    let mut found = candidates(db, &required, &parsed.tokens).await?;
    let mut dropped: Vec<&str> = Vec::new();
    if found.is_empty() && required.len() > 1 {
        // Nothing holds every word: drop the words found nowhere, then (if still nothing) one
        // more word, the last first (a trailing country or region is the usual culprit),
        // while at least half of the words remain. Dropped words no longer count in ranking.
        let enough = |n: usize| n > 0 && n * 2 >= required.len();
        let present = words_found(db, &required).await?;
        let mut kept: Vec<&str> = Vec::new();
        let mut absent: Vec<&str> = Vec::new();
        for (word, found) in required.iter().copied().zip(present) {
            if found {
                kept.push(word);
            } else {
                absent.push(word);
            }
        }
        if enough(kept.len()) && !absent.is_empty() {
            found = candidates(db, &kept, &parsed.tokens).await?;
            dropped = absent;
        }
        if found.is_empty() && enough(kept.len().saturating_sub(1)) {
            dropped = required
                .iter()
                .copied()
                .filter(|w| !kept.contains(w))
                .collect();
            for skip in (0..kept.len()).rev() {
                let fewer: Vec<&str> = kept
                    .iter()
                    .enumerate()
                    .filter_map(|(i, w)| (i != skip).then_some(*w))
                    .collect();
                found = candidates(db, &fewer, &parsed.tokens).await?;
                if !found.is_empty() {
                    dropped.push(kept[skip]);
                    break;
                }
            }
        }
    }
    let parsed = parsed.without(&dropped);
    let near = near.filter(|(lat, lon)| LatLon::new(*lat, *lon).is_ok());
    let mut scored: Vec<(f64, Candidate)> = found
        .into_iter()
        .map(|c| (score(&parsed, &c, near), c))
        .collect();
    scored.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(b.1.rank_weight.total_cmp(&a.1.rank_weight))
            .then_with(|| a.1.place_id.cmp(&b.1.place_id))
    });
    let mut kept: Vec<Candidate> = Vec::new();
    for (_, c) in scored {
        if kept.len() == limit {
            break;
        }
        if !kept.iter().any(|k| same_place(k, &c)) {
            kept.push(c);
        }
    }
    Ok(kept.into_iter().map(|c| result(c, None)).collect())
}

/// Two rows for one thing (an address on a building and on its entrance, a street split by a
/// gap): the same formatted address within [`DUPLICATE_M`].
fn same_place(a: &Candidate, b: &Candidate) -> bool {
    a.formatted_address == b.formatted_address
        && match (a.point(), b.point()) {
            (Some(a), Some(b)) => haversine_m(a, b) <= DUPLICATE_M,
            _ => false,
        }
}

/// Places of one class (street addresses or everything else) within `radius_m` of `at`,
/// nearest first, duplicates (see [`DUPLICATE_M`]) reported once.
async fn within(
    db: &Db,
    at: LatLon,
    radius_m: f64,
    addresses: bool,
) -> Result<Vec<(f64, Candidate)>> {
    // A little margin so that float error never drops a row on the edge.
    let dlat = radius_m / geo_core::METRES_PER_DEGREE * 1.01 + 1e-6;
    let cos = at.lat.to_radians().cos();
    let (min_lat, max_lat) = (at.lat - dlat, at.lat + dlat);
    let (min_lon, max_lon) = if cos > 1e-3 && dlat / cos < 90.0 {
        let dlon = dlat / cos;
        if at.lon - dlon < -180.0 || at.lon + dlon > 180.0 {
            (-180.0, 180.0)
        } else {
            (at.lon - dlon, at.lon + dlon)
        }
    } else {
        (-180.0, 180.0)
    };
    let op = if addresses { "=" } else { "<>" };
    let sql = format!(
        "SELECT {CANDIDATE_COLUMNS} FROM geocode_places \
         WHERE lat >= $1 AND lat <= $2 AND lon >= $3 AND lon <= $4 AND kind {op} $5"
    );
    let rows = sqlx::query(&sql)
        .bind(min_lat)
        .bind(max_lat)
        .bind(min_lon)
        .bind(max_lon)
        .bind("street_address")
        .fetch_all(&db.pool)
        .await?;
    let mut hits = Vec::new();
    for row in &rows {
        let c = candidate(row)?;
        // A row with a bad coordinate is never within the radius.
        let d = c.point().map_or(f64::INFINITY, |p| haversine_m(at, p));
        if d <= radius_m {
            hits.push((d, c));
        }
    }
    hits.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then_with(|| a.1.place_id.cmp(&b.1.place_id))
    });
    let mut kept: Vec<(f64, Candidate)> = Vec::with_capacity(hits.len());
    for (d, c) in hits {
        if !kept.iter().any(|(_, k)| same_place(k, &c)) {
            kept.push((d, c));
        }
    }
    Ok(kept)
}

/// Reverse geocoding: what is at (`lat`, `lon`), nearest first, at most `limit`, each with its
/// distance.
///
/// The rule: street addresses within 1 km (searched in growing boxes of
/// [`REVERSE_ADDRESS_RADII_M`], ordered by exact haversine distance). When there is no address
/// within 1 km, the nearest other places (streets, POIs, districts, towns) within 10 km
/// ([`REVERSE_FALLBACK_RADII_M`]). Beyond that, or for an invalid coordinate, nothing.
pub async fn reverse(db: &Db, lat: f64, lon: f64, limit: usize) -> Result<Vec<GeocodeResult>> {
    let Ok(at) = LatLon::new(lat, lon) else {
        return Ok(Vec::new());
    };
    if limit == 0 {
        return Ok(Vec::new());
    }
    for (addresses, radii) in [
        (true, REVERSE_ADDRESS_RADII_M),
        (false, REVERSE_FALLBACK_RADII_M),
    ] {
        let mut hits = Vec::new();
        for radius in radii {
            hits = within(db, at, radius, addresses).await?;
            // Everything outside this circle is farther than everything inside it.
            if hits.len() >= limit {
                break;
            }
        }
        if !hits.is_empty() {
            return Ok(hits
                .into_iter()
                .take(limit)
                .map(|(d, c)| result(c, Some(d)))
                .collect());
        }
    }
    Ok(Vec::new())
}
