//! The design's seed search path: radius -> geohash length -> covering cells -> ids per cell
//! (cache, else the index table) -> business objects (cache, else the snapshot table) ->
//! exact distance filter, rank, page.
//!
//! A cache failure is never an error here: the database answers instead.

use std::time::Duration;

use geo_core::{LatLon, covering_cells, haversine_m, precision_for_radius};
use kit::cache::Cache;
use kit::db::Db;

use crate::Result;
use crate::hours;
use crate::model::Summary;
use crate::snapshot::Filters;
use crate::store;

pub fn cell_key(geohash: &str) -> String {
    format!("prox:cell:{geohash}")
}

pub fn business_key(id: i64) -> String {
    format!("prox:biz:{id}")
}

fn encode_ids(ids: &[i64]) -> Vec<u8> {
    ids.iter().flat_map(|id| id.to_le_bytes()).collect()
}

fn decode_ids(bytes: &[u8]) -> Option<Vec<i64>> {
    if !bytes.len().is_multiple_of(8) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect(),
    )
}

/// Ids in the cells covering the circle.
async fn candidate_ids(
    db: &Db,
    cache: &Cache,
    ttl: Duration,
    cells: &[String],
) -> Result<Vec<i64>> {
    let keys: Vec<String> = cells.iter().map(|c| cell_key(c)).collect();
    let cached = cache
        .get_many(&keys)
        .await
        .unwrap_or_else(|_| vec![None; keys.len()]);
    let mut ids = Vec::new();
    let mut missing = Vec::new();
    for (cell, value) in cells.iter().zip(cached) {
        match value.as_deref().and_then(decode_ids) {
            Some(found) => ids.extend(found),
            None => missing.push(cell.clone()),
        }
    }
    if !missing.is_empty() {
        let fetched = store::ids_in_cells(db, &missing).await?;
        let fill: Vec<(String, Vec<u8>)> = fetched
            .iter()
            .map(|(cell, cell_ids)| (cell_key(cell), encode_ids(cell_ids)))
            .collect();
        let _ = cache.set_many(&fill, ttl).await;
        for (_, cell_ids) in fetched {
            ids.extend(cell_ids);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Published summaries for `ids`, through the business cache.
pub async fn hydrate(db: &Db, cache: &Cache, ttl: Duration, ids: &[i64]) -> Result<Vec<Summary>> {
    let keys: Vec<String> = ids.iter().map(|id| business_key(*id)).collect();
    let cached = cache
        .get_many(&keys)
        .await
        .unwrap_or_else(|_| vec![None; keys.len()]);
    let mut out = Vec::with_capacity(ids.len());
    let mut missing = Vec::new();
    for (id, value) in ids.iter().zip(cached) {
        match value.and_then(|v| serde_json::from_slice::<Summary>(&v).ok()) {
            Some(summary) => out.push(summary),
            None => missing.push(*id),
        }
    }
    if !missing.is_empty() {
        let fetched = store::published_summaries(db, &missing).await?;
        let fill: Vec<(String, Vec<u8>)> = fetched
            .iter()
            .filter_map(|s| Some((business_key(s.id), serde_json::to_vec(s).ok()?)))
            .collect();
        let _ = cache.set_many(&fill, ttl).await;
        out.extend(fetched);
    }
    Ok(out)
}

/// Nearby search over the geohash index: the total and one page after `after`.
#[allow(clippy::too_many_arguments)] // The query's parts, kept flat to mirror `Snapshot::nearby`.
pub async fn nearby(
    db: &Db,
    cache: &Cache,
    ttl: Duration,
    center: LatLon,
    radius_m: f64,
    filters: &Filters,
    after: Option<(f64, i64)>,
    limit: usize,
) -> Result<(usize, Vec<(Summary, f64)>)> {
    let len = precision_for_radius(radius_m);
    let cells: Vec<String> = covering_cells(center, radius_m, len)
        .iter()
        .map(|c| c.to_string())
        .collect();
    let ids = candidate_ids(db, cache, ttl, &cells).await?;
    let summaries = hydrate(db, cache, ttl, &ids).await?;
    let mut matches: Vec<(Summary, f64)> = summaries
        .into_iter()
        .filter(|s| filters.category.as_ref().is_none_or(|c| *c == s.category))
        .filter_map(|s| {
            let d = haversine_m(center, s.location());
            (d <= radius_m).then_some((s, d))
        })
        .filter(|(s, _)| {
            filters.open_at.is_none_or(|at| {
                hours::is_open_now(s.opening_hours.as_deref(), s.latitude, s.longitude, at)
            })
        })
        .collect();
    matches.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.id.cmp(&b.0.id)));
    let total = matches.len();
    let page = matches
        .into_iter()
        .filter(|(s, d)| after.is_none_or(|a| (*d, s.id) > a))
        .take(limit)
        .collect();
    Ok((total, page))
}
