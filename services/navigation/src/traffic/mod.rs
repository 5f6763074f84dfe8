//! Live traffic: the location service's stream and history, the updater that turns fixes
//! into edge speeds, and the shared traffic state routes and `/v1/traffic` read.

pub mod eta;
pub mod fixes;
pub mod history;
pub mod live;
pub mod segments;
pub mod stream;
pub mod updater;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustc_hash::FxHashMap;

use self::history::HistoryTable;
use self::live::{LiveSpeeds, SpeedStore};
use self::segments::Segment;
use self::stream::LocationStream;

/// How often each instance recomputes its live-speed snapshot from the shared state.
pub const REFRESH: Duration = Duration::from_secs(5);

/// The traffic half of the navigation state.
pub struct Traffic {
    stream: LocationStream,
    store: SpeedStore,
    history: HistoryTable,
    view: ArcSwap<LiveView>,
    /// Hour-of-week profiles read for future departures, with when they were read.
    profiles: std::sync::Mutex<ProfileCache>,
}

type ProfileCache =
    std::collections::HashMap<(String, u32), (std::time::Instant, Arc<FxHashMap<u64, f64>>)>;

/// How long a profile read for a future departure is reused.
const PROFILE_REUSE: Duration = Duration::from_secs(300);

/// One snapshot of live traffic: the speeds and the segments they draw.
#[derive(Default)]
pub struct LiveView {
    pub speeds: LiveSpeeds,
    pub segments: Vec<Segment>,
}

impl Traffic {
    /// Redis for the stream and the state when `redis_url` is set, else in process.
    pub async fn connect(
        redis_url: Option<&str>,
        prefix: &str,
        db: kit::db::Db,
        claim_idle: Duration,
    ) -> anyhow::Result<Traffic> {
        let (stream, store) = match redis_url.filter(|u| !u.is_empty()) {
            Some(url) => {
                let consumer = consumer_name();
                (
                    LocationStream::redis(url, prefix, &consumer, claim_idle).await?,
                    SpeedStore::redis(url, prefix).await?,
                )
            }
            None => (LocationStream::local(), SpeedStore::local()),
        };
        let history = HistoryTable::new(db);
        history.prepare(now_ms()).await?;
        Ok(Traffic {
            stream,
            store,
            history,
            view: ArcSwap::from_pointee(LiveView::default()),
            profiles: std::sync::Mutex::new(ProfileCache::new()),
        })
    }

    pub fn stream(&self) -> &LocationStream {
        &self.stream
    }

    pub fn store(&self) -> &SpeedStore {
        &self.store
    }

    pub fn history(&self) -> &HistoryTable {
        &self.history
    }

    /// Live traffic as last computed.
    pub fn view(&self) -> Arc<LiveView> {
        self.view.load_full()
    }

    /// The typical speeds of the hour of the week `at_s` falls in, on tile version `version`.
    pub async fn profile_at(
        &self,
        version: &str,
        at_s: f64,
    ) -> anyhow::Result<Arc<FxHashMap<u64, f64>>> {
        let key = (version.to_string(), live::hour_of_week(at_s));
        if let Some((read, profile)) = self
            .profiles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            && read.elapsed() < PROFILE_REUSE
        {
            return Ok(Arc::clone(profile));
        }
        let profile = Arc::new(self.store.profile(version, key.1).await?);
        let mut profiles = self.profiles.lock().unwrap_or_else(|e| e.into_inner());
        // At most one entry per hour of the week and version: drop other versions'.
        profiles.retain(|(v, _), _| v == version);
        profiles.insert(key, (std::time::Instant::now(), Arc::clone(&profile)));
        Ok(profile)
    }

    /// Makes `view` the current snapshot.
    pub fn publish(&self, view: LiveView) {
        metrics::gauge!("traffic_live_edges").set(view.speeds.live.len() as f64);
        self.view.store(Arc::new(view));
    }
}

/// This instance's name in the stream's consumer group: host, process and a random part,
/// so a restarted process never inherits a dead one's name by accident.
fn consumer_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    format!("{host}-{}-{:08x}", std::process::id(), rand_u32())
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now_ms() as u64);
    h.finish() as u32
}

pub fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub fn now_ms() -> i64 {
    (now_s() * 1000.0) as i64
}

/// The driving hierarchy re-weighted with live speeds.
pub struct LiveHierarchy {
    /// Tile version it belongs to.
    pub version: String,
    /// The speeds it was customised with (km/h by packed edge): it is customised again
    /// only when one of them moves by more than [`CHANGE_SHARE`], appears or goes.
    pub speeds: FxHashMap<u64, f64>,
    pub contracted: Arc<routing::ch::Contracted>,
    /// How long the customisation took.
    pub seconds: f64,
    /// Edges whose weight traffic changed.
    pub edges: usize,
}

/// What [`customise`] did.
pub enum Customised {
    New(LiveHierarchy),
    /// The speeds are those of the current live hierarchy (or customising failed: the
    /// current one stays).
    Unchanged,
    /// Traffic knows no speed: plan on the stored hierarchy.
    None,
}

/// Re-weights the version's driving hierarchy with `view`'s speeds (live, else this hour's
/// profile): entering an edge costs its free-flow time scaled by free-flow over traffic
/// speed.
pub fn customise(
    tiles: &crate::tiles::RequestTiles<'_>,
    view: &LiveView,
    previous: Option<&LiveHierarchy>,
) -> Customised {
    use routing::{GraphId, Mode, TileSource};
    let version = tiles.version().name.clone();
    if view.speeds.version != version {
        return Customised::None;
    }
    let speeds: FxHashMap<u64, f64> = view
        .speeds
        .live
        .iter()
        .map(|(&e, l)| (e, l.speed_kmh))
        .chain(
            view.speeds
                .profile
                .iter()
                .filter(|(e, _)| !view.speeds.live.contains_key(e))
                .map(|(&e, &s)| (e, s)),
        )
        .filter(|(_, s)| *s > 0.0)
        .collect();
    if speeds.is_empty() {
        return Customised::None;
    }
    // Live speeds drift a little at every refresh (older samples weigh less); re-weighting
    // the whole hierarchy for that would keep a core busy for nothing.
    if previous.is_some_and(|p| p.version == version && !moved(&p.speeds, &speeds)) {
        return Customised::Unchanged;
    }
    let Some(base) = tiles.contracted(Mode::Driving) else {
        return Customised::None;
    };
    let factors: FxHashMap<u64, f64> = speeds
        .iter()
        .filter_map(|(&e, &s)| {
            let free = f64::from(tiles.edge(GraphId::from_packed(e))?.speed_kmh().max(1));
            Some((e, free / s))
        })
        .collect();
    let started = std::time::Instant::now();
    let customised = base.customise(|edge, ms| {
        factors
            .get(&edge.packed())
            .map_or(ms, |f| (ms as f64 * f).round() as usize)
    });
    match customised {
        Ok(contracted) => Customised::New(LiveHierarchy {
            version,
            contracted: Arc::new(contracted),
            seconds: started.elapsed().as_secs_f64(),
            edges: factors.len(),
            speeds,
        }),
        Err(err) => {
            tracing::warn!(error = %err, "customising the hierarchy for traffic");
            Customised::Unchanged
        }
    }
}

/// Relative speed change that counts as a change, for sessions and the live hierarchy.
const CHANGE_SHARE: f64 = 0.10;

/// Whether a speed is news against what was known: new, or moved by more than
/// [`CHANGE_SHARE`].
fn differs(was: Option<f64>, now: f64) -> bool {
    was.is_none_or(|was| (now - was).abs() > CHANGE_SHARE * was)
}

/// Whether an edge's speed appeared, went, or moved by more than [`CHANGE_SHARE`].
fn moved(before: &FxHashMap<u64, f64>, after: &FxHashMap<u64, f64>) -> bool {
    before.len() != after.len()
        || after
            .iter()
            .any(|(e, &now)| differs(before.get(e).copied(), now))
}

/// Edges whose speed appeared, went, or moved by more than 10% between two snapshots.
pub fn changed_edges(before: &LiveSpeeds, after: &LiveSpeeds) -> Vec<u64> {
    if before.version != after.version {
        let mut all: Vec<u64> = after.live.keys().copied().collect();
        all.sort_unstable();
        return all;
    }
    let mut changed: Vec<u64> = after
        .live
        .iter()
        .filter(|(e, now)| differs(before.live.get(e).map(|was| was.speed_kmh), now.speed_kmh))
        .map(|(&e, _)| e)
        .chain(
            before
                .live
                .keys()
                .filter(|e| !after.live.contains_key(e))
                .copied(),
        )
        .collect();
    changed.sort_unstable();
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hierarchy_is_customised_again_only_for_real_moves() {
        let speeds = |pairs: &[(u64, f64)]| pairs.iter().copied().collect::<FxHashMap<_, _>>();
        let before = speeds(&[(1, 50.0), (2, 30.0)]);
        assert!(!moved(&before, &speeds(&[(1, 54.0), (2, 28.0)])), "drift");
        assert!(
            moved(&before, &speeds(&[(1, 44.0), (2, 30.0)])),
            "a 12% drop"
        );
        assert!(moved(&before, &speeds(&[(1, 50.0)])), "an edge went");
        assert!(
            moved(&before, &speeds(&[(1, 50.0), (3, 30.0)])),
            "an edge swapped"
        );
        assert!(
            moved(&before, &speeds(&[(1, 50.0), (2, 30.0), (3, 9.0)])),
            "an edge came"
        );
    }

    fn snapshot(version: &str, speeds: &[(u64, f64)]) -> LiveSpeeds {
        LiveSpeeds {
            version: version.into(),
            live: speeds
                .iter()
                .map(|&(e, speed_kmh)| {
                    let speed = live::LiveSpeed {
                        speed_kmh,
                        samples: 5,
                        updated_at: 0,
                    };
                    (e, speed)
                })
                .collect(),
            ..LiveSpeeds::default()
        }
    }

    #[test]
    fn sessions_hear_of_moves_past_ten_percent_and_of_every_edge_on_a_new_version() {
        let before = snapshot("v1", &[(1, 50.0), (2, 30.0), (3, 20.0)]);
        let after = snapshot("v1", &[(1, 52.0), (2, 20.0), (4, 10.0)]);
        // 1 drifted 4%; 2 dropped a third; 3 went; 4 came.
        assert_eq!(changed_edges(&before, &after), vec![2, 3, 4]);
        assert!(changed_edges(&after, &after).is_empty());
        // Edge ids of another version mean other roads: every live edge is news.
        let switched = snapshot("v2", &[(1, 52.0), (7, 40.0)]);
        assert_eq!(changed_edges(&after, &switched), {
            let mut all: Vec<u64> = switched.live.keys().copied().collect();
            all.sort_unstable();
            all
        });
    }
}
