//! The two in-process search paths: the quadtree over the published snapshot, and the
//! geohash path (index table + cache + exact filter) of the design. Plus the shared data and
//! query centres every engine of a run uses.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::synth::businesses::{CITIES, SynthBusiness};
use geo_core::{LatLon, haversine_m, offset_m};
use kit::cache::{Cache, LocalCache};
use kit::db::Db;
use proximity::model::{BusinessFields, Summary};
use proximity::snapshot::{Filters, Snapshot};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::stats::{Budget, Measurement, Recorder};

/// Results per page, as in the issue ("nearest 20").
pub const PAGE: usize = 20;

/// Centres are kept only within this distance of a synthetic city centre ("dense areas").
const DENSE_WITHIN_M: f64 = 20_000.0;

/// Jitter added to a data point to make a query centre, metres (at most, per axis).
const JITTER_M: f64 = 50.0;

/// How many leading queries per radius are compared between the geohash and quadtree paths.
pub const VERIFY_QUERIES: usize = 50;

/// A first page as (id, distance m).
pub type Page = Vec<(i64, f64)>;

/// Summaries with ids 1..=n in generation order (the ids SQLite assigns on a fresh table).
pub fn summaries(data: &[SynthBusiness]) -> Vec<Summary> {
    data.iter()
        .enumerate()
        .map(|(i, b)| Summary {
            id: i as i64 + 1,
            name: format!("Business {}", i + 1),
            category: b.category.to_string(),
            latitude: b.location.lat,
            longitude: b.location.lon,
            opening_hours: None,
        })
        .collect()
}

/// The same rows as insertable fields, for the SQL-backed paths.
pub fn fields(data: &[SynthBusiness]) -> Vec<BusinessFields> {
    data.iter()
        .enumerate()
        .map(|(i, b)| BusinessFields {
            name: format!("Business {}", i + 1),
            category: b.category.to_string(),
            address: None,
            city: None,
            state: None,
            country: None,
            postcode: None,
            location: b.location,
            opening_hours: None,
            phone: None,
            website: None,
        })
        .collect()
}

/// `count` query centres in dense areas: random data points (so density-weighted) within
/// 20 km of a synthetic city centre, each moved by up to 50 m.
pub fn dense_centres(
    data: &[SynthBusiness],
    count: usize,
    seed: u64,
) -> anyhow::Result<Vec<LatLon>> {
    anyhow::ensure!(!data.is_empty(), "no data to take query centres from");
    let mut rng = StdRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(count);
    let mut attempts = 0usize;
    while out.len() < count {
        attempts += 1;
        anyhow::ensure!(
            attempts <= count.saturating_mul(1000).max(100_000),
            "could not find {count} data points near a city centre"
        );
        let p = data[rng.random_range(0..data.len())].location;
        let dense = CITIES
            .iter()
            .any(|&(_, lat, lon, _)| haversine_m(p, LatLon::clamped(lat, lon)) <= DENSE_WITHIN_M);
        if !dense {
            continue;
        }
        let north_m = rng.random_range(-JITTER_M..=JITTER_M);
        let east_m = rng.random_range(-JITTER_M..=JITTER_M);
        out.push(offset_m(p, north_m, east_m));
    }
    Ok(out)
}

/// Index build: the snapshot and how long it took.
pub async fn build_snapshot(
    summaries: Vec<Summary>,
    leaf_capacity: usize,
) -> anyhow::Result<(Arc<Snapshot>, Duration)> {
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let snapshot = Snapshot::build(1, summaries, leaf_capacity);
        let took = started.elapsed();
        (Arc::new(snapshot), took)
    })
    .await
    .map_err(Into::into)
}

/// "Total + nearest 20 within r" on the quadtree, one query at a time on one thread, after a
/// warm-up pass. Returns the measurement and the first pages (for verification).
pub async fn quadtree_nearby(
    snapshot: Arc<Snapshot>,
    centres: Arc<Vec<LatLon>>,
    radius_m: f64,
) -> anyhow::Result<(Measurement, Vec<(usize, Page)>)> {
    tokio::task::spawn_blocking(move || {
        let filters = Filters::default();
        for c in centres.iter().take(200) {
            std::hint::black_box(snapshot.nearby(*c, radius_m, &filters, None, PAGE));
        }
        let mut rec = Recorder::new("quadtree (in process)");
        let mut pages = Vec::new();
        for (i, c) in centres.iter().enumerate() {
            let started = Instant::now();
            let (total, hits) = snapshot.nearby(*c, radius_m, &filters, None, PAGE);
            let elapsed = started.elapsed();
            std::hint::black_box(&hits);
            rec.record(elapsed, total);
            if i < VERIFY_QUERIES {
                pages.push((
                    total,
                    hits.iter().map(|h| (h.summary.id, h.distance_m)).collect(),
                ));
            }
        }
        (rec.finish(None), pages)
    })
    .await
    .map_err(Into::into)
}

/// Nearest 20 at any distance on the quadtree.
pub async fn quadtree_nearest(
    snapshot: Arc<Snapshot>,
    centres: Arc<Vec<LatLon>>,
) -> anyhow::Result<Measurement> {
    tokio::task::spawn_blocking(move || {
        let filters = Filters::default();
        for c in centres.iter().take(200) {
            std::hint::black_box(snapshot.nearest(*c, PAGE, &filters));
        }
        let mut rec = Recorder::new("quadtree nearest-20 (in process)");
        for c in centres.iter() {
            let started = Instant::now();
            let hits = snapshot.nearest(*c, PAGE, &filters);
            let elapsed = started.elapsed();
            rec.record(elapsed, hits.len());
            std::hint::black_box(hits);
        }
        rec.finish(None)
    })
    .await
    .map_err(Into::into)
}

/// The geohash path's database and its own in-process cache (big enough to hold every
/// business and cell the run touches, so the second pass is all cache hits).
pub struct GeohashPath {
    pub db: Db,
    pub cache: Cache,
}

impl GeohashPath {
    pub fn new(db: Db, businesses: usize) -> GeohashPath {
        GeohashPath {
            db,
            cache: Cache::Local(LocalCache::new(businesses as u64 * 2 + 1_000_000)),
        }
    }

    /// Runs the centres twice (the first pass fills the cache) and reports the second, warm
    /// pass. The first pages are returned for comparison with the quadtree.
    pub async fn nearby(
        &self,
        centres: &[LatLon],
        radius_m: f64,
        budget: Budget,
    ) -> anyhow::Result<(Measurement, Vec<(usize, Page)>)> {
        let ttl = Duration::from_secs(86_400);
        let filters = Filters::default();
        let started = Instant::now();
        let mut cold = Recorder::new("geohash cold");
        for c in centres {
            if budget.should_stop(cold.len(), started.elapsed()) {
                break;
            }
            let t = Instant::now();
            let (total, _) = proximity::geohash_search::nearby(
                &self.db,
                &self.cache,
                ttl,
                *c,
                radius_m,
                &filters,
                None,
                PAGE,
            )
            .await
            .map_err(|e| anyhow::anyhow!("geohash search: {e:?}"))?;
            cold.record(t.elapsed(), total);
        }
        let cold = cold.finish(None);
        let mut warm = Recorder::new("geohash path (in process, warm cache)");
        let mut pages = Vec::new();
        for (i, c) in centres.iter().take(cold.queries()).enumerate() {
            let t = Instant::now();
            let (total, hits) = proximity::geohash_search::nearby(
                &self.db,
                &self.cache,
                ttl,
                *c,
                radius_m,
                &filters,
                None,
                PAGE,
            )
            .await
            .map_err(|e| anyhow::anyhow!("geohash search: {e:?}"))?;
            warm.record(t.elapsed(), total);
            if i < VERIFY_QUERIES {
                pages.push((total, hits.iter().map(|(s, d)| (s.id, *d)).collect()));
            }
        }
        let note = format!(
            "geohash: second (warm-cache) pass over the first {} centres; the cold first pass \
             had p50 {:.0} us, p99 {:.0} us",
            cold.queries(),
            cold.p50_us(),
            cold.p99_us()
        );
        Ok((warm.finish(Some(note)), pages))
    }
}

/// Compares first pages of two engines: identical totals, ids and distances (to a micrometre:
/// the geohash path's summaries pass through JSON). Returns a description of each mismatch.
pub fn compare_pages(
    radius_m: f64,
    quadtree: &[(usize, Page)],
    other: &[(usize, Page)],
) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, ((qt, qp), (ot, op))) in quadtree.iter().zip(other).enumerate() {
        let same_page = qp.len() == op.len()
            && qp
                .iter()
                .zip(op)
                .all(|(a, b)| a.0 == b.0 && (a.1 - b.1).abs() < 1e-6);
        if qt != ot || !same_page {
            problems.push(format!(
                "radius {radius_m} m, query {i}: quadtree total {qt} first {:?}; geohash total \
                 {ot} first {:?}",
                qp.iter().take(3).collect::<Vec<_>>(),
                op.iter().take(3).collect::<Vec<_>>()
            ));
        }
    }
    problems
}
