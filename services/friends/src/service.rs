//! The service state shared by REST handlers and WebSocket connections, its start-up
//! (choosing the pub/sub transport and the ring membership source) and its draining.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::FromRef;
use kit::Backends;
use kit::auth::Auth;
use kit::ops::{CheckStatus, Readiness};
use rustc_hash::FxHashMap;
use tokio::sync::watch;

use crate::config::{FriendsConfig, url_list};
use crate::discovery::{Etcd, parse_ring};
use crate::history::HistoryWriter;
use crate::locations::LocationCache;
use crate::pubsub::PubSub;

/// Everything a handler or connection needs; cheap to clone.
#[derive(Clone)]
pub struct FriendsState {
    inner: Arc<Inner>,
}

pub struct Inner {
    pub backends: Backends,
    pub config: FriendsConfig,
    pub pubsub: PubSub,
    pub locations: LocationCache,
    pub history: HistoryWriter,
    /// Prefix of channel names, so deployments can share Redis servers.
    pub prefix: String,
    next_conn: AtomicU64,
    /// Per user, when their last update was accepted (kept for one interval).
    recent_updates: kit::rate_limit::PerKeyInterval,
    /// Set at SIGTERM: no new connections.
    draining: watch::Sender<bool>,
    /// Set after the grace period: open connections close with "going away".
    closing: watch::Sender<bool>,
    open: AtomicUsize,
    /// Open WebSockets per user (users with none have no entry).
    per_user: Mutex<FxHashMap<i64, u32>>,
    pub(crate) counters: Counters,
}

/// A user's place under the per-user connection cap, given back when dropped.
pub struct UserSlot {
    state: FriendsState,
    user_id: i64,
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut per_user = self
            .state
            .per_user
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(open) = per_user.get_mut(&self.user_id) {
            *open -= 1;
            if *open == 0 {
                per_user.remove(&self.user_id);
            }
        }
    }
}

/// Handles of the counters bumped per update or per delivery, registered once: looking a
/// counter up by name on every delivery showed in profiles.
pub(crate) struct Counters {
    pub updates: metrics::Counter,
    pub rate_limited: metrics::Counter,
    pub deliveries: metrics::Counter,
    pub not_friend: metrics::Counter,
    /// Friend lists reloaded from SQL because control events may have been lost.
    pub resyncs: metrics::Counter,
    /// Connections dropped because a write was blocked when a friend was taken away.
    pub abandoned: metrics::Counter,
}

impl Counters {
    fn register() -> Counters {
        Counters {
            updates: metrics::counter!("friends_updates_total"),
            rate_limited: metrics::counter!("friends_updates_rate_limited_total"),
            deliveries: metrics::counter!("friends_deliveries_total"),
            not_friend: metrics::counter!("friends_events_dropped_total", "reason" => "not_friend"),
            resyncs: metrics::counter!("friends_resyncs_total"),
            abandoned: metrics::counter!("friends_connections_abandoned_total"),
        }
    }
}

impl std::ops::Deref for FriendsState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl FromRef<FriendsState> for Auth {
    fn from_ref(state: &FriendsState) -> Auth {
        state.backends.auth.clone()
    }
}

impl FriendsState {
    pub async fn build(backends: Backends, config: FriendsConfig) -> anyhow::Result<FriendsState> {
        config.validate()?;
        let prefix = backends.config.cache_prefix.clone();
        let pubsub = connect_pubsub(&backends, &config).await?;
        let locations = LocationCache::connect(
            &url_list(config.location_cache_urls.as_deref()),
            backends.cache.clone(),
            &prefix,
            config.ttl(),
        )
        .await?;
        let history = HistoryWriter::spawn(backends.db.clone(), config.history_batch())?;
        let recent_updates = kit::rate_limit::PerKeyInterval::new(Duration::from_millis(
            config.location_min_interval_ms,
        ));
        tracing::info!(
            pubsub = pubsub.transport_name(),
            servers = ?pubsub.servers(),
            location_cache = locations.backend_name(),
            location_cache_shards = locations.shard_count(),
            "nearby friends ready"
        );
        Ok(FriendsState {
            inner: Arc::new(Inner {
                backends,
                config,
                pubsub,
                locations,
                history,
                prefix,
                next_conn: AtomicU64::new(1),
                recent_updates,
                draining: watch::Sender::new(false),
                closing: watch::Sender::new(false),
                open: AtomicUsize::new(0),
                per_user: Mutex::new(FxHashMap::default()),
                counters: Counters::register(),
            }),
        })
    }

    /// Retention of the location history, swept at start and hourly.
    pub fn spawn_background(&self) {
        let state = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tick.tick().await;
                let swept = crate::store::sweep_history(
                    &state.backends.db,
                    state.config.history_retention_days,
                    crate::store::now_ms(),
                );
                match swept.await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(removed = n, "location history past retention"),
                    Err(err) => tracing::warn!(error = %err, "history retention sweep failed"),
                }
            }
        });
    }

    pub fn readiness(&self) -> Readiness {
        let mut readiness = Readiness::default();
        let state = self.clone();
        readiness.add(
            "pubsub",
            Arc::new(move || {
                let state = state.clone();
                Box::pin(async move {
                    if *state.draining.borrow() {
                        return CheckStatus::Down {
                            detail: "draining: not accepting connections".into(),
                        };
                    }
                    let servers = state.pubsub.servers().len();
                    let down = state.pubsub.unreachable_servers().await;
                    if down.is_empty() {
                        CheckStatus::Ok
                    } else if down.len() < servers {
                        CheckStatus::Degraded {
                            detail: format!("unreachable: {down:?}"),
                        }
                    } else {
                        CheckStatus::Down {
                            detail: format!("no pub/sub server answers: {down:?}"),
                        }
                    }
                })
            }),
        );
        readiness
    }

    pub(crate) fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether `user_id` may send an update now (and, if so, counts it).
    pub(crate) fn take_update_slot(&self, user_id: i64) -> bool {
        self.recent_updates.take(user_id).is_ok()
    }

    /// A place for one more WebSocket of `user_id`, unless they hold `WS_MAX_PER_USER`.
    pub fn user_slot(&self, user_id: i64) -> Option<UserSlot> {
        let mut per_user = self.per_user.lock().unwrap_or_else(|e| e.into_inner());
        let open = per_user.entry(user_id).or_insert(0);
        if *open >= self.config.ws_max_per_user {
            return None;
        }
        *open += 1;
        Some(UserSlot {
            state: self.clone(),
            user_id,
        })
    }

    pub fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }

    pub(crate) fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    pub(crate) fn connection_opened(&self) {
        self.open.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!("friends_connections").increment(1.0);
    }

    pub(crate) fn connection_closed(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!("friends_connections").decrement(1.0);
    }

    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Draining: refuse new connections at once, give open ones the grace period, close
    /// the rest with "going away", then write out queued history.
    pub async fn drain(&self) {
        self.draining.send_replace(true);
        let grace = Duration::from_secs_f64(self.config.drain_grace_s);
        tracing::info!(
            open = self.open_connections(),
            ?grace,
            "draining WebSockets"
        );
        let deadline = tokio::time::Instant::now() + grace;
        while self.open_connections() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.closing.send_replace(true);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.open_connections() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.history.flush().await;
        tracing::info!(left_open = self.open_connections(), "drained");
    }
}

/// In process unless Redis servers are configured; with etcd, the ring follows its key.
async fn connect_pubsub(backends: &Backends, config: &FriendsConfig) -> anyhow::Result<PubSub> {
    let mut servers = url_list(config.pubsub_redis_urls.as_deref());
    if servers.is_empty()
        && let Some(url) = backends
            .config
            .redis_url
            .as_deref()
            .filter(|u| !u.is_empty())
    {
        servers.push(url.to_string());
    }
    let Some(endpoint) = config.pubsub_etcd_url.as_deref().filter(|u| !u.is_empty()) else {
        if servers.is_empty() {
            return Ok(PubSub::in_process());
        }
        return PubSub::redis(&servers, config.pubsub_ring_vnodes);
    };
    use anyhow::Context;
    let etcd = Etcd::new(endpoint)?;
    let key = config.pubsub_ring_key.as_str();
    let stored = etcd
        .get(key)
        .await
        .with_context(|| format!("reading the ring from etcd at {endpoint}"))?;
    let ring = match stored {
        Some(value) => parse_ring(&value).with_context(|| format!("etcd key {key}"))?,
        None => {
            anyhow::ensure!(
                !servers.is_empty(),
                "etcd key {key} is absent and PUBSUB_REDIS_URLS does not seed it"
            );
            etcd.put(key, &serde_json::to_vec(&servers)?).await?;
            servers
        }
    };
    let pubsub = PubSub::redis(&ring, config.pubsub_ring_vnodes)?;
    let mut changes = etcd.watch(key);
    let follower = pubsub.clone();
    let key = key.to_string();
    tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            let value = changes.borrow_and_update().clone();
            let Some(value) = value else {
                tracing::warn!(%key, "ring key deleted; keeping the current ring");
                continue;
            };
            match parse_ring(&value) {
                Ok(servers) => {
                    if let Err(err) = follower.set_servers(&servers).await {
                        tracing::error!(error = %err, "applying the new ring failed");
                    }
                }
                Err(err) => tracing::error!(%key, error = %err, "ignoring an invalid ring"),
            }
        }
    });
    Ok(pubsub)
}
