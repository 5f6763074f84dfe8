//! The location stream between the location service and the traffic updater: Redis Streams
//! with a consumer group when `REDIS_URL` is set, an in-process queue otherwise.
//!
//! Delivery is at least once. With Redis, an instance acknowledges a batch only after its
//! fixes are in the history and its traversals in the traffic state; a batch whose consumer
//! died stays pending and another instance claims it once it has been idle for
//! `claim_idle`. Applying a batch twice is harmless: history rows and traffic samples are
//! keyed so a second write changes nothing. Both queues are bounded: past
//! [`MAX_BACKLOG_FIXES`] waiting fixes an append is refused (503), never silently dropped.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::{Mutex, mpsc};

use super::fixes::FixBatch;

/// Most fixes waiting in the stream (about 60 bytes each): 2 million is 20 s of the
/// 100,000 fixes/s the service is built for, and 120 MB.
pub const MAX_BACKLOG_FIXES: usize = 2_000_000;
/// The consumer group every instance's updater reads in.
const GROUP: &str = "traffic";
/// Longest a read waits for new entries before returning empty.
const BLOCK: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("the location stream is full ({0} fixes waiting)")]
    Full(usize),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// One batch as delivered: its stream id (for the acknowledgement) and the batch itself
/// (`None` when the bytes were not a batch: acknowledged and skipped).
pub struct Delivery {
    pub id: String,
    pub batch: Option<FixBatch>,
}

/// The producer side, cloned into every request.
#[derive(Clone)]
pub enum LocationStream {
    Local(Arc<LocalStream>),
    Redis(RedisStream),
}

pub struct LocalStream {
    tx: mpsc::UnboundedSender<FixBatch>,
    rx: Mutex<mpsc::UnboundedReceiver<FixBatch>>,
    waiting: AtomicUsize,
}

#[derive(Clone)]
pub struct RedisStream {
    /// Appends and acknowledgements (multiplexed).
    conn: ConnectionManager,
    /// Blocking reads get their own connection: a blocked read would hold up every other
    /// command multiplexed behind it.
    reader: Arc<Mutex<ConnectionManager>>,
    key: Arc<str>,
    consumer: Arc<str>,
    claim_idle: Duration,
    /// Fixes in entries not yet acknowledged by the group, as last measured.
    backlog: Arc<AtomicUsize>,
}

impl LocationStream {
    pub fn local() -> LocationStream {
        let (tx, rx) = mpsc::unbounded_channel();
        LocationStream::Local(Arc::new(LocalStream {
            tx,
            rx: Mutex::new(rx),
            waiting: AtomicUsize::new(0),
        }))
    }

    /// The stream `{prefix}:locations` on Redis at `url`, with the group created if absent;
    /// `consumer` names this instance within the group; others' batches idle for
    /// `claim_idle` are taken over.
    pub async fn redis(
        url: &str,
        prefix: &str,
        consumer: &str,
        claim_idle: Duration,
    ) -> anyhow::Result<LocationStream> {
        use anyhow::Context;
        let client = redis::Client::open(url).context("parsing REDIS_URL")?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(BLOCK + Duration::from_secs(4)));
        let conn = ConnectionManager::new_with_config(client.clone(), config.clone())
            .await
            .context("connecting to REDIS_URL for the location stream")?;
        let reader = ConnectionManager::new_with_config(client, config).await?;
        let stream = RedisStream {
            conn,
            reader: Arc::new(Mutex::new(reader)),
            key: Arc::from(format!("{prefix}:locations")),
            consumer: Arc::from(consumer),
            claim_idle,
            backlog: Arc::new(AtomicUsize::new(0)),
        };
        stream.create_group().await?;
        Ok(LocationStream::Redis(stream))
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            LocationStream::Local(_) => "in-process",
            LocationStream::Redis(_) => "redis",
        }
    }

    /// Appends a batch, unless the backlog is full.
    pub async fn append(&self, batch: &FixBatch) -> Result<(), StreamError> {
        match self {
            LocationStream::Local(local) => {
                let waiting = local
                    .waiting
                    .fetch_add(batch.fixes.len(), Ordering::Relaxed);
                if waiting + batch.fixes.len() > MAX_BACKLOG_FIXES {
                    local
                        .waiting
                        .fetch_sub(batch.fixes.len(), Ordering::Relaxed);
                    return Err(StreamError::Full(waiting));
                }
                // The receiver lives as long as the stream: sending cannot fail.
                let _ = local.tx.send(batch.clone());
                Ok(())
            }
            LocationStream::Redis(redis) => redis.append(batch).await,
        }
    }

    /// Up to `max` batches for this instance: first any it was given before and has not
    /// acknowledged, then batches idle past `claim_idle` at other consumers, then new
    /// ones (waiting up to a second for them).
    pub async fn read(&self, max: usize) -> Result<Vec<Delivery>, StreamError> {
        match self {
            LocationStream::Local(local) => {
                let mut rx = local.rx.lock().await;
                let mut out = Vec::new();
                if let Ok(Some(first)) = tokio::time::timeout(BLOCK, rx.recv()).await {
                    out.push(first);
                    while out.len() < max {
                        match rx.try_recv() {
                            Ok(batch) => out.push(batch),
                            Err(_) => break,
                        }
                    }
                }
                let fixes: usize = out.iter().map(|b| b.fixes.len()).sum();
                local.waiting.fetch_sub(fixes, Ordering::Relaxed);
                Ok(out
                    .into_iter()
                    .map(|batch| Delivery {
                        id: String::new(),
                        batch: Some(batch),
                    })
                    .collect())
            }
            LocationStream::Redis(redis) => redis.read(max).await,
        }
    }

    /// Acknowledges what [`LocationStream::read`] gave, once it is applied.
    pub async fn ack(&self, ids: &[String]) -> Result<(), StreamError> {
        match self {
            LocationStream::Local(_) => Ok(()),
            LocationStream::Redis(redis) => redis.ack(ids).await,
        }
    }

    /// Fixes waiting (the in-process queue) or not yet acknowledged (Redis, as last
    /// measured by [`LocationStream::maintain`]).
    pub fn backlog(&self) -> usize {
        match self {
            LocationStream::Local(local) => local.waiting.load(Ordering::Relaxed),
            LocationStream::Redis(redis) => redis.backlog.load(Ordering::Relaxed),
        }
    }

    /// Housekeeping, every second or so: measures the backlog and trims entries every
    /// consumer is done with.
    pub async fn maintain(&self) -> Result<(), StreamError> {
        match self {
            LocationStream::Local(_) => Ok(()),
            LocationStream::Redis(redis) => redis.maintain().await,
        }
    }
}

/// Average fixes per stream entry, for turning an entry count into fixes: measured by
/// sampling rather than kept exactly, which would cost a counter round trip per batch.
const FIXES_PER_ENTRY_GUESS: usize = 15;

type Fields = HashMap<String, Vec<u8>>;
type Entries = Vec<(String, Option<Fields>)>;

impl RedisStream {
    async fn create_group(&self) -> Result<(), StreamError> {
        let mut conn = self.conn.clone();
        let created: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&*self.key)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match created {
            Err(err) if err.code() == Some("BUSYGROUP") => Ok(()),
            other => Ok(other?),
        }
    }

    async fn append(&self, batch: &FixBatch) -> Result<(), StreamError> {
        let waiting = self.backlog.load(Ordering::Relaxed);
        if waiting + batch.fixes.len() > MAX_BACKLOG_FIXES {
            return Err(StreamError::Full(waiting));
        }
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("XADD")
            .arg(&*self.key)
            .arg("*")
            .arg("n")
            .arg(batch.fixes.len())
            .arg("b")
            .arg(batch.encode())
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn read(&self, max: usize) -> Result<Vec<Delivery>, StreamError> {
        let mut reader = self.reader.lock().await;
        // Our own unacknowledged entries first (after a failed apply, or a restart under
        // the same name), then other consumers' stale ones.
        let own: Option<Vec<(String, Entries)>> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(&*self.consumer)
            .arg("COUNT")
            .arg(max)
            .arg("STREAMS")
            .arg(&*self.key)
            .arg("0")
            .query_async(&mut *reader)
            .await?;
        let own = flatten(own);
        if !own.is_empty() {
            return Ok(deliveries(own));
        }
        let (_, claimed, _): (String, Entries, redis::Value) = redis::cmd("XAUTOCLAIM")
            .arg(&*self.key)
            .arg(GROUP)
            .arg(&*self.consumer)
            .arg(self.claim_idle.as_millis() as u64)
            .arg("0-0")
            .arg("COUNT")
            .arg(max)
            .query_async(&mut *reader)
            .await?;
        if !claimed.is_empty() {
            tracing::info!(
                entries = claimed.len(),
                "claimed location batches from a stalled consumer"
            );
            metrics::counter!("traffic_stream_claimed_total").increment(claimed.len() as u64);
            return Ok(deliveries(claimed));
        }
        let new: Option<Vec<(String, Entries)>> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(&*self.consumer)
            .arg("COUNT")
            .arg(max)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&*self.key)
            .arg(">")
            .query_async(&mut *reader)
            .await?;
        Ok(deliveries(flatten(new)))
    }

    async fn ack(&self, ids: &[String]) -> Result<(), StreamError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let _: usize = redis::cmd("XACK")
            .arg(&*self.key)
            .arg(GROUP)
            .arg(ids)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn maintain(&self) -> Result<(), StreamError> {
        let mut conn = self.conn.clone();
        let groups: Vec<HashMap<String, redis::Value>> = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(&*self.key)
            .query_async(&mut conn)
            .await?;
        let Some(group) = groups.iter().find(|g| {
            g.get("name")
                .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
                .as_deref()
                == Some(GROUP)
        }) else {
            return self.create_group().await;
        };
        let number = |field: &str| {
            group
                .get(field)
                .and_then(|v| redis::from_redis_value_ref::<u64>(v).ok())
                .unwrap_or(0) as usize
        };
        let entries = number("lag") + number("pending");
        self.backlog
            .store(entries * FIXES_PER_ENTRY_GUESS, Ordering::Relaxed);
        metrics::gauge!("traffic_stream_backlog_entries").set(entries as f64);
        // Entries before the oldest pending one and before the last delivered are done with.
        let last: String = group
            .get("last-delivered-id")
            .and_then(|v| redis::from_redis_value_ref(v).ok())
            .unwrap_or_else(|| "0-0".into());
        let (_, oldest, _, _): (u64, Option<String>, Option<String>, redis::Value) =
            redis::cmd("XPENDING")
                .arg(&*self.key)
                .arg(GROUP)
                .query_async(&mut conn)
                .await?;
        let floor = oldest.unwrap_or_else(|| next_id(&last));
        let _: usize = redis::cmd("XTRIM")
            .arg(&*self.key)
            .arg("MINID")
            .arg("~")
            .arg(floor)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }
}

/// The id right after `id` (`ms-seq`), so that trimming to it keeps nothing delivered.
fn next_id(id: &str) -> String {
    match id.split_once('-') {
        Some((ms, seq)) => match seq.parse::<u64>() {
            Ok(seq) => format!("{ms}-{}", seq + 1),
            Err(_) => id.to_string(),
        },
        None => id.to_string(),
    }
}

fn flatten(reply: Option<Vec<(String, Entries)>>) -> Entries {
    reply
        .unwrap_or_default()
        .into_iter()
        .flat_map(|(_, entries)| entries)
        .collect()
}

fn deliveries(entries: Entries) -> Vec<Delivery> {
    entries
        .into_iter()
        .map(|(id, fields)| Delivery {
            batch: fields.and_then(|f| f.get("b").and_then(|b| FixBatch::decode(b))),
            id,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_ids() {
        assert_eq!(next_id("1700000000000-7"), "1700000000000-8");
        assert_eq!(next_id("0-0"), "0-1");
    }
}
