//! The routing layer: one channel per user (and per geohash cell for "nearby random
//! person"), behind one interface with two transports.
//!
//! - In process (embedded default): a publish is handed straight to the local subscribers.
//! - Redis: channels are spread over the servers of a consistent-hash [`Ring`]; a publish
//!   goes to the owner's server, and each process subscribes there.
//!
//! Either way the [`Hub`] holds, per channel, the local connections that want it. A process
//! keeps one Redis subscription per channel however many of its connections want it, so a
//! message crosses the network once per process and is fanned out here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{PushInfo, PushKind, Value};
use rustc_hash::{FxHashMap, FxHashSet};
use tokio::sync::mpsc;

use kit::runtime::Dedicated;

use crate::ring::Ring;

pub use hub::{ConnId, Control, Event, Hub, Inbox, Pending};

mod hub;

/// Why a publish failed.
#[derive(Debug, thiserror::Error)]
pub enum PubSubError {
    #[error("pub/sub server {server} is unavailable: {source}")]
    Redis {
        server: String,
        source: redis::RedisError,
    },
    #[error("pub/sub server {server} did not take the last publishes; it looks down")]
    Down { server: String },
    #[error("pub/sub server {server} is behind: {PUBLISH_QUEUE} publishes are waiting")]
    Backlog { server: String },
    #[error("the pub/sub ring has no servers")]
    EmptyRing,
}

/// The pub/sub layer of a process.
#[derive(Clone)]
pub struct PubSub {
    hub: Arc<Hub>,
    transport: Transport,
}

#[derive(Clone)]
enum Transport {
    /// Counts what it hands over; the Redis publishers count what the server took.
    InProcess {
        published: metrics::Counter,
    },
    Redis(Arc<RedisRing>),
}

impl PubSub {
    /// The in-process bus (one process only).
    pub fn in_process() -> PubSub {
        PubSub {
            hub: Arc::new(Hub::default()),
            transport: Transport::InProcess {
                published: metrics::counter!("friends_published_total"),
            },
        }
    }

    /// Redis servers on a consistent-hash ring with `vnodes` points each. Connections are
    /// made lazily, so a server that is down at start only fails its own channels.
    pub fn redis(servers: &[String], vnodes: u32) -> anyhow::Result<PubSub> {
        let hub = Arc::new(Hub::default());
        let ring = RedisRing::new(hub.clone(), vnodes, servers)?;
        let pubsub = PubSub {
            hub,
            transport: Transport::Redis(ring.clone()),
        };
        tokio::spawn(retry_failed_subscriptions(Arc::downgrade(&ring)));
        Ok(pubsub)
    }

    pub fn transport_name(&self) -> &'static str {
        match self.transport {
            Transport::InProcess { .. } => "in-process",
            Transport::Redis(_) => "redis-ring",
        }
    }

    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Adds a local subscriber of `channel`, subscribing this process when it is the first.
    /// A subscription that Redis refuses (server down) is retried in the background.
    pub async fn subscribe(&self, channel: &str, conn: ConnId, inbox: &Inbox) {
        if self.hub.add(channel, conn, inbox)
            && let Transport::Redis(ring) = &self.transport
        {
            ring.subscribe(channel).await;
        }
    }

    /// Removes a local subscriber, unsubscribing this process after the last.
    pub async fn unsubscribe(&self, channel: &str, conn: ConnId) {
        if self.hub.remove(channel, conn)
            && let Transport::Redis(ring) = &self.transport
        {
            ring.unsubscribe(channel).await;
        }
    }

    /// Never waits: in process the event is handed over, on Redis it is queued.
    pub fn publish(&self, channel: &str, event: &Event) -> Result<(), PubSubError> {
        match &self.transport {
            Transport::InProcess { published } => {
                published.increment(1);
                self.hub.deliver(channel, *event);
                Ok(())
            }
            Transport::Redis(ring) => ring.publish(channel, event),
        }
    }

    /// Publishes and waits until the server has taken the event: for events that must not
    /// be overtaken by later ones (an unfriend before the next location).
    pub async fn publish_confirmed(&self, channel: &str, event: &Event) -> Result<(), PubSubError> {
        match &self.transport {
            Transport::InProcess { .. } => self.publish(channel, event),
            Transport::Redis(ring) => ring.publish_confirmed(channel, event).await,
        }
    }

    /// Replaces the ring's membership (no-op in process), moving only the channels whose
    /// owner changed.
    pub async fn set_servers(&self, servers: &[String]) -> anyhow::Result<()> {
        match &self.transport {
            Transport::InProcess { .. } => Ok(()),
            Transport::Redis(ring) => ring.set_servers(servers).await,
        }
    }

    /// The ring's servers (empty in process).
    pub fn servers(&self) -> Vec<String> {
        match &self.transport {
            Transport::InProcess { .. } => Vec::new(),
            Transport::Redis(ring) => ring.state.load().ring.servers().to_vec(),
        }
    }

    /// Pings every ring server: `(server, error)` for those that did not answer.
    pub async fn unreachable_servers(&self) -> Vec<(String, String)> {
        let Transport::Redis(ring) = &self.transport else {
            return Vec::new();
        };
        let state = ring.state.load_full();
        let mut down = Vec::new();
        for (server, Server { conn, .. }) in &state.servers {
            let mut conn = conn.clone();
            let pong = ring
                .io
                .run(async move {
                    tokio::time::timeout(
                        Duration::from_secs(1),
                        redis::cmd("PING").query_async::<String>(&mut conn),
                    )
                    .await
                })
                .await;
            match pong {
                Ok(Ok(_)) => {}
                Ok(Err(err)) => down.push((server.clone(), err.to_string())),
                Err(_) => down.push((server.clone(), "timed out".into())),
            }
        }
        down
    }
}

/// The current ring and, per server, its connection and publisher.
struct RingState {
    ring: Ring,
    servers: FxHashMap<String, Server>,
}

#[derive(Clone)]
struct Server {
    conn: ConnectionManager,
    publisher: Publisher,
}

impl Server {
    fn connect(io: &Dedicated, url: &str, hub: &Arc<Hub>) -> anyhow::Result<Server> {
        let conn = connect(url, hub)?;
        let publisher = Publisher::spawn(io, url, conn.clone());
        Ok(Server { conn, publisher })
    }
}

/// Publishes waiting for one server, beyond which a publish fails at once.
const PUBLISH_QUEUE: usize = 8192;
/// Most publishes sent in one pipeline.
const PUBLISH_BATCH: usize = 256;

/// The publishes of one server, queued and sent in pipelines by one task: a burst of updates
/// costs one round trip, and no WebSocket waits for Redis to answer.
#[derive(Clone)]
struct Publisher {
    queue: mpsc::Sender<(String, Vec<u8>)>,
    /// Whether the last pipeline succeeded. While it did not, publishes still queue (one
    /// success brings the server back) but report the outage to the sender.
    up: Arc<AtomicBool>,
}

impl Publisher {
    fn spawn(io: &Dedicated, server: &str, conn: ConnectionManager) -> Publisher {
        let (queue, rx) = mpsc::channel(PUBLISH_QUEUE);
        let up = Arc::new(AtomicBool::new(true));
        io.spawn(run_publisher(server.to_string(), conn, rx, up.clone()));
        Publisher { queue, up }
    }
}

/// Ends when the server leaves the ring (its queue's senders are dropped).
async fn run_publisher(
    server: String,
    mut conn: ConnectionManager,
    mut queue: mpsc::Receiver<(String, Vec<u8>)>,
    up: Arc<AtomicBool>,
) {
    let published = metrics::counter!("friends_published_total");
    let failed = metrics::counter!("friends_publish_failed_total");
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    while queue.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        let n = batch.len() as u64;
        let mut pipe = redis::pipe();
        for (channel, payload) in batch.drain(..) {
            pipe.cmd("PUBLISH").arg(channel).arg(payload).ignore();
        }
        match pipe.query_async::<()>(&mut conn).await {
            Ok(()) => {
                published.increment(n);
                if !up.swap(true, Ordering::Relaxed) {
                    tracing::info!(%server, "pub/sub server takes publishes again");
                }
            }
            Err(err) => {
                failed.increment(n);
                if up.swap(false, Ordering::Relaxed) {
                    tracing::warn!(%server, error = %err, "publishing failed; live updates on its channels stop");
                }
            }
        }
    }
}

impl RingState {
    fn owner(&self, channel: &str) -> Option<(&str, ConnectionManager)> {
        let server = self.ring.owner(channel)?;
        self.servers.get(server).map(|s| (server, s.conn.clone()))
    }
}

struct RedisRing {
    hub: Arc<Hub>,
    vnodes: u32,
    state: ArcSwap<RingState>,
    /// Serialises membership changes.
    changing: tokio::sync::Mutex<()>,
    /// Channels wanted here whose subscription failed; retried every second.
    failed: Mutex<FxHashSet<Arc<str>>>,
    /// The Redis connections (their reader tasks, which also fan pushed messages out into
    /// the hub), the publishers and every command run here: on the WebSocket runtime they
    /// queued behind thousands of busy connection tasks, and under load Redis sat idle
    /// while replies timed out.
    io: Dedicated,
}

const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(2);

impl RedisRing {
    fn new(hub: Arc<Hub>, vnodes: u32, servers: &[String]) -> anyhow::Result<Arc<RedisRing>> {
        let io = Dedicated::start("pubsub-io")?;
        let mut by_url = FxHashMap::default();
        for url in servers {
            by_url.insert(url.clone(), Server::connect(&io, url, &hub)?);
        }
        Ok(Arc::new(RedisRing {
            hub,
            vnodes,
            state: ArcSwap::from_pointee(RingState {
                ring: Ring::new(servers, vnodes),
                servers: by_url,
            }),
            changing: tokio::sync::Mutex::new(()),
            failed: Mutex::new(FxHashSet::default()),
            io,
        }))
    }

    /// Records whether `channel`'s subscription failed; `true` when it had failed before.
    fn note_failed(&self, channel: &str, failed: bool) -> bool {
        let mut set = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        if failed {
            !set.insert(Arc::from(channel))
        } else {
            set.remove(channel)
        }
    }

    async fn subscribe(&self, channel: &str) {
        let state = self.state.load();
        let Some((server, mut conn)) = state.owner(channel) else {
            self.note_failed(channel, true);
            return;
        };
        let owned = channel.to_string();
        let result = self
            .io
            .run(
                async move { tokio::time::timeout(SUBSCRIBE_TIMEOUT, conn.subscribe(owned)).await },
            )
            .await;
        match result {
            Ok(Ok(())) => {
                if self.note_failed(channel, false) {
                    // Whatever was published while we were not subscribed is lost, an
                    // unfriend included: its subscribers reload their friends.
                    self.hub.resync_channel(channel);
                }
            }
            Ok(Err(err)) => {
                tracing::warn!(%server, %channel, error = %err, "subscribe failed; will retry");
                self.note_failed(channel, true);
            }
            Err(_) => {
                tracing::warn!(%server, %channel, "subscribe timed out; will retry");
                self.note_failed(channel, true);
            }
        }
    }

    async fn unsubscribe(&self, channel: &str) {
        self.note_failed(channel, false);
        let state = self.state.load();
        if let Some((_, mut conn)) = state.owner(channel) {
            let channel = channel.to_string();
            self.io
                .run(async move {
                    let _ =
                        tokio::time::timeout(SUBSCRIBE_TIMEOUT, conn.unsubscribe(channel)).await;
                })
                .await;
        }
    }

    /// Queues the publish; an error says the owner is down or far behind.
    fn publish(&self, channel: &str, event: &Event) -> Result<(), PubSubError> {
        let state = self.state.load();
        let server = state.ring.owner(channel).ok_or(PubSubError::EmptyRing)?;
        let publisher = &state
            .servers
            .get(server)
            .ok_or(PubSubError::EmptyRing)?
            .publisher;
        let payload = serde_json::to_vec(event).expect("events serialise");
        let server = || server.to_string();
        match publisher.queue.try_send((channel.to_string(), payload)) {
            Ok(()) if publisher.up.load(Ordering::Relaxed) => Ok(()),
            Ok(()) => Err(PubSubError::Down { server: server() }),
            Err(_) => Err(PubSubError::Backlog { server: server() }),
        }
    }

    async fn publish_confirmed(&self, channel: &str, event: &Event) -> Result<(), PubSubError> {
        let state = self.state.load();
        let (server, mut conn) = state.owner(channel).ok_or(PubSubError::EmptyRing)?;
        let payload = serde_json::to_vec(event).expect("events serialise");
        let command = redis::cmd("PUBLISH").arg(channel).arg(payload).clone();
        self.io
            .run(async move { command.query_async::<i64>(&mut conn).await })
            .await
            .map(|_| ())
            .map_err(|source| PubSubError::Redis {
                server: server.to_string(),
                source,
            })
    }

    async fn set_servers(&self, servers: &[String]) -> anyhow::Result<()> {
        let _guard = self.changing.lock().await;
        let old = self.state.load_full();
        let ring = Ring::new(servers, self.vnodes);
        if ring.servers() == old.ring.servers() {
            return Ok(());
        }
        let mut servers = FxHashMap::default();
        for url in ring.servers() {
            let server = match old.servers.get(url) {
                Some(server) => server.clone(),
                None => Server::connect(&self.io, url, &self.hub)?,
            };
            servers.insert(url.clone(), server);
        }
        let new = Arc::new(RingState { ring, servers });
        // Publish the new ring first: a subscriber added from now on picks the new owner,
        // and one added before is in the hub, so the loop below moves it.
        self.state.store(new.clone());
        let mut moved = 0usize;
        let mut leaving: Vec<(ConnectionManager, Arc<str>)> = Vec::new();
        for channel in self.hub.channel_names() {
            let before = old.ring.owner(&channel);
            let after = new.ring.owner(&channel);
            if before == after {
                continue;
            }
            moved += 1;
            self.subscribe(&channel).await;
            if let Some(server) = before.and_then(|b| old.servers.get(b)) {
                leaving.push((server.conn.clone(), channel));
            }
        }
        tracing::info!(
            servers = ?new.ring.servers(),
            moved,
            "pub/sub ring changed"
        );
        metrics::counter!("friends_ring_changes_total").increment(1);
        // The old owners may be dead: leave them in the background, without delaying anything.
        self.io.spawn(async move {
            for (mut conn, channel) in leaving {
                let _ = tokio::time::timeout(SUBSCRIBE_TIMEOUT, conn.unsubscribe(&*channel)).await;
            }
        });
        Ok(())
    }
}

async fn retry_failed_subscriptions(ring: std::sync::Weak<RedisRing>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let Some(ring) = ring.upgrade() else {
            return;
        };
        let failed: Vec<Arc<str>> = {
            let set = ring.failed.lock().unwrap_or_else(|e| e.into_inner());
            set.iter().cloned().collect()
        };
        for channel in failed {
            if ring.hub.wanted(&channel) {
                ring.subscribe(&channel).await;
            } else {
                ring.note_failed(&channel, false);
            }
        }
    }
}

/// A lazily connected RESP3 connection whose pushed messages go straight into the hub.
fn connect(server: &str, hub: &Arc<Hub>) -> anyhow::Result<ConnectionManager> {
    use anyhow::Context;
    // Pub/sub on a multiplexed connection needs RESP3 pushes.
    let url = if server.contains("protocol=") {
        server.to_string()
    } else if server.contains('?') {
        format!("{server}&protocol=resp3")
    } else {
        format!("{server}?protocol=resp3")
    };
    let client =
        redis::Client::open(url.as_str()).with_context(|| format!("parsing Redis URL {server}"))?;
    let hub = hub.clone();
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(500)))
        .set_response_timeout(Some(Duration::from_secs(1)))
        .set_number_of_retries(1)
        .set_push_sender(
            move |info: PushInfo| -> Result<(), std::convert::Infallible> {
                match info.kind {
                    PushKind::Message => {
                        if let [Value::BulkString(channel), Value::BulkString(payload)] =
                            &info.data[..]
                        {
                            hub.deliver_raw(channel, payload);
                        }
                    }
                    // Messages published until the automatic resubscription are lost, an
                    // unfriend among them maybe: every connection reloads its friends
                    // before it forwards again.
                    PushKind::Disconnection => hub.resync_all(),
                    _ => {}
                }
                Ok(())
            },
        )
        .set_automatic_resubscription();
    ConnectionManager::new_lazy_with_config(client, config)
        .with_context(|| format!("configuring the connection to {server}"))
}

/// The channel of a user's location.
pub fn user_channel(prefix: &str, user_id: i64) -> String {
    format!("{prefix}:u:{user_id}")
}

/// The channel of a user's friendship notices (requests, acceptances), which the user's own
/// connections hold.
pub fn notice_channel(prefix: &str, user_id: i64) -> String {
    format!("{prefix}:n:{user_id}")
}

/// The channel of a geohash cell ("nearby random person").
pub fn cell_channel(prefix: &str, cell: &str) -> String {
    format!("{prefix}:cell:{cell}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_process_fans_out_once_per_subscriber_and_stops_after_unsubscribe() {
        let pubsub = PubSub::in_process();
        let (tx1, mut rx1) = Inbox::new(10, 8);
        let (tx2, mut rx2) = Inbox::new(20, 8);
        pubsub.subscribe("c", 1, &tx1).await;
        pubsub.subscribe("c", 2, &tx2).await;
        pubsub.subscribe("c", 2, &tx2).await; // idempotent
        let event = location(1);
        pubsub.publish("c", &event).unwrap();
        assert_eq!(rx1.recv().await.unwrap(), event);
        assert_eq!(rx2.recv().await.unwrap(), event);
        assert!(rx2.try_recv().is_err(), "one delivery per connection");
        pubsub.unsubscribe("c", 1).await;
        pubsub.publish("c", &event).unwrap();
        assert!(rx1.try_recv().is_err());
        assert_eq!(rx2.recv().await.unwrap(), event);
        pubsub.unsubscribe("c", 2).await;
        assert_eq!(pubsub.hub().channel_count(), 0);
    }

    fn location(n: i64) -> Event {
        Event::Location {
            user_id: 1,
            latitude: n as f64,
            longitude: 0.0,
            timestamp: 1.0,
        }
    }

    #[tokio::test]
    async fn control_reaches_only_its_recipient_and_is_never_dropped() {
        let pubsub = PubSub::in_process();
        let (full, _rx_full) = Inbox::new(20, 2);
        let (other, _rx_other) = Inbox::new(30, 2);
        pubsub.subscribe("u:1", 1, &full).await;
        pubsub.subscribe("u:1", 2, &other).await;
        for n in 0..10 {
            pubsub.publish("u:1", &location(n)).unwrap();
        }
        // Data overflowed user 20's inbox; the unfriend is still delivered, to 20 only.
        let unfriend = Event::Unfriended {
            user_id: 1,
            friend_id: 20,
        };
        assert!(!full.control().revokes(&[1]));
        pubsub.publish_confirmed("u:1", &unfriend).await.unwrap();
        assert!(full.control().is_pending() && full.control().revokes(&[1]));
        assert!(
            !full.control().revokes(&[2]),
            "only a write carrying user 1 is at stake"
        );
        assert!(!other.control().is_pending(), "30 is not the recipient");
        let pending = full.control().take();
        assert_eq!(pending.events, vec![unfriend]);
        assert!(!pending.resync && !full.control().is_pending());

        // Beyond the queue's bound, control collapses into one resync: bounded, not lost.
        for n in 0..(hub::CONTROL_EVENTS as i64 + 5) {
            let notice = Event::Requested {
                user_id: 100 + n,
                friend_id: 20,
            };
            pubsub.publish("u:1", &notice).unwrap();
        }
        let pending = full.control().take();
        assert!(pending.resync && pending.events.is_empty(), "{pending:?}");

        // A lost connection to a pub/sub server makes everyone resync.
        pubsub.hub().resync_all();
        assert!(full.control().take().resync && other.control().take().resync);
    }

    #[test]
    fn events_round_trip_as_json() {
        let event = Event::Location {
            user_id: 7,
            latitude: 60.1,
            longitude: 24.9,
            timestamp: 1.5,
        };
        let bytes = serde_json::to_vec(&event).unwrap();
        assert_eq!(serde_json::from_slice::<Event>(&bytes).unwrap(), event);
    }
}
