//! The traffic updater: reads batches from the location stream, writes them to the history,
//! map-matches them onto the routing tiles and adds the traversals to the traffic state, then
//! acknowledges them. Every instance runs one; with Redis they share the stream's work.
//!
//! Each batch is matched on its own (a client's batch is 15 s of fixes, or up to 1,000), so
//! no per-user state has to follow a user from one instance to the next: an edge counts
//! when a batch saw it driven from end to end.

use std::time::Duration;

use routing::matching::{Fix as MatchFix, MatchOptions, match_trace};
use routing::{Mode, TileSource};

use super::fixes::FixBatch;
use super::live::{Sample, traversal_id};
use crate::service::NavState;
use crate::tiles::RequestTiles;

/// Batches read at a time.
const READ_BATCHES: usize = 64;
/// Pause after a failed apply before the same batches are tried again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The samples a batch's traversals give, matched on the state's current tiles; empty when
/// no version is published or the mode has no live traffic (only driving has).
pub fn samples_of(state: &NavState, batch: &FixBatch) -> (String, Vec<Sample>) {
    let Some(version) = state.current_version() else {
        return (String::new(), Vec::new());
    };
    if batch.mode != Mode::Driving || batch.fixes.len() < 2 {
        return (version.name.clone(), Vec::new());
    }
    let tiles = RequestTiles::new(state.tile_cache(), &version);
    let fixes: Vec<MatchFix> = batch
        .fixes
        .iter()
        .map(|f| MatchFix {
            point: geo_core::LatLon::clamped(f.latitude, f.longitude),
            time_s: f.timestamp,
            accuracy_m: f.accuracy_m,
        })
        .collect();
    let options = MatchOptions {
        mode: batch.mode,
        ..MatchOptions::default()
    };
    let matched = match_trace(&tiles, &fixes, &options);
    let samples = matched
        .traversals
        .iter()
        .filter(|t| t.exit_s > t.enter_s)
        .filter_map(|t| {
            let edge = tiles.edge(t.edge)?;
            let speed_kmh = t.length_m / (t.exit_s - t.enter_s) * 3.6;
            let sample = Sample {
                edge: t.edge.packed(),
                id: traversal_id(batch.user_id, t.edge.packed(), t.enter_s),
                at_s: t.exit_s,
                speed_kmh,
            };
            Some(sample.clamped(f64::from(edge.speed_kmh())))
        })
        .collect();
    (version.name.clone(), samples)
}

/// The key a batch's samples are added under: the same for every delivery of one stream
/// entry (a client sending the same fixes again makes a new batch, received later).
pub fn batch_key(batch: &FixBatch) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    batch.user_id.hash(&mut h);
    batch.received_ms.hash(&mut h);
    batch.fixes.len().hash(&mut h);
    for f in [batch.fixes.first(), batch.fixes.last()]
        .into_iter()
        .flatten()
    {
        f.timestamp.to_bits().hash(&mut h);
        f.latitude.to_bits().hash(&mut h);
        f.longitude.to_bits().hash(&mut h);
    }
    h.finish()
}

/// Applies one read's batches: history, then traffic. Both are idempotent, so a failure
/// part-way is retried whole.
pub async fn apply(state: &NavState, batches: &[&FixBatch]) -> anyhow::Result<()> {
    let traffic = state.traffic();
    traffic.history().write(batches).await?;
    let owned: Vec<FixBatch> = batches.iter().map(|b| (*b).clone()).collect();
    let matcher = state.clone();
    let matched = tokio::task::spawn_blocking(move || {
        owned
            .iter()
            .map(|b| samples_of(&matcher, b))
            .collect::<Vec<_>>()
    })
    .await?;
    for ((version, samples), batch) in matched.into_iter().zip(batches) {
        if version.is_empty() || samples.is_empty() {
            continue;
        }
        let added = traffic
            .store()
            .apply(&version, batch_key(batch), &samples)
            .await?;
        metrics::counter!("traffic_samples_total").increment(added);
    }
    Ok(())
}

/// Runs until the process ends.
pub async fn run(state: NavState) {
    let stream = state.traffic().stream().clone();
    loop {
        let deliveries = match stream.read(READ_BATCHES).await {
            Ok(d) => d,
            Err(err) => {
                tracing::warn!(error = %err, "reading the location stream");
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        if deliveries.is_empty() {
            continue;
        }
        let batches: Vec<&FixBatch> = deliveries.iter().filter_map(|d| d.batch.as_ref()).collect();
        let fixes: usize = batches.iter().map(|b| b.fixes.len()).sum();
        loop {
            match apply(&state, &batches).await {
                Ok(()) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "applying location batches; retrying");
                    tokio::time::sleep(RETRY_AFTER).await;
                }
            }
        }
        metrics::counter!("traffic_fixes_applied_total").increment(fixes as u64);
        let ids: Vec<String> = deliveries.into_iter().map(|d| d.id).collect();
        if let Err(err) = stream.ack(&ids).await {
            // Not acknowledged: the entries stay pending and are applied again (harmless).
            tracing::warn!(error = %err, "acknowledging location batches");
        }
    }
}
