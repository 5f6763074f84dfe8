//! One WebSocket connection: the design's connection handler.
//!
//! It keeps the user's last location, their friend set and what it last heard from each
//! friend, so that every decision (forward or not, `friend_left`) is made here from local
//! state, without a round trip.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use futures::SinkExt;
use geo_core::{Cell, LatLon, haversine_m};
use tokio::time::Instant;

use crate::locations::CachedLocation;
use crate::pubsub::{
    ConnId, Control, Event, Inbox, Pending, cell_channel, notice_channel, user_channel,
};
use crate::service::{FriendsState, UserSlot};
use crate::store::{self, HistoryPoint, HistoryRow};

mod frames;
mod pacer;

pub use frames::decode_client_bytes_for_fuzzing;
use frames::{ClientFrame, FriendView, ServerFrame, parse_frame};
#[cfg(test)]
use pacer::WRITE_FRAMES;
use pacer::{Write, WritePacer};

/// Longest text frame we parse; larger ones get an error frame (the transport closes the
/// connection with 1009 only beyond [`MAX_MESSAGE_BYTES`]).
pub const MAX_FRAME_TEXT: usize = 4 * 1024;
/// Largest message the transport accepts at all.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Data events waiting for a slow client; beyond this they are dropped (updates are
/// at-most-once, the next one supersedes them). Control events never are (see
/// [`Control`]).
const INBOX: usize = 64;
/// Geohash length of "nearby random person" cells (about 4.9 km x 4.9 km).
const CELL_LEN: u8 = 5;
/// An anonymous "nearby random person" session lasts at most this long; it also ends when
/// the user changes cells or a friendship of theirs changes, so that no one can follow it
/// from a moment when they could tell whose it was.
const SESSION_LIFETIME: Duration = Duration::from_secs(600);
/// Strangers see times to the minute: an exact time is the same as the one a friend gets in
/// `friend_location` and would link the anonymous session to the user.
const PERSON_TIME_STEP_S: f64 = 60.0;
/// How long a closing connection waits for the client's close frame before it drops the
/// TCP connection (unread bytes at that point make the kernel answer with a reset).
const CLOSE_LINGER: Duration = Duration::from_secs(1);
/// Least time between two attempts to reload the friend list after a failed one.
const RESYNC_RETRY: Duration = Duration::from_secs(1);

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

    fn ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.0.iter().map(|(id, _)| *id)
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
        // A cache entry with an invalid coordinate (not written by us) counts as absent.
        let at = LatLon::new(location.latitude, location.longitude).ok()?;
        (age < ttl).then(|| Heard {
            at,
            timestamp: location.timestamp,
            seen: Instant::now().checked_sub(age).unwrap_or_else(Instant::now),
        })
    }
}

/// "Nearby random person" membership.
struct RandomState {
    session: u64,
    /// When the session was drawn.
    since: Instant,
    cell: Cell,
    channels: Vec<String>,
}

impl RandomState {
    fn new_session(&mut self) {
        self.session = rand::random();
        self.since = Instant::now();
    }
}

struct Connection {
    state: FriendsState,
    user_id: i64,
    id: ConnId,
    inbox: Inbox,
    control: Arc<Control>,
    here: Option<(LatLon, f64)>,
    friends: Friends,
    /// Control events may have been lost: nothing is forwarded until the friend list has
    /// been reloaded from SQL.
    resync: bool,
    /// No reload is tried before then (after a failed one).
    resync_after: Option<Instant>,
    /// No heard friend expires before this; an early value only costs a spare wake-up, so
    /// it is lowered on insert and recomputed only when it fires (not on every event).
    deadline: Option<Instant>,
    random: Option<RandomState>,
    ttl: Duration,
    radius_m: f64,
}

/// How a connection ends, when the server ends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The client left, or the transport failed: nothing more can be sent.
    Gone,
    /// Close with this code and reason.
    Close(u16, &'static str),
    /// A write was still blocked when a friend was taken away: the frames it holds may be
    /// about that friend, so the socket is dropped without another byte.
    Abandon,
}

/// Runs a connection until the client leaves or the server drains. `slot` holds the user's
/// place under the per-user connection cap until the connection ends.
pub async fn run(state: FriendsState, mut socket: WebSocket, user_id: i64, slot: UserSlot) {
    state.connection_opened();
    let (inbox, mut events) = Inbox::new(user_id, INBOX);
    let control = inbox.control().clone();
    let mut closing = state.closing();
    let mut conn = Connection {
        id: state.next_conn_id(),
        ttl: state.config.ttl(),
        radius_m: state.config.friends_radius_m,
        state: state.clone(),
        user_id,
        inbox,
        control: control.clone(),
        here: None,
        friends: Friends::default(),
        resync: false,
        resync_after: None,
        deadline: None,
        random: None,
    };
    // Friend requests and acceptances reach every connection of the user, before init too.
    let notices = notice_channel(&state.prefix, user_id);
    state.pubsub.subscribe(&notices, conn.id, &conn.inbox).await;
    // The friends of now, read after subscribing: news of these friendships that was
    // published before the subscription may still arrive, and is then not news. (`init`
    // loads the list again; nothing is forwarded before it.)
    if let Ok(ids) = store::friend_ids(&state.backends.db, user_id).await {
        conn.friends = Friends::new(&ids);
    }
    let mut out: Vec<ServerFrame> = Vec::new();
    // One timer for the connection's life, moved only when the deadline changes.
    let timer = tokio::time::sleep_until(far_future());
    tokio::pin!(timer);
    let mut armed: Option<Instant> = None;
    let mut writes = WritePacer::new(state.config.write_gap());
    let write_timer = tokio::time::sleep_until(far_future());
    tokio::pin!(write_timer);
    let (ping_every, idle_after, write_timeout) = (
        state.config.ws_ping_interval(),
        state.config.ws_idle_timeout(),
        state.config.ws_write_timeout(),
    );
    let mut last_read = Instant::now();
    let ping_timer = tokio::time::sleep(ping_every);
    tokio::pin!(ping_timer);
    let person_timer = tokio::time::sleep_until(far_future());
    tokio::pin!(person_timer);
    let mut person_armed = false;
    let ending = loop {
        if conn.deadline != armed {
            armed = conn.deadline;
            timer.as_mut().reset(armed.unwrap_or_else(far_future));
        }
        if conn.random.is_some() != person_armed {
            person_armed = conn.random.is_some();
            let at = if person_armed {
                Instant::now() + conn.person_delay()
            } else {
                far_future()
            };
            person_timer.as_mut().reset(at);
        }
        tokio::select! {
            frame = socket.recv() => {
                last_read = Instant::now();
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
                    Some(Ok(Message::Close(_))) | None => break Ending::Gone,
                    Some(Err(err)) => break read_failure(user_id, err),
                }
            }
            Some(event) = events.recv() => {
                // Friendship changes first: an event queued before an unfriend must not be
                // forwarded after it.
                if control.is_pending() {
                    conn.apply_control(&mut out).await;
                }
                // One clock reading for the whole batch: they all arrived by now.
                let now = Instant::now();
                conn.on_event(event, now, &mut out);
                // Drain what else is ready so that one flush carries many frames.
                for _ in 0..INBOX {
                    if control.is_pending() {
                        conn.apply_control(&mut out).await;
                    }
                    match events.try_recv() {
                        Ok(event) => conn.on_event(event, now, &mut out),
                        Err(_) => break,
                    }
                }
            }
            () = control.changed() => {}
            // News that arrived while a write was under way (which took the wake-up).
            () = std::future::ready(()), if control.is_pending() => {}
            () = &mut timer, if armed.is_some() => {
                conn.expire(&mut out);
                armed = None;
            }
            () = &mut person_timer, if person_armed => {
                conn.publish_person();
                person_timer.as_mut().reset(Instant::now() + conn.person_delay());
            }
            () = &mut ping_timer => {
                if last_read.elapsed() >= idle_after {
                    break Ending::Close(close_code::AWAY, "idle: no frame or pong received in time");
                }
                out.push(ServerFrame::Ping);
                writes.reply();
                ping_timer.as_mut().reset(Instant::now() + ping_every);
            }
            () = &mut write_timer, if writes.waiting() => writes.due(),
            _ = closing.changed() => {
                if !out.is_empty() {
                    let _ = write(&mut socket, &mut out, &control, write_timeout).await;
                }
                break Ending::Close(close_code::AWAY, "server is going away; reconnect");
            }
        }
        if control.is_pending() || conn.resync {
            conn.apply_control(&mut out).await;
        }
        if out.is_empty() {
            continue;
        }
        match writes.next(out.len()) {
            Write::Now => match write(&mut socket, &mut out, &control, write_timeout).await {
                Sent::Done => {}
                Sent::Failed => break Ending::Gone,
                Sent::Stalled => {
                    break Ending::Close(close_code::AWAY, "not reading: a write timed out");
                }
                Sent::Revoked => break Ending::Abandon,
            },
            Write::At(at) => write_timer.as_mut().reset(at),
            Write::Pending => {}
        }
    };
    match ending {
        Ending::Gone | Ending::Abandon => {}
        Ending::Close(code, reason) => close(&mut socket, code, reason).await,
    }
    if ending == Ending::Abandon {
        state.counters.abandoned.increment(1);
    }
    conn.leave().await;
    state.pubsub.unsubscribe(&notices, conn.id).await;
    drop(slot);
    state.connection_closed();
}

/// The close that answers a failed read: 1009 for a message over the size limit, 1007 for
/// text that is not UTF-8 (RFC 6455, 7.4.1); anything else means the transport is gone.
fn read_failure(user_id: i64, err: axum::Error) -> Ending {
    use tungstenite::error::{CapacityError, Error};
    let inner = err.into_inner();
    match inner.downcast_ref::<Error>() {
        Some(Error::Capacity(CapacityError::MessageTooLong { .. })) => {
            Ending::Close(close_code::SIZE, "message too large: at most 65536 bytes")
        }
        Some(Error::Capacity(_)) => Ending::Close(close_code::SIZE, "frame too large"),
        Some(Error::Utf8(_)) => Ending::Close(close_code::INVALID, "text frames must be UTF-8"),
        Some(Error::Protocol(_)) => Ending::Close(close_code::PROTOCOL, "protocol error"),
        _ => {
            tracing::debug!(user_id, error = %inner, "websocket read failed");
            Ending::Gone
        }
    }
}

/// Sends a close frame and gives the client [`CLOSE_LINGER`] to answer it, so that the
/// frame is read before the TCP connection goes (dropping a socket with unread input makes
/// the kernel send a reset, which may destroy the close frame on its way).
async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }));
    let _ = tokio::time::timeout(CLOSE_LINGER, async {
        if socket.send(frame).await.is_err() {
            return;
        }
        loop {
            match socket.recv().await {
                Some(Ok(Message::Close(_))) | None => return,
                Some(Ok(_)) => {}
                // What follows a refused frame cannot be parsed; wait out the linger.
                Some(Err(_)) => std::future::pending::<()>().await,
            }
        }
    })
    .await;
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// How a write ended.
enum Sent {
    Done,
    /// The transport failed.
    Failed,
    /// The client did not take the frames within the write timeout.
    Stalled,
    /// A friend whose location the write carries was taken away before it completed.
    Revoked,
}

/// Writes `out`, giving up when the client does not take it within `timeout`, or when an
/// unfriend concerning a friend in it arrives first: once `DELETE /v1/friends` has
/// returned, nothing about that friend may still go out.
async fn write(
    socket: &mut WebSocket,
    out: &mut Vec<ServerFrame>,
    control: &Control,
    timeout: Duration,
) -> Sent {
    let mut carried: Vec<i64> = Vec::new();
    for frame in out.iter() {
        match frame {
            ServerFrame::FriendLocation(view) => carried.push(view.user_id),
            ServerFrame::NearbyFriends { friends } => {
                carried.extend(friends.iter().map(|f| f.user_id))
            }
            _ => {}
        }
    }
    let send = send_all(socket, out);
    tokio::pin!(send);
    let stall = tokio::time::sleep(timeout);
    tokio::pin!(stall);
    loop {
        tokio::select! {
            sent = &mut send => return if sent.is_ok() { Sent::Done } else { Sent::Failed },
            () = &mut stall => return Sent::Stalled,
            () = control.changed(), if !carried.is_empty() => {
                if control.revokes(&carried) {
                    return Sent::Revoked;
                }
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
    // Checked above with the messages clients know; `new` cannot fail here.
    let at = LatLon::new(latitude, longitude).map_err(|e| e.to_string())?;
    Ok((at, timestamp))
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
        let frame = match parse_frame(text) {
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
        // Loaded fresh from SQL: a reload that was due is covered (pending news is still
        // applied; it is harmless against a fresh list).
        self.resync = false;
        // A reconnect is an update like any other: within the interval, the position is
        // used for distances but neither stored nor shared.
        let shared = self.state.take_update_slot(self.user_id);
        self.here = Some(fix);
        if shared {
            self.store_fix(fix).await;
        }
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
        if shared {
            self.publish_fix(fix, out);
        } else {
            self.rate_limited(out, "this init's position was not shared");
        }
    }

    fn rate_limited(&self, out: &mut Vec<ServerFrame>, what: &str) {
        self.state.counters.rate_limited.increment(1);
        out.push(ServerFrame::error(
            429,
            format!(
                "location updates are limited to one per {} ms; {what}",
                self.state.config.location_min_interval_ms
            ),
        ));
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
            return self.rate_limited(out, "this one was dropped");
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
    }

    /// Time until the next "nearby random person" share: a random moment within the
    /// interval, so that shares do not arrive in step with the user's own updates (which
    /// friends see, and could match them against).
    fn person_delay(&self) -> Duration {
        let interval = self.state.config.nearby_person_interval();
        interval.mul_f64(0.5 + rand::random::<f64>())
    }

    /// Shares the user's position with opted-in strangers nearby: rounded to about 100 m,
    /// time to the minute, under an anonymous session.
    fn publish_person(&mut self) {
        let (Some(random), Some((at, timestamp))) = (&mut self.random, self.here) else {
            return;
        };
        if random.since.elapsed() >= SESSION_LIFETIME {
            random.new_session();
        }
        let event = Event::Person {
            session: random.session,
            latitude: (at.lat * 1000.0).round() / 1000.0,
            longitude: (at.lon * 1000.0).round() / 1000.0,
            timestamp: (timestamp / PERSON_TIME_STEP_S).floor() * PERSON_TIME_STEP_S,
        };
        let channel = cell_channel(&self.state.prefix, &random.cell.to_string());
        let _ = self.state.pubsub.publish(&channel, &event);
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
        self.follow(friend_id, out).await;
    }

    /// Adds a friend (SQL has said so), subscribes to their channel and shows their cached
    /// fix when active and within the radius.
    async fn follow(&mut self, friend_id: i64, out: &mut Vec<ServerFrame>) {
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

    /// Stops following a friend; frames about them still waiting to be written are dropped.
    async fn drop_friend(&mut self, friend_id: i64, out: &mut Vec<ServerFrame>) {
        let was_shown = self.friends.remove(friend_id).is_some_and(|f| f.shown);
        out.retain_mut(|frame| frame.forget(friend_id));
        let channel = self.channel(friend_id);
        self.state.pubsub.unsubscribe(&channel, self.id).await;
        if was_shown {
            out.push(ServerFrame::FriendLeft { user_id: friend_id });
        }
    }

    /// Applies the pending friendship changes, and reloads the friend list when some may
    /// have been lost. Runs before any data event is forwarded.
    async fn apply_control(&mut self, out: &mut Vec<ServerFrame>) {
        let Pending { events, resync } = self.control.take();
        self.resync |= resync;
        for event in events {
            match event {
                Event::Unfriended { user_id, .. } => {
                    if self.friends.contains(user_id) {
                        self.drop_friend(user_id, out).await;
                    }
                    self.rotate_session();
                }
                Event::Befriended { user_id, .. } => self.befriended(user_id, out).await,
                Event::Requested { user_id, .. } => {
                    // Only while it still waits: news published before this connection
                    // subscribed can arrive after it, when the request may be answered.
                    let db = &self.state.backends.db;
                    if let Ok(Some(user)) = store::pending_request(db, user_id, self.user_id).await
                    {
                        out.push(ServerFrame::FriendRequest {
                            user_id,
                            name: user.name,
                        });
                    }
                }
                Event::Location { .. } | Event::Person { .. } => {}
            }
        }
        if self.resync && self.resync_after.is_none_or(|at| Instant::now() >= at) {
            self.reload_friends(out).await;
        }
    }

    /// A request was accepted: tell the client, and follow the new friend once SQL confirms
    /// (it is the truth; the friendship may already be over again).
    async fn befriended(&mut self, friend_id: i64, out: &mut Vec<ServerFrame>) {
        let db = &self.state.backends.db;
        let (user, friends) = match tokio::try_join!(
            store::user(db, friend_id),
            store::are_friends(db, self.user_id, friend_id)
        ) {
            Ok(found) => found,
            Err(err) => {
                tracing::warn!(error = %err, "checking a new friendship failed");
                self.resync = true;
                return;
            }
        };
        let (Some(user), true) = (user, friends) else {
            return;
        };
        if self.friends.contains(friend_id) {
            // Known already (loaded at connect or init, after the friendship was made): the
            // news was published before this connection subscribed and is not news here.
            return;
        }
        out.push(ServerFrame::FriendAdded {
            user_id: friend_id,
            name: user.name,
        });
        if self.here.is_some() {
            self.follow(friend_id, out).await;
        }
    }

    /// Makes the friend set equal to SQL's: friends gone are dropped (`friend_left` where
    /// shown), new ones followed (`friend_added`). Until it succeeds nothing is forwarded.
    async fn reload_friends(&mut self, out: &mut Vec<ServerFrame>) {
        let users = match store::friends(&self.state.backends.db, self.user_id).await {
            Ok(users) => users,
            Err(err) => {
                tracing::warn!(error = %err, "reloading friends failed; forwarding paused");
                self.resync_after = Some(Instant::now() + RESYNC_RETRY);
                return;
            }
        };
        self.resync = false;
        self.resync_after = None;
        self.state.counters.resyncs.increment(1);
        if self.here.is_none() {
            // init loads the friends itself.
            return;
        }
        let known: Vec<i64> = self.friends.ids().collect();
        for id in known {
            if users.binary_search_by_key(&id, |u| u.id).is_err() {
                self.drop_friend(id, out).await;
                self.rotate_session();
            }
        }
        for user in users {
            if !self.friends.contains(user.id) {
                out.push(ServerFrame::FriendAdded {
                    user_id: user.id,
                    name: user.name,
                });
                self.follow(user.id, out).await;
            }
        }
    }

    /// A friendship changed: an anonymous session an ex-friend may have linked to this user
    /// ends.
    fn rotate_session(&mut self) {
        if let Some(random) = &mut self.random {
            random.new_session();
        }
    }

    fn on_event(&mut self, event: Event, now: Instant, out: &mut Vec<ServerFrame>) {
        match event {
            Event::Location {
                user_id,
                latitude,
                longitude,
                timestamp,
            } => {
                // Every publisher validates; an invalid fix from pub/sub is dropped.
                let Ok(at) = LatLon::new(latitude, longitude) else {
                    return;
                };
                let heard = Heard {
                    at,
                    timestamp,
                    seen: now,
                };
                self.forward(user_id, heard, out);
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
                let Ok(at) = LatLon::new(latitude, longitude) else {
                    return;
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
            // Control travels beside the data (see `apply_control`).
            Event::Unfriended { .. } | Event::Befriended { .. } | Event::Requested { .. } => {}
        }
    }

    /// A friend moved: forward when within the radius, `friend_left` when they just left it.
    fn forward(&mut self, id: i64, heard: Heard, out: &mut Vec<ServerFrame>) {
        // Checked here, not only at subscription: an unfriend takes effect at once even if
        // this process still holds the channel for someone else. While the friend set may
        // be stale (control lost), nothing goes out.
        if self.resync || id == self.user_id {
            self.state.counters.not_friend.increment(1);
            return;
        }
        let (Some(friend), Some((here, _))) = (self.friends.get_mut(id), self.here) else {
            self.state.counters.not_friend.increment(1);
            return;
        };
        if friend
            .heard
            .is_some_and(|had| had.timestamp == heard.timestamp && had.at == heard.at)
        {
            // The fix this connection already has: `init` read it from the location cache,
            // and its publication, sent before the subscription, arrived after it.
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

    /// Joins the cell of `at` and its neighbours under a new anonymous session: a session
    /// never spans two cells, so it cannot be followed across town.
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
        self.random = Some(RandomState {
            session: rand::random(),
            since: Instant::now(),
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

    /// What a real client library puts on the wire (masked frames), decoded as the fuzz
    /// target does: good frames count, bad ones do not, and the oversized one ends it.
    #[test]
    fn client_bytes_decode_as_the_server_reads_them() {
        use tungstenite::protocol::{Role, WebSocket as RawSocket};
        let mut client =
            RawSocket::from_raw_socket(std::io::Cursor::new(Vec::new()), Role::Client, None);
        let init = r#"{"type":"init","latitude":60.1,"longitude":24.9}"#;
        for text in [
            init,
            "not json",
            r#"{"type":"location","latitude":91,"longitude":0}"#,
            init,
        ] {
            client.send(tungstenite::Message::text(text)).unwrap();
        }
        let wire = client.get_ref().get_ref().clone();
        assert_eq!(decode_client_bytes_for_fuzzing(&wire), 2);
        client
            .send(tungstenite::Message::text(
                "x".repeat(MAX_MESSAGE_BYTES + 1),
            ))
            .unwrap();
        client.send(tungstenite::Message::text(init)).unwrap();
        let wire = client.get_ref().get_ref().clone();
        assert_eq!(
            decode_client_bytes_for_fuzzing(&wire),
            2,
            "stops at the oversized one"
        );
        assert_eq!(decode_client_bytes_for_fuzzing(&wire[..wire.len() / 2]), 2);
    }

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
