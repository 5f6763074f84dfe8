//! One WebSocket connection: the design's connection handler.
//!
//! It keeps the user's last location, their friend set and what it last heard from each
//! friend, so that every decision (forward or not, `friend_left`) is made here from local
//! state, without a round trip.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use futures::SinkExt;
use geo_core::{Cell, LatLon, haversine_m};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::locations::CachedLocation;
use crate::pubsub::{ConnId, Event, Inbox, cell_channel, user_channel};
use crate::service::FriendsState;
use crate::store::{self, HistoryPoint, HistoryRow};

/// Longest text frame we parse; larger ones get an error frame (the transport closes the
/// connection only beyond [`MAX_MESSAGE_BYTES`]).
pub const MAX_FRAME_TEXT: usize = 4 * 1024;
/// Largest message the transport accepts at all.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Events waiting for a slow client; beyond this they are dropped (updates are
/// at-most-once, the next one supersedes them).
const INBOX: usize = 64;
/// Geohash length of "nearby random person" cells (about 4.9 km x 4.9 km).
const CELL_LEN: u8 = 5;

/// What a client sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientFrame {
    Init {
        latitude: f64,
        longitude: f64,
        timestamp: Option<f64>,
        /// Opt in to "nearby random person".
        #[serde(default)]
        nearby_random: bool,
    },
    Location {
        latitude: f64,
        longitude: f64,
        timestamp: Option<f64>,
    },
    Subscribe {
        friend_id: i64,
    },
    Unsubscribe {
        friend_id: i64,
    },
}

/// A friend as the client sees it.
#[derive(Debug, Serialize)]
struct FriendView {
    user_id: i64,
    latitude: f64,
    longitude: f64,
    distance_m: f64,
    timestamp: f64,
}

/// What the server sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerFrame {
    NearbyFriends {
        friends: Vec<FriendView>,
    },
    FriendLocation(FriendView),
    FriendLeft {
        user_id: i64,
    },
    /// An opted-in stranger nearby: an anonymous per-connection session, never a user id,
    /// at a position rounded to about 100 m.
    NearbyPerson {
        session: String,
        latitude: f64,
        longitude: f64,
        distance_m: f64,
        timestamp: f64,
    },
    Error {
        status: u16,
        detail: String,
    },
}

impl ServerFrame {
    fn error(status: u16, detail: impl Into<String>) -> ServerFrame {
        ServerFrame::Error {
            status,
            detail: detail.into(),
        }
    }

    fn to_message(&self) -> Message {
        Message::Text(Utf8Bytes::from(
            serde_json::to_string(self).expect("frames serialise"),
        ))
    }
}

/// What a connection knows of one friend: one map entry, so that an event costs one lookup.
#[derive(Debug, Default)]
struct Friend {
    /// The last fix heard, until it is older than the inactivity timeout.
    heard: Option<Heard>,
    /// The client was last told this friend is within the radius (and not told otherwise
    /// since); only ever set while `heard` is.
    shown: bool,
}

impl Friend {
    /// Records whether the client shows this friend now (`view` within the radius, or not)
    /// and pushes what tells it: the view when it is `news` (a fresh fix) or newly in range,
    /// `friend_left` when the friend just left the range. `true` when a view was pushed.
    fn show(
        &mut self,
        id: i64,
        view: Option<FriendView>,
        news: bool,
        out: &mut Vec<ServerFrame>,
    ) -> bool {
        let was_shown = std::mem::replace(&mut self.shown, view.is_some());
        match view {
            Some(view) if news || !was_shown => {
                out.push(ServerFrame::FriendLocation(view));
                true
            }
            None if was_shown => {
                out.push(ServerFrame::FriendLeft { user_id: id });
                false
            }
            _ => false,
        }
    }
}

/// A connection's friends, sorted by id. With a few dozen entries a binary search costs
/// about what hashing does, and the memory is the entries alone: a hash map rounds up to a
/// power of two of buckets (32 for 20 friends), and friend state is most of what an idle
/// connection holds.
#[derive(Debug, Default)]
struct Friends(Vec<(i64, Friend)>);

impl Friends {
    fn new(ids: &[i64]) -> Friends {
        let mut entries: Vec<(i64, Friend)> =
            ids.iter().map(|&id| (id, Friend::default())).collect();
        entries.sort_unstable_by_key(|entry| entry.0);
        entries.dedup_by_key(|entry| entry.0);
        entries.shrink_to_fit();
        Friends(entries)
    }

    fn find(&self, id: i64) -> Result<usize, usize> {
        self.0.binary_search_by_key(&id, |entry| entry.0)
    }

    fn contains(&self, id: i64) -> bool {
        self.find(id).is_ok()
    }

    fn get_mut(&mut self, id: i64) -> Option<&mut Friend> {
        let at = self.find(id).ok()?;
        Some(&mut self.0[at].1)
    }

    /// Adds `id` (nothing heard yet) unless it is there.
    fn insert(&mut self, id: i64) {
        if let Err(at) = self.find(id) {
            self.0.insert(at, (id, Friend::default()));
        }
    }

    fn remove(&mut self, id: i64) -> Option<Friend> {
        let at = self.find(id).ok()?;
        Some(self.0.remove(at).1)
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = (i64, &mut Friend)> {
        self.0.iter_mut().map(|(id, friend)| (*id, friend))
    }

    fn into_ids(self) -> impl Iterator<Item = i64> {
        self.0.into_iter().map(|(id, _)| id)
    }
}

/// The last fix heard from a friend.
#[derive(Debug, Clone, Copy)]
struct Heard {
    at: LatLon,
    timestamp: f64,
    /// When it was written, on our clock (inactivity runs from here).
    seen: Instant,
}

impl Heard {
    /// A cached fix as if heard when it was written; `None` once it is older than `ttl`.
    fn from_cache(location: &CachedLocation, now_ms: i64, ttl: Duration) -> Option<Heard> {
        let age = Duration::from_millis((now_ms - location.written_ms).max(0) as u64);
        (age < ttl).then(|| Heard {
            at: LatLon {
                lat: location.latitude,
                lon: location.longitude,
            },
            timestamp: location.timestamp,
            seen: Instant::now().checked_sub(age).unwrap_or_else(Instant::now),
        })
    }
}

/// "Nearby random person" membership.
struct RandomState {
    session: u64,
    cell: Cell,
    channels: Vec<String>,
}

struct Connection {
    state: FriendsState,
    user_id: i64,
    id: ConnId,
    inbox: Inbox,
    here: Option<(LatLon, f64)>,
    friends: Friends,
    /// No heard friend expires before this; an early value only costs a spare wake-up, so
    /// it is lowered on insert and recomputed only when it fires (not on every event).
    deadline: Option<Instant>,
    random: Option<RandomState>,
    ttl: Duration,
    radius_m: f64,
}

/// Runs a connection until the client leaves or the server drains.
pub async fn run(state: FriendsState, mut socket: WebSocket, user_id: i64) {
    state.connection_opened();
    let (inbox, mut events) = mpsc::channel(INBOX);
    let mut closing = state.closing();
    let mut conn = Connection {
        id: state.next_conn_id(),
        ttl: state.config.ttl(),
        radius_m: state.config.friends_radius_m,
        state: state.clone(),
        user_id,
        inbox,
        here: None,
        friends: Friends::default(),
        deadline: None,
        random: None,
    };
    let mut out: Vec<ServerFrame> = Vec::new();
    // One timer for the connection's life, moved only when the deadline changes.
    let timer = tokio::time::sleep_until(far_future());
    tokio::pin!(timer);
    let mut armed: Option<Instant> = None;
    let mut writes = WritePacer::new(state.config.write_gap());
    let write_timer = tokio::time::sleep_until(far_future());
    tokio::pin!(write_timer);
    loop {
        if conn.deadline != armed {
            armed = conn.deadline;
            timer.as_mut().reset(armed.unwrap_or_else(far_future));
        }
        tokio::select! {
            frame = socket.recv() => {
                match frame {
                    Some(Ok(Message::Text(text))) => {
                        conn.on_text(&text, &mut out).await;
                        writes.reply();
                    }
                    Some(Ok(Message::Binary(_))) => {
                        out.push(ServerFrame::error(
                            400,
                            "frames must be text: one JSON object each",
                        ));
                        writes.reply();
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Err(err)) => {
                        tracing::debug!(user_id, error = %err, "websocket read failed");
                        break;
                    }
                }
            }
            Some(event) = events.recv() => {
                // One clock reading for the whole batch: they all arrived by now.
                let now = Instant::now();
                conn.on_event(event, now, &mut out).await;
                // Drain what else is ready so that one flush carries many frames.
                for _ in 0..INBOX {
                    match events.try_recv() {
                        Ok(event) => conn.on_event(event, now, &mut out).await,
                        Err(_) => break,
                    }
                }
            }
            () = &mut timer, if armed.is_some() => {
                conn.expire(&mut out);
                armed = None;
            }
            () = &mut write_timer, if writes.waiting() => writes.due(),
            _ = closing.changed() => {
                if !out.is_empty() {
                    let _ = send_all(&mut socket, &mut out).await;
                }
                let _ = socket
                    .send(Message::Close(Some(CloseFrame {
                        code: close_code::AWAY,
                        reason: Utf8Bytes::from_static("server is going away; reconnect"),
                    })))
                    .await;
                break;
            }
        }
        if out.is_empty() {
            continue;
        }
        match writes.next(out.len()) {
            Write::Now => {
                if send_all(&mut socket, &mut out).await.is_err() {
                    break;
                }
            }
            Write::At(at) => write_timer.as_mut().reset(at),
            Write::Pending => {}
        }
    }
    conn.leave().await;
    state.connection_closed();
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// Frames a write may carry before it goes out regardless of the gap.
const WRITE_FRAMES: usize = 128;

/// When the frames waiting for a connection are written: at most one write per `gap`, except
/// for replies to the client's own frames, which go at once.
struct WritePacer {
    gap: Duration,
    last: Option<Instant>,
    /// A write is scheduled for then.
    scheduled: Option<Instant>,
    reply: bool,
}

enum Write {
    Now,
    /// Arm the write timer for then.
    At(Instant),
    /// The timer is already armed.
    Pending,
}

impl WritePacer {
    fn new(gap: Duration) -> WritePacer {
        WritePacer {
            gap,
            last: None,
            scheduled: None,
            reply: false,
        }
    }

    /// The client is waiting for an answer to its own frame.
    fn reply(&mut self) {
        self.reply = true;
    }

    fn waiting(&self) -> bool {
        self.scheduled.is_some()
    }

    /// The scheduled write's time has come.
    fn due(&mut self) {
        self.scheduled = None;
        self.last = None;
    }

    /// What to do with `frames` waiting frames; `Now` means the caller writes them now.
    fn next(&mut self, frames: usize) -> Write {
        let now = Instant::now();
        let reply = std::mem::take(&mut self.reply);
        let free = self.last.is_none_or(|last| now >= last + self.gap);
        if free || reply || frames >= WRITE_FRAMES {
            self.last = Some(now);
            self.scheduled = None;
            return Write::Now;
        }
        match self.scheduled {
            Some(_) => Write::Pending,
            None => {
                let at = self.last.map_or(now, |last| last + self.gap);
                self.scheduled = Some(at);
                Write::At(at)
            }
        }
    }
}

async fn send_all(socket: &mut WebSocket, out: &mut Vec<ServerFrame>) -> Result<(), axum::Error> {
    for frame in out.drain(..) {
        socket.feed(frame.to_message()).await?;
    }
    socket.flush().await
}

fn validate_fix(
    latitude: f64,
    longitude: f64,
    timestamp: Option<f64>,
) -> Result<(LatLon, f64), String> {
    if !latitude.is_finite() || !(-90.0..=90.0).contains(&latitude) {
        return Err("latitude must be within [-90, 90]".into());
    }
    if !longitude.is_finite() || !(-180.0..=180.0).contains(&longitude) {
        return Err("longitude must be within [-180, 180]".into());
    }
    let now = store::now_ms() as f64 / 1000.0;
    let timestamp = timestamp.unwrap_or(now);
    if !timestamp.is_finite() || timestamp < 0.0 || timestamp > now + 86_400.0 {
        return Err("timestamp must be Unix seconds, not more than a day ahead".into());
    }
    Ok((
        LatLon {
            lat: latitude,
            lon: longitude,
        },
        timestamp,
    ))
}

/// `friend`'s fix as the client sees it, when within `radius_m` of `here`.
fn near(here: LatLon, radius_m: f64, friend: i64, heard: &Heard) -> Option<FriendView> {
    let distance = haversine_m(here, heard.at);
    (distance <= radius_m).then(|| FriendView {
        user_id: friend,
        latitude: heard.at.lat,
        longitude: heard.at.lon,
        distance_m: round_dm(distance),
        timestamp: heard.timestamp,
    })
}

/// Distances are reported to the decimetre.
fn round_dm(metres: f64) -> f64 {
    (metres * 10.0).round() / 10.0
}

impl Connection {
    fn channel(&self, user_id: i64) -> String {
        user_channel(&self.state.prefix, user_id)
    }

    async fn on_text(&mut self, text: &str, out: &mut Vec<ServerFrame>) {
        if text.len() > MAX_FRAME_TEXT {
            out.push(ServerFrame::error(
                413,
                format!(
                    "frame too large: {} bytes, at most {MAX_FRAME_TEXT}",
                    text.len()
                ),
            ));
            return;
        }
        let frame = match serde_json::from_str::<ClientFrame>(text) {
            Ok(frame) => frame,
            Err(err) => {
                out.push(ServerFrame::error(400, format!("invalid frame: {err}")));
                return;
            }
        };
        match frame {
            ClientFrame::Init {
                latitude,
                longitude,
                timestamp,
                nearby_random,
            } => {
                self.init(latitude, longitude, timestamp, nearby_random, out)
                    .await
            }
            ClientFrame::Location {
                latitude,
                longitude,
                timestamp,
            } => self.location(latitude, longitude, timestamp, out).await,
            ClientFrame::Subscribe { friend_id } => self.subscribe(friend_id, out).await,
            ClientFrame::Unsubscribe { friend_id } => self.unsubscribe(friend_id, out).await,
        }
    }

    async fn init(
        &mut self,
        latitude: f64,
        longitude: f64,
        timestamp: Option<f64>,
        nearby_random: bool,
        out: &mut Vec<ServerFrame>,
    ) {
        if self.here.is_some() {
            out.push(ServerFrame::error(
                409,
                "init was already received; send location",
            ));
            return;
        }
        let fix = match validate_fix(latitude, longitude, timestamp) {
            Ok(fix) => fix,
            Err(detail) => return out.push(ServerFrame::error(400, detail)),
        };
        let friend_ids = match store::friend_ids(&self.state.backends.db, self.user_id).await {
            Ok(ids) => ids,
            Err(err) => {
                tracing::warn!(error = %err, "loading friends failed");
                return out.push(ServerFrame::error(
                    503,
                    "the user database is unavailable; retry init",
                ));
            }
        };
        self.state.take_update_slot(self.user_id);
        self.here = Some(fix);
        self.store_fix(fix).await;
        self.friends = Friends::new(&friend_ids);
        let cached = match self.state.locations.get_many(&friend_ids).await {
            Ok(cached) => cached,
            Err(err) => {
                // The cache refills from updates; meanwhile friends appear as they move.
                tracing::warn!(error = %err, "reading friends' cached locations failed");
                vec![None; friend_ids.len()]
            }
        };
        let now_ms = store::now_ms();
        let mut nearby = Vec::new();
        for (&friend, location) in friend_ids.iter().zip(cached) {
            let Some(heard) = location.and_then(|l| Heard::from_cache(&l, now_ms, self.ttl)) else {
                continue;
            };
            let view = self.view_if_near(friend, &heard);
            self.hear(friend, heard, view.is_some());
            nearby.extend(view);
        }
        nearby.sort_by(|a, b| {
            a.distance_m
                .total_cmp(&b.distance_m)
                .then(a.user_id.cmp(&b.user_id))
        });
        out.push(ServerFrame::NearbyFriends { friends: nearby });
        for &friend in &friend_ids {
            let channel = self.channel(friend);
            self.state
                .pubsub
                .subscribe(&channel, self.id, &self.inbox)
                .await;
        }
        if nearby_random {
            self.join_cells(fix.0).await;
        }
        self.publish_fix(fix, out);
    }

    async fn location(
        &mut self,
        latitude: f64,
        longitude: f64,
        timestamp: Option<f64>,
        out: &mut Vec<ServerFrame>,
    ) {
        if self.here.is_none() {
            return out.push(ServerFrame::error(400, "send init before location updates"));
        }
        let fix = match validate_fix(latitude, longitude, timestamp) {
            Ok(fix) => fix,
            Err(detail) => return out.push(ServerFrame::error(400, detail)),
        };
        if !self.state.take_update_slot(self.user_id) {
            self.state.counters.rate_limited.increment(1);
            return out.push(ServerFrame::error(
                429,
                format!(
                    "location updates are limited to one per {} ms; this one was dropped",
                    self.state.config.location_min_interval_ms
                ),
            ));
        }
        self.here = Some(fix);
        self.store_fix(fix).await;
        // Having moved, friends we already know about may have come within or left the radius.
        let (here, radius_m) = (fix.0, self.radius_m);
        for (id, friend) in self.friends.iter_mut() {
            if let Some(heard) = friend.heard {
                // A friend standing still is not news: only transitions are reported.
                friend.show(id, near(here, radius_m, id, &heard), false, out);
            }
        }
        if self
            .random
            .as_ref()
            .is_some_and(|r| r.cell != Cell::containing(fix.0, CELL_LEN))
        {
            self.leave_cells().await;
            self.join_cells(fix.0).await;
        }
        self.publish_fix(fix, out);
    }

    /// History and cache: both are best effort and never block the live path for long.
    async fn store_fix(&self, (at, timestamp): (LatLon, f64)) {
        let now_ms = store::now_ms();
        self.state.history.append(HistoryRow {
            user_id: self.user_id,
            point: HistoryPoint {
                latitude: at.lat,
                longitude: at.lon,
                timestamp,
            },
            received_ms: now_ms,
        });
        let cached = CachedLocation {
            latitude: at.lat,
            longitude: at.lon,
            timestamp,
            written_ms: now_ms,
        };
        if let Err(err) = self.state.locations.set(self.user_id, cached).await {
            tracing::debug!(error = %err, "location cache write failed");
        }
        self.state.counters.updates.increment(1);
    }

    fn publish_fix(&self, (at, timestamp): (LatLon, f64), out: &mut Vec<ServerFrame>) {
        let event = Event::Location {
            user_id: self.user_id,
            latitude: at.lat,
            longitude: at.lon,
            timestamp,
        };
        if let Err(err) = self
            .state
            .pubsub
            .publish(&self.channel(self.user_id), &event)
        {
            // The publisher logs the outage once; a line per update would flood the log.
            tracing::debug!(error = %err, "publishing a location failed");
            out.push(ServerFrame::error(
                503,
                "live updates are unavailable right now; your location was saved",
            ));
        }
        if let Some(random) = &self.random {
            let event = Event::Person {
                session: random.session,
                // Strangers get about 100 m of precision, never the exact fix.
                latitude: (at.lat * 1000.0).round() / 1000.0,
                longitude: (at.lon * 1000.0).round() / 1000.0,
                timestamp,
            };
            let channel = cell_channel(&self.state.prefix, &random.cell.to_string());
            let _ = self.state.pubsub.publish(&channel, &event);
        }
    }

    async fn subscribe(&mut self, friend_id: i64, out: &mut Vec<ServerFrame>) {
        if self.here.is_none() {
            return out.push(ServerFrame::error(400, "send init before subscribe"));
        }
        match store::are_friends(&self.state.backends.db, self.user_id, friend_id).await {
            Ok(true) => {}
            Ok(false) => {
                return out.push(ServerFrame::error(
                    403,
                    format!("user {friend_id} is not your friend"),
                ));
            }
            Err(err) => {
                tracing::warn!(error = %err, "checking a friendship failed");
                return out.push(ServerFrame::error(503, "the user database is unavailable"));
            }
        }
        self.friends.insert(friend_id);
        let channel = self.channel(friend_id);
        self.state
            .pubsub
            .subscribe(&channel, self.id, &self.inbox)
            .await;
        if let Ok(cached) = self.state.locations.get_many(&[friend_id]).await
            && let Some(Some(location)) = cached.first()
            && let Some(heard) = Heard::from_cache(location, store::now_ms(), self.ttl)
        {
            let view = self.view_if_near(friend_id, &heard);
            if let Some(friend) = self.friends.get_mut(friend_id) {
                friend.heard = Some(heard);
                // The reply is due even if the friend was already shown.
                friend.show(friend_id, view, true, out);
                self.lower_deadline(heard.seen);
            }
        }
    }

    async fn unsubscribe(&mut self, friend_id: i64, out: &mut Vec<ServerFrame>) {
        if !self.friends.contains(friend_id) {
            return out.push(ServerFrame::error(
                404,
                format!("not subscribed to user {friend_id}"),
            ));
        }
        self.drop_friend(friend_id, out).await;
    }

    async fn drop_friend(&mut self, friend_id: i64, out: &mut Vec<ServerFrame>) {
        let was_shown = self.friends.remove(friend_id).is_some_and(|f| f.shown);
        let channel = self.channel(friend_id);
        self.state.pubsub.unsubscribe(&channel, self.id).await;
        if was_shown {
            out.push(ServerFrame::FriendLeft { user_id: friend_id });
        }
    }

    async fn on_event(&mut self, event: Event, now: Instant, out: &mut Vec<ServerFrame>) {
        match event {
            Event::Location {
                user_id,
                latitude,
                longitude,
                timestamp,
            } => {
                let heard = Heard {
                    at: LatLon {
                        lat: latitude,
                        lon: longitude,
                    },
                    timestamp,
                    seen: now,
                };
                self.forward(user_id, heard, out);
            }
            Event::Unfriended { user_id, friend_id } => {
                if friend_id == self.user_id && self.friends.contains(user_id) {
                    self.drop_friend(user_id, out).await;
                }
            }
            Event::Person {
                session,
                latitude,
                longitude,
                timestamp,
            } => {
                let (Some(random), Some((here, _))) = (&self.random, self.here) else {
                    return;
                };
                if session == random.session {
                    return;
                }
                let at = LatLon {
                    lat: latitude,
                    lon: longitude,
                };
                let distance = haversine_m(here, at);
                if distance <= self.radius_m {
                    out.push(ServerFrame::NearbyPerson {
                        session: format!("{session:016x}"),
                        latitude,
                        longitude,
                        distance_m: round_dm(distance),
                        timestamp,
                    });
                }
            }
        }
    }

    /// A friend moved: forward when within the radius, `friend_left` when they just left it.
    fn forward(&mut self, id: i64, heard: Heard, out: &mut Vec<ServerFrame>) {
        // Checked again here, not only at subscription: an unfriend takes effect at once
        // even if this process still holds the channel for someone else.
        let (Some(friend), Some((here, _))) = (self.friends.get_mut(id), self.here) else {
            self.state.counters.not_friend.increment(1);
            return;
        };
        if id == self.user_id {
            self.state.counters.not_friend.increment(1);
            return;
        }
        friend.heard = Some(heard);
        if friend.show(id, near(here, self.radius_m, id, &heard), true, out) {
            self.state.counters.deliveries.increment(1);
        }
        self.lower_deadline(heard.seen);
    }

    fn view_if_near(&self, friend: i64, heard: &Heard) -> Option<FriendView> {
        near(self.here?.0, self.radius_m, friend, heard)
    }

    /// Records a friend's fix (the friend must be known) and whether the client now shows it.
    fn hear(&mut self, id: i64, heard: Heard, shown: bool) {
        if let Some(friend) = self.friends.get_mut(id) {
            friend.heard = Some(heard);
            friend.shown = shown;
            self.lower_deadline(heard.seen);
        }
    }

    fn lower_deadline(&mut self, seen: Instant) {
        let expires = seen + self.ttl;
        if self.deadline.is_none_or(|d| expires < d) {
            self.deadline = Some(expires);
        }
    }

    /// Friends silent for the inactivity timeout are gone.
    fn expire(&mut self, out: &mut Vec<ServerFrame>) {
        let now = Instant::now();
        let ttl = self.ttl;
        let mut deadline: Option<Instant> = None;
        for (id, friend) in self.friends.iter_mut() {
            let Some(heard) = friend.heard else { continue };
            let expires = heard.seen + ttl;
            if expires > now {
                deadline = Some(deadline.map_or(expires, |d| d.min(expires)));
                continue;
            }
            friend.heard = None;
            if std::mem::take(&mut friend.shown) {
                out.push(ServerFrame::FriendLeft { user_id: id });
            }
        }
        self.deadline = deadline;
    }

    async fn join_cells(&mut self, at: LatLon) {
        let cell = Cell::containing(at, CELL_LEN);
        let mut cells = vec![cell];
        cells.extend(cell.neighbours());
        let channels: Vec<String> = cells
            .iter()
            .map(|c| cell_channel(&self.state.prefix, &c.to_string()))
            .collect();
        for channel in &channels {
            self.state
                .pubsub
                .subscribe(channel, self.id, &self.inbox)
                .await;
        }
        let session = match &self.random {
            Some(random) => random.session,
            None => rand::random(),
        };
        self.random = Some(RandomState {
            session,
            cell,
            channels,
        });
    }

    async fn leave_cells(&mut self) {
        if let Some(random) = &self.random {
            for channel in &random.channels {
                self.state.pubsub.unsubscribe(channel, self.id).await;
            }
        }
    }

    async fn leave(&mut self) {
        for friend in std::mem::take(&mut self.friends).into_ids() {
            let channel = self.channel(friend);
            self.state.pubsub.unsubscribe(&channel, self.id).await;
        }
        self.leave_cells().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_and_reject_clearly() {
        let init: ClientFrame = serde_json::from_str(
            r#"{"type":"init","latitude":1.0,"longitude":2.0,"timestamp":3.0}"#,
        )
        .unwrap();
        assert!(matches!(
            init,
            ClientFrame::Init {
                nearby_random: false,
                ..
            }
        ));
        let err = serde_json::from_str::<ClientFrame>(r#"{"type":"teleport"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `teleport`"), "{err}");
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"subscribe"}"#).is_err());
        assert!(validate_fix(91.0, 0.0, None).is_err());
        assert!(validate_fix(0.0, f64::NAN, None).is_err());
        assert!(validate_fix(0.0, 0.0, Some(-1.0)).is_err());
        assert!(validate_fix(0.0, 0.0, Some(1.7e9)).is_ok());
    }

    #[test]
    fn friends_are_a_sorted_set_of_ids() {
        let mut friends = Friends::new(&[30, 10, 20, 10]);
        assert_eq!(friends.0.len(), 3, "duplicates collapse");
        assert!(friends.contains(10) && friends.contains(30) && !friends.contains(15));
        friends.insert(15);
        friends.insert(15);
        friends.get_mut(15).unwrap().shown = true;
        assert!(friends.get_mut(99).is_none());
        assert!(friends.remove(15).unwrap().shown);
        assert!(friends.remove(15).is_none());
        friends.insert(5);
        let ids: Vec<i64> = friends.iter_mut().map(|(id, _)| id).collect();
        assert_eq!(ids, [5, 10, 20, 30]);
        assert_eq!(friends.into_ids().collect::<Vec<_>>(), [5, 10, 20, 30]);
    }

    #[test]
    fn writes_are_paced_except_replies_and_full_batches() {
        let mut pacer = WritePacer::new(Duration::from_secs(60));
        assert!(
            matches!(pacer.next(1), Write::Now),
            "the first write is free"
        );
        let Write::At(at) = pacer.next(1) else {
            panic!("a second write within the gap must wait");
        };
        assert!(at > Instant::now() + Duration::from_secs(59));
        assert!(pacer.waiting());
        assert!(matches!(pacer.next(2), Write::Pending), "already scheduled");
        pacer.due();
        assert!(!pacer.waiting());
        assert!(matches!(pacer.next(2), Write::Now), "the scheduled write");
        assert!(matches!(pacer.next(1), Write::At(_)));
        pacer.reply();
        assert!(matches!(pacer.next(2), Write::Now), "a reply never waits");
        assert!(
            !pacer.waiting(),
            "the reply's write carried what was scheduled"
        );
        assert!(
            matches!(pacer.next(WRITE_FRAMES), Write::Now),
            "a full batch"
        );
        let mut unpaced = WritePacer::new(Duration::ZERO);
        for _ in 0..3 {
            assert!(matches!(unpaced.next(1), Write::Now));
        }
    }

    #[test]
    fn server_frames_have_the_contract_shape() {
        let frame = ServerFrame::FriendLocation(FriendView {
            user_id: 2,
            latitude: 1.0,
            longitude: 2.0,
            distance_m: 3.5,
            timestamp: 4.0,
        });
        let json: serde_json::Value = serde_json::to_value(&frame).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "friend_location", "user_id": 2, "latitude": 1.0,
                "longitude": 2.0, "distance_m": 3.5, "timestamp": 4.0})
        );
        let left = serde_json::to_value(ServerFrame::FriendLeft { user_id: 9 }).unwrap();
        assert_eq!(
            left,
            serde_json::json!({"type": "friend_left", "user_id": 9})
        );
    }
}
