//! Live edge speeds: the traffic state every navigation instance shares.
//!
//! The updater turns matched traversals into [`Sample`]s (an edge, when it was left, the
//! speed it was driven at). Samples are summed per edge and minute, and per edge and hour of
//! the week (the historical profile), in Redis when configured, else in process. The samples
//! of one location batch are added together under the batch's key, and a key already added
//! is refused whole (atomically, in one Redis script), so a batch applied twice
//! (at-least-once delivery) counts once. Keys are kept [`APPLIED_TTL`]: one marker per batch,
//! not per traversal, keeps that memory small.
//!
//! A [`LiveSpeeds`] snapshot is computed from the last [`WINDOW_MIN`] minutes: per edge, the
//! harmonic mean of its samples' speeds (the space-mean speed, what travel time depends on),
//! each minute weighted down with age (half-life [`HALF_LIFE_MIN`]), used once it rests on
//! at least [`MIN_SAMPLES`] traversals. Without enough recent samples an edge falls back to
//! its profile for this hour of the week, then to its free-flow speed. Samples are clamped
//! before they are summed, so one absurd fix cannot drag an edge far.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use redis::aio::ConnectionManager;
use rustc_hash::FxHashMap;

/// Minutes of samples a live speed is computed from.
pub const WINDOW_MIN: i64 = 15;
/// A minute's samples weigh half as much this many minutes later.
pub const HALF_LIFE_MIN: f64 = 5.0;
/// Traversals an edge needs within the window for a live speed.
pub const MIN_SAMPLES: u64 = 3;
/// Traversals an hour-of-week bucket needs before the profile is trusted.
pub const PROFILE_MIN_SAMPLES: u64 = 10;
/// Slowest and fastest speeds a sample may claim (km/h): a stop at a light is not 0 km/h
/// for a whole edge, and nothing drives faster than 1.5 times the limit for long.
const MIN_KMH: f64 = 2.0;
/// How long sample buckets are kept (a little past the window, for late batches).
const BUCKET_TTL: Duration = Duration::from_secs(30 * 60);
/// How long a batch's key is remembered: replays come from consumers that died within the
/// claim timeout, long before this.
pub const APPLIED_TTL: Duration = Duration::from_secs(30 * 60);
/// Batch keys the in-process store remembers (about 30 minutes at 100 batches a second).
const LOCAL_APPLIED: usize = 200_000;

/// How long the historical profile keeps an hour of the week nobody drove in again.
const PROFILE_TTL: Duration = Duration::from_secs(35 * 86_400);

/// One traversal of an edge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Packed `GraphId` of the directed edge, in the tile version `version` names.
    pub edge: u64,
    /// Who drove it when: the same traversal always gets the same id.
    pub id: u64,
    /// When the edge was left, Unix seconds.
    pub at_s: f64,
    pub speed_kmh: f64,
}

impl Sample {
    /// The sample with its speed clamped to what the edge allows (`free_flow_kmh`).
    pub fn clamped(mut self, free_flow_kmh: f64) -> Sample {
        self.speed_kmh = self
            .speed_kmh
            .clamp(MIN_KMH, (1.5 * free_flow_kmh).max(MIN_KMH + 1.0));
        self
    }
}

/// The traversal id: a hash of (user, edge, entry time to the millisecond).
pub fn traversal_id(user_id: i64, edge: u64, enter_s: f64) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    (user_id, edge, (enter_s * 1000.0).round() as i64).hash(&mut h);
    h.finish()
}

/// Sums of one edge in one bucket: traversals and the sum of their inverse speeds (h/km).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sums {
    pub n: u64,
    pub inverse: f64,
}

impl Sums {
    fn add(&mut self, other: Sums) {
        self.n += other.n;
        self.inverse += other.inverse;
    }
}

/// Hour of the week (0 = Monday 00:00-01:00 UTC) of a Unix time.
pub fn hour_of_week(at_s: f64) -> u32 {
    // 1970-01-01 was a Thursday: shift so that Monday is 0.
    let hours = (at_s / 3600.0).floor() as i64 + 3 * 24;
    hours.rem_euclid(168) as u32
}

fn minute(at_s: f64) -> i64 {
    (at_s / 60.0).floor() as i64
}

/// A speed derived from the state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveSpeed {
    pub speed_kmh: f64,
    /// Traversals it rests on (within the window).
    pub samples: u64,
    /// End of the newest minute with samples, Unix seconds.
    pub updated_at: i64,
}

/// What routes and `/v1/traffic` read: live speeds and this hour's profile, per edge.
#[derive(Debug, Clone, Default)]
pub struct LiveSpeeds {
    /// The tile version the edge ids belong to.
    pub version: String,
    pub live: FxHashMap<u64, LiveSpeed>,
    pub profile: FxHashMap<u64, f64>,
    /// When it was computed, Unix seconds.
    pub computed_at: f64,
}

impl LiveSpeeds {
    /// Computes live speeds at `now_s` from per-minute sums and this hour's profile sums.
    pub fn compute(
        version: &str,
        minutes: &BTreeMap<i64, FxHashMap<u64, Sums>>,
        profile: &FxHashMap<u64, Sums>,
        now_s: f64,
    ) -> LiveSpeeds {
        let now_min = minute(now_s);
        let mut acc: FxHashMap<u64, (f64, f64, u64, i64)> = FxHashMap::default();
        for (&m, edges) in minutes.range(now_min - WINDOW_MIN + 1..=now_min) {
            let weight = 0.5f64.powf((now_min - m) as f64 / HALF_LIFE_MIN);
            for (&edge, sums) in edges {
                let e = acc.entry(edge).or_default();
                e.0 += weight * sums.n as f64;
                e.1 += weight * sums.inverse;
                e.2 += sums.n;
                e.3 = e.3.max(m);
            }
        }
        let live = acc
            .into_iter()
            .filter(|(_, (_, inverse, n, _))| *n >= MIN_SAMPLES && *inverse > 0.0)
            .map(|(edge, (wn, winverse, n, m))| {
                let speed = LiveSpeed {
                    speed_kmh: wn / winverse,
                    samples: n,
                    updated_at: (m + 1) * 60,
                };
                (edge, speed)
            })
            .collect();
        let profile = profile_speeds(profile);
        LiveSpeeds {
            version: version.to_string(),
            live,
            profile,
            computed_at: now_s,
        }
    }

    /// The speed to use for `edge` now, when traffic knows better than free flow.
    pub fn speed_kmh(&self, edge: u64) -> Option<f64> {
        self.live
            .get(&edge)
            .map(|l| l.speed_kmh)
            .or_else(|| self.profile.get(&edge).copied())
    }
}

/// Harmonic-mean speeds of the edges whose profile rests on enough traversals.
fn profile_speeds(sums: &FxHashMap<u64, Sums>) -> FxHashMap<u64, f64> {
    sums.iter()
        .filter(|(_, s)| s.n >= PROFILE_MIN_SAMPLES && s.inverse > 0.0)
        .map(|(&edge, s)| (edge, s.n as f64 / s.inverse))
        .collect()
}

/// Where samples are summed.
pub enum SpeedStore {
    Local(Mutex<LocalSums>),
    Redis {
        conn: ConnectionManager,
        prefix: String,
        script: redis::Script,
    },
}

/// The in-process state: per-minute sums, the profile, and the batch keys applied.
#[derive(Default)]
pub struct LocalSums {
    version: String,
    minutes: BTreeMap<i64, FxHashMap<u64, Sums>>,
    profile: HashMap<u32, FxHashMap<u64, Sums>>,
    applied: HashSet<u64>,
    applied_order: VecDeque<u64>,
}

/// Adds one batch's samples (ARGV: bucket ttl, profile ttl, batch key, applied ttl, then per
/// sample: minute, edge, inverse speed, hour of week) to `KEYS[1]`'s hashes, unless the batch
/// key was added before.
const APPLY: &str = r"
local prefix = KEYS[1]
local ttl, pttl = tonumber(ARGV[1]), tonumber(ARGV[2])
if not redis.call('SET', prefix .. ':applied:' .. ARGV[3], 1, 'NX', 'EX', tonumber(ARGV[4])) then
  return 0
end
local added = 0
for i = 5, #ARGV, 4 do
  local m, edge, inv, how = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3]
  local bucket = prefix .. ':m:' .. m
  redis.call('HINCRBY', bucket, edge .. ':n', 1)
  redis.call('HINCRBYFLOAT', bucket, edge .. ':i', inv)
  redis.call('EXPIRE', bucket, ttl)
  local hist = prefix .. ':h:' .. how
  redis.call('HINCRBY', hist, edge .. ':n', 1)
  redis.call('HINCRBYFLOAT', hist, edge .. ':i', inv)
  redis.call('EXPIRE', hist, pttl)
  added = added + 1
end
return added
";

/// Samples per script call: a call blocks Redis while it runs.
const SAMPLES_PER_CALL: usize = 500;

impl SpeedStore {
    pub fn local() -> SpeedStore {
        SpeedStore::Local(Mutex::new(LocalSums::default()))
    }

    pub async fn redis(url: &str, prefix: &str) -> anyhow::Result<SpeedStore> {
        use anyhow::Context;
        let client = redis::Client::open(url).context("parsing REDIS_URL")?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(5)));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .context("connecting to REDIS_URL for the traffic state")?;
        Ok(SpeedStore::Redis {
            conn,
            prefix: format!("{prefix}:traffic"),
            script: redis::Script::new(APPLY),
        })
    }

    /// Adds the samples of the batch keyed `batch`, unless that batch was added before;
    /// returns how many samples were added.
    pub async fn apply(
        &self,
        version: &str,
        batch: u64,
        samples: &[Sample],
    ) -> redis::RedisResult<u64> {
        match self {
            SpeedStore::Local(sums) => {
                let mut sums = sums.lock().unwrap_or_else(|e| e.into_inner());
                Ok(sums.apply(version, batch, samples))
            }
            SpeedStore::Redis {
                conn,
                prefix,
                script,
            } => {
                let mut added = 0;
                // Each chunk is keyed on its own, so a replay after a death between two
                // chunks adds exactly the missing one.
                for (i, chunk) in samples.chunks(SAMPLES_PER_CALL).enumerate() {
                    let mut invocation = script.key(format!("{prefix}:{version}"));
                    invocation
                        .arg(BUCKET_TTL.as_secs())
                        .arg(PROFILE_TTL.as_secs())
                        .arg(format!("{batch}:{i}"))
                        .arg(APPLIED_TTL.as_secs());
                    for s in chunk {
                        invocation
                            .arg(minute(s.at_s))
                            .arg(s.edge)
                            .arg(1.0 / s.speed_kmh)
                            .arg(hour_of_week(s.at_s));
                    }
                    let mut conn = conn.clone();
                    let n: u64 = invocation.invoke_async(&mut conn).await?;
                    added += n;
                }
                Ok(added)
            }
        }
    }

    /// The typical speeds of hour of the week `how` (those resting on enough traversals).
    pub async fn profile(
        &self,
        version: &str,
        how: u32,
    ) -> redis::RedisResult<FxHashMap<u64, f64>> {
        let sums = match self {
            SpeedStore::Local(sums) => {
                let sums = sums.lock().unwrap_or_else(|e| e.into_inner());
                if sums.version == version {
                    sums.profile.get(&how).cloned().unwrap_or_default()
                } else {
                    FxHashMap::default()
                }
            }
            SpeedStore::Redis { conn, prefix, .. } => {
                let mut conn = conn.clone();
                let fields: HashMap<String, String> = redis::cmd("HGETALL")
                    .arg(format!("{prefix}:{version}:h:{how}"))
                    .query_async(&mut conn)
                    .await?;
                parse_sums(&fields)
            }
        };
        Ok(profile_speeds(&sums))
    }

    /// The current snapshot of `version` at `now_s`.
    pub async fn snapshot(&self, version: &str, now_s: f64) -> redis::RedisResult<LiveSpeeds> {
        let now_min = minute(now_s);
        match self {
            SpeedStore::Local(sums) => {
                let mut sums = sums.lock().unwrap_or_else(|e| e.into_inner());
                sums.expire(now_min);
                let minutes = sums.minutes.clone();
                let profile = sums
                    .profile
                    .get(&hour_of_week(now_s))
                    .cloned()
                    .unwrap_or_default();
                Ok(LiveSpeeds::compute(
                    &sums.version,
                    &minutes,
                    &profile,
                    now_s,
                ))
            }
            SpeedStore::Redis { conn, prefix, .. } => {
                let mut conn = conn.clone();
                let mut pipe = redis::pipe();
                for m in now_min - WINDOW_MIN + 1..=now_min {
                    pipe.cmd("HGETALL").arg(format!("{prefix}:{version}:m:{m}"));
                }
                pipe.cmd("HGETALL")
                    .arg(format!("{prefix}:{version}:h:{}", hour_of_week(now_s)));
                let mut replies: Vec<HashMap<String, String>> = pipe.query_async(&mut conn).await?;
                let profile = parse_sums(&replies.pop().unwrap_or_default());
                let minutes = (now_min - WINDOW_MIN + 1..=now_min)
                    .zip(replies.iter().map(parse_sums))
                    .collect();
                Ok(LiveSpeeds::compute(version, &minutes, &profile, now_s))
            }
        }
    }
}

/// Redis hash fields `{edge}:n` and `{edge}:i` back into sums.
fn parse_sums(fields: &HashMap<String, String>) -> FxHashMap<u64, Sums> {
    let mut out: FxHashMap<u64, Sums> = FxHashMap::default();
    for (field, value) in fields {
        let Some((edge, kind)) = field.split_once(':') else {
            continue;
        };
        let Ok(edge) = edge.parse::<u64>() else {
            continue;
        };
        let entry = out.entry(edge).or_default();
        match kind {
            "n" => entry.n = value.parse().unwrap_or(0),
            "i" => entry.inverse = value.parse().unwrap_or(0.0),
            _ => {}
        }
    }
    out
}

impl LocalSums {
    fn apply(&mut self, version: &str, batch: u64, samples: &[Sample]) -> u64 {
        if self.version != version {
            // A new tile version renumbers edges: what was summed no longer names them.
            *self = LocalSums {
                version: version.to_string(),
                ..LocalSums::default()
            };
        }
        if !self.applied.insert(batch) {
            return 0;
        }
        self.applied_order.push_back(batch);
        if self.applied_order.len() > LOCAL_APPLIED
            && let Some(old) = self.applied_order.pop_front()
        {
            self.applied.remove(&old);
        }
        let mut added = 0;
        for s in samples {
            let edges = self.minutes.entry(minute(s.at_s)).or_default();
            let sums = Sums {
                n: 1,
                inverse: 1.0 / s.speed_kmh,
            };
            edges.entry(s.edge).or_default().add(sums);
            self.profile
                .entry(hour_of_week(s.at_s))
                .or_default()
                .entry(s.edge)
                .or_default()
                .add(sums);
            added += 1;
        }
        added
    }

    /// Forgets minutes past the buckets' lifetime (bounds memory by the window).
    fn expire(&mut self, now_min: i64) {
        let keep_from = now_min - (BUCKET_TTL.as_secs() / 60) as i64;
        self.minutes = self.minutes.split_off(&keep_from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(edge: u64, id: u64, at_s: f64, kmh: f64) -> Sample {
        Sample {
            edge,
            id,
            at_s,
            speed_kmh: kmh,
        }
    }

    #[test]
    fn hours_of_the_week_start_on_monday() {
        // 2026-12-07 was a Monday.
        assert_eq!(hour_of_week(1_796_601_600.0), 0);
        assert_eq!(hour_of_week(1_796_601_600.0 + 3_599.0), 0);
        assert_eq!(
            hour_of_week(1_796_601_600.0 + 6.0 * 86_400.0 + 23.0 * 3600.0),
            167
        );
    }

    #[tokio::test]
    async fn replayed_samples_count_once_and_speeds_are_harmonic() {
        let store = SpeedStore::local();
        let now = 1_796_601_600.0;
        let samples = [
            sample(7, 1, now - 30.0, 10.0),
            sample(7, 2, now - 20.0, 30.0),
            sample(7, 3, now - 10.0, 30.0),
            sample(8, 4, now - 10.0, 50.0),
        ];
        assert_eq!(store.apply("v1", 1, &samples).await.unwrap(), 4);
        assert_eq!(
            store.apply("v1", 1, &samples).await.unwrap(),
            0,
            "a replayed batch"
        );
        let speeds = store.snapshot("v1", now).await.unwrap();
        let live = speeds.live[&7];
        assert_eq!(live.samples, 3);
        // Harmonic mean of 10, 30, 30 (same minute, same weight): 3 / (1/10 + 2/30) = 18.
        assert!((live.speed_kmh - 18.0).abs() < 1e-9, "{live:?}");
        // One traversal is not enough.
        assert!(!speeds.live.contains_key(&8));
        assert_eq!(speeds.speed_kmh(8), None);
    }

    #[tokio::test]
    async fn old_minutes_weigh_less_and_expire() {
        let store = SpeedStore::local();
        let now = 1_796_601_600.0;
        let mut samples = Vec::new();
        for i in 0..3 {
            samples.push(sample(1, i, now - 600.0, 10.0));
            samples.push(sample(1, 10 + i, now, 40.0));
        }
        store.apply("v1", 9, &samples).await.unwrap();
        let speed = store.snapshot("v1", now).await.unwrap().live[&1].speed_kmh;
        // Ten minutes old weighs a quarter: 3.75 / (0.075 + 0.075) = 25.
        assert!((speed - 25.0).abs() < 1e-9, "{speed}");
        let later = store.snapshot("v1", now + 3600.0).await.unwrap();
        assert!(later.live.is_empty());
    }

    #[test]
    fn clamping_bounds_absurd_samples() {
        let s = sample(1, 1, 0.0, 900.0).clamped(50.0);
        assert_eq!(s.speed_kmh, 75.0);
        assert_eq!(sample(1, 1, 0.0, 0.0).clamped(50.0).speed_kmh, MIN_KMH);
    }
}
