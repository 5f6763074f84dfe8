//! Settings of the nearby-friends service. With defaults only, it runs alone on one machine:
//! in-process pub/sub and location cache, history in the SQL store.

/// Friends-specific settings (flattened into the binaries' configuration).
#[derive(clap::Args, Debug, Clone)]
pub struct FriendsConfig {
    /// Friends farther than this (metres, straight line) are not shown. Default 5 miles.
    #[arg(long, env = "FRIENDS_RADIUS_M", default_value_t = 8047.0)]
    pub friends_radius_m: f64,

    /// Inactivity timeout, seconds: a cached location expires this long after its last
    /// update, and a friend silent for this long is reported as `friend_left`.
    #[arg(long, env = "LOCATION_TTL_S", default_value_t = 600.0)]
    pub location_ttl_s: f64,

    /// Least time between two accepted location updates of one user, milliseconds; faster
    /// updates are dropped with an error frame.
    #[arg(long, env = "LOCATION_MIN_INTERVAL_MS", default_value_t = 1000)]
    pub location_min_interval_ms: u64,

    /// Location history older than this many days is deleted.
    #[arg(long, env = "HISTORY_RETENTION_DAYS", default_value_t = 30.0)]
    pub history_retention_days: f64,

    /// Location history is written in batches that start at most this often, milliseconds
    /// (reading or erasing history, and shutdown, write what is queued at once). Longer
    /// batches put more of a user's fixes on one index page: fewer page writes per fix.
    #[arg(long, env = "HISTORY_BATCH_MS", default_value_t = 1000)]
    pub history_batch_ms: u64,

    /// Redis servers of the pub/sub ring, comma-separated (`redis://host:port,...`). Unset:
    /// `REDIS_URL` alone when that is set, else the in-process bus (one process only).
    #[arg(long, env = "PUBSUB_REDIS_URLS")]
    pub pubsub_redis_urls: Option<String>,

    /// etcd endpoint (`http://host:2379`) holding the ring membership; when set, the ring is
    /// the JSON list of Redis URLs under `PUBSUB_RING_KEY`, watched for changes
    /// (`PUBSUB_REDIS_URLS` then only seeds an absent key).
    #[arg(long, env = "PUBSUB_ETCD_URL")]
    pub pubsub_etcd_url: Option<String>,

    /// etcd key of the ring membership.
    #[arg(long, env = "PUBSUB_RING_KEY", default_value = "/config/pub_sub_ring")]
    pub pubsub_ring_key: String,

    /// Virtual nodes per pub/sub server on the consistent-hash ring.
    #[arg(long, env = "PUBSUB_RING_VNODES", default_value_t = 160)]
    pub pubsub_ring_vnodes: u32,

    /// Redis servers of the location cache, comma-separated, sharded by user id. Unset: the
    /// common cache (`REDIS_URL`, or in-process).
    #[arg(long, env = "LOCATION_CACHE_URLS")]
    pub location_cache_urls: Option<String>,

    /// Least time between two writes to one WebSocket, milliseconds. Friends' moves that
    /// arrive sooner wait and leave together in one write: each write to a socket costs far
    /// more than its bytes (a system call and the TCP path on both ends). A move arriving
    /// after a quiet spell is written at once; replies to the client's own frames never wait.
    #[arg(long, env = "WS_WRITE_GAP_MS", default_value_t = 25)]
    pub ws_write_gap_ms: u64,

    /// Seconds between the server's pings on an otherwise quiet WebSocket.
    #[arg(long, env = "WS_PING_INTERVAL_S", default_value_t = 30.0)]
    pub ws_ping_interval_s: f64,

    /// A WebSocket from which nothing (no frame, no pong) has arrived for this many seconds
    /// is closed with "going away" (1001).
    #[arg(long, env = "WS_IDLE_TIMEOUT_S", default_value_t = 75.0)]
    pub ws_idle_timeout_s: f64,

    /// A write that the client has not taken within this many seconds (it does not read)
    /// ends the connection.
    #[arg(long, env = "WS_WRITE_TIMEOUT_S", default_value_t = 10.0)]
    pub ws_write_timeout_s: f64,

    /// Most WebSockets one user may hold open at once; one more is refused with 429.
    #[arg(long, env = "WS_MAX_PER_USER", default_value_t = 5)]
    pub ws_max_per_user: u32,

    /// "Nearby random person": an opted-in user's rounded position is shared about this
    /// often (seconds), at a random moment, not in step with their own updates.
    #[arg(long, env = "NEARBY_PERSON_INTERVAL_S", default_value_t = 30.0)]
    pub nearby_person_interval_s: f64,

    /// Seconds that open WebSockets are given after SIGTERM before they are closed with
    /// "going away" (1001).
    #[arg(long, env = "DRAIN_GRACE_S", default_value_t = 5.0)]
    pub drain_grace_s: f64,
}

impl Default for FriendsConfig {
    fn default() -> Self {
        FriendsConfig {
            friends_radius_m: 8047.0,
            location_ttl_s: 600.0,
            location_min_interval_ms: 1000,
            history_retention_days: 30.0,
            history_batch_ms: 1000,
            pubsub_redis_urls: None,
            pubsub_etcd_url: None,
            pubsub_ring_key: "/config/pub_sub_ring".into(),
            pubsub_ring_vnodes: 160,
            location_cache_urls: None,
            ws_write_gap_ms: 25,
            ws_ping_interval_s: 30.0,
            ws_idle_timeout_s: 75.0,
            ws_write_timeout_s: 10.0,
            ws_max_per_user: 5,
            nearby_person_interval_s: 30.0,
            drain_grace_s: 5.0,
        }
    }
}

impl FriendsConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.friends_radius_m.is_finite() && self.friends_radius_m > 0.0,
            "FRIENDS_RADIUS_M must be a positive number of metres"
        );
        anyhow::ensure!(
            self.location_ttl_s.is_finite() && self.location_ttl_s > 0.0,
            "LOCATION_TTL_S must be positive"
        );
        anyhow::ensure!(
            self.history_retention_days.is_finite() && self.history_retention_days > 0.0,
            "HISTORY_RETENTION_DAYS must be positive"
        );
        anyhow::ensure!(
            self.drain_grace_s.is_finite() && self.drain_grace_s >= 0.0,
            "DRAIN_GRACE_S must be zero or positive"
        );
        anyhow::ensure!(
            (1..=4096).contains(&self.pubsub_ring_vnodes),
            "PUBSUB_RING_VNODES must be within 1..=4096"
        );
        anyhow::ensure!(
            (1..=60_000).contains(&self.history_batch_ms),
            "HISTORY_BATCH_MS must be within 1..=60000"
        );
        anyhow::ensure!(
            self.ws_write_gap_ms <= 10_000,
            "WS_WRITE_GAP_MS must be at most 10000"
        );
        for (value, name) in [
            (self.ws_ping_interval_s, "WS_PING_INTERVAL_S"),
            (self.ws_idle_timeout_s, "WS_IDLE_TIMEOUT_S"),
            (self.ws_write_timeout_s, "WS_WRITE_TIMEOUT_S"),
            (self.nearby_person_interval_s, "NEARBY_PERSON_INTERVAL_S"),
        ] {
            anyhow::ensure!(
                value.is_finite() && (0.01..=86_400.0).contains(&value),
                "{name} must be within 0.01..=86400 seconds"
            );
        }
        anyhow::ensure!(
            self.ws_idle_timeout_s > self.ws_ping_interval_s,
            "WS_IDLE_TIMEOUT_S must be longer than WS_PING_INTERVAL_S, or every client would \
             time out between two pings"
        );
        anyhow::ensure!(
            self.ws_max_per_user >= 1,
            "WS_MAX_PER_USER must be at least 1"
        );
        Ok(())
    }

    pub fn history_batch(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.history_batch_ms)
    }

    pub fn write_gap(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.ws_write_gap_ms)
    }

    pub fn ws_ping_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.ws_ping_interval_s)
    }

    pub fn ws_idle_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.ws_idle_timeout_s)
    }

    pub fn ws_write_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.ws_write_timeout_s)
    }

    pub fn nearby_person_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.nearby_person_interval_s)
    }

    pub fn ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.location_ttl_s)
    }
}

/// A comma-separated URL list, trimmed, empty entries dropped.
pub fn url_list(text: Option<&str>) -> Vec<String> {
    text.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batching_and_pacing_settings_are_bounded() {
        let ok = FriendsConfig::default();
        ok.validate().unwrap();
        assert_eq!(ok.history_batch(), std::time::Duration::from_secs(1));
        assert_eq!(ok.write_gap(), std::time::Duration::from_millis(25));
        let unpaced = FriendsConfig {
            ws_write_gap_ms: 0,
            ..FriendsConfig::default()
        };
        unpaced.validate().unwrap();
        for (bad, name) in [
            (
                FriendsConfig {
                    history_batch_ms: 0,
                    ..FriendsConfig::default()
                },
                "HISTORY_BATCH_MS",
            ),
            (
                FriendsConfig {
                    ws_write_gap_ms: 10_001,
                    ..FriendsConfig::default()
                },
                "WS_WRITE_GAP_MS",
            ),
            (
                FriendsConfig {
                    ws_idle_timeout_s: 20.0,
                    ..FriendsConfig::default()
                },
                "WS_IDLE_TIMEOUT_S",
            ),
            (
                FriendsConfig {
                    ws_write_timeout_s: f64::NAN,
                    ..FriendsConfig::default()
                },
                "WS_WRITE_TIMEOUT_S",
            ),
            (
                FriendsConfig {
                    ws_max_per_user: 0,
                    ..FriendsConfig::default()
                },
                "WS_MAX_PER_USER",
            ),
        ] {
            let err = bad.validate().unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
        }
    }
}
