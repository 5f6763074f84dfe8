//! One WebSocket connection: the design's connection handler.
//!
//! It keeps the user's last location, their friend set and what it last heard from each
//! friend, so that every decision (forward or not, `friend_left`) is made here from local
//! state, without a round trip.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, close_code};
use axum::http::StatusCode;
use futures::StreamExt;
use geo_core::{Cell, LatLon, haversine_m};
use kit::problem::code;
use tokio::time::Instant;

use crate::locations::CachedLocation;
use crate::pubsub::{ConnId, Control, Event, Inbox, Pending, notice_channel, user_channel};
use crate::service::{FriendsState, UserSlot};
use crate::store::{self, HistoryPoint, HistoryRow};

mod frames;
mod friend_set;
pub mod local;
mod pacer;
mod random;
mod socket;

pub use frames::decode_client_bytes_for_fuzzing;
use frames::{ClientFrame, FriendView, ServerFrame, parse_frame};
use friend_set::{Friends, Heard, near, round_dm};
#[cfg(test)]
use pacer::WRITE_FRAMES;
use pacer::{Write, WritePacer};
use random::RandomState;
pub use socket::Socket;
use socket::{Sent, close, far_future, read_failure, write};

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
pub async fn run(state: FriendsState, mut socket: impl Socket, user_id: i64, slot: UserSlot) {
    state.connection_opened();
    let (inbox, mut events) = Inbox::new(user_id, INBOX);
    let control = inbox.control().clone();
    let mut closing = state.closing();
    let (mut conn, notices) = Connection::open(&state, user_id, inbox).await;
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
            frame = socket.next() => {
                last_read = Instant::now();
                match frame {
                    Some(Ok(Message::Text(text))) => {
                        conn.on_text(&text, &mut out).await;
                        writes.reply();
                    }
                    Some(Ok(Message::Binary(_))) => {
                        out.push(ServerFrame::error(
                            StatusCode::BAD_REQUEST,
                            code::INVALID_BODY,
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

impl Connection {
    /// A connection that hears the user's notices (friend requests and acceptances reach
    /// every connection of the user, before init too) and knows the friends of now; returns
    /// the notices channel to leave at the end.
    async fn open(state: &FriendsState, user_id: i64, inbox: Inbox) -> (Connection, String) {
        let mut conn = Connection {
            id: state.next_conn_id(),
            ttl: state.config.ttl(),
            radius_m: state.config.friends_radius_m,
            state: state.clone(),
            user_id,
            control: inbox.control().clone(),
            inbox,
            here: None,
            friends: Friends::default(),
            resync: false,
            resync_after: None,
            deadline: None,
            random: None,
        };
        let notices = notice_channel(&state.prefix, user_id);
        state.pubsub.subscribe(&notices, conn.id, &conn.inbox).await;
        // The friends of now, read after subscribing: news of these friendships that was
        // published before the subscription may still arrive, and is then not news. (`init`
        // loads the list again; nothing is forwarded before it.)
        if let Ok(ids) = store::friend_ids(&state.backends.db, user_id).await {
            conn.friends = Friends::new(&ids);
        }
        (conn, notices)
    }

    fn channel(&self, user_id: i64) -> String {
        user_channel(&self.state.prefix, user_id)
    }

    async fn on_text(&mut self, text: &str, out: &mut Vec<ServerFrame>) {
        if text.len() > MAX_FRAME_TEXT {
            out.push(ServerFrame::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                code::PAYLOAD_TOO_LARGE,
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
                out.push(ServerFrame::error(
                    StatusCode::BAD_REQUEST,
                    code::INVALID_BODY,
                    format!("invalid frame: {err}"),
                ));
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
                StatusCode::CONFLICT,
                code::CONFLICT,
                "init was already received; send location",
            ));
            return;
        }
        let fix = match validate_fix(latitude, longitude, timestamp) {
            Ok(fix) => fix,
            Err(detail) => {
                return out.push(ServerFrame::error(
                    StatusCode::BAD_REQUEST,
                    code::INVALID_BODY,
                    detail,
                ));
            }
        };
        let friend_ids = match store::friend_ids(&self.state.backends.db, self.user_id).await {
            Ok(ids) => ids,
            Err(err) => {
                tracing::warn!(error = %err, "loading friends failed");
                return out.push(ServerFrame::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    code::DEPENDENCY_UNAVAILABLE,
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
            StatusCode::TOO_MANY_REQUESTS,
            code::RATE_LIMITED,
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
            return out.push(ServerFrame::error(
                StatusCode::BAD_REQUEST,
                code::INIT_REQUIRED,
                "send init before location updates",
            ));
        }
        let fix = match validate_fix(latitude, longitude, timestamp) {
            Ok(fix) => fix,
            Err(detail) => {
                return out.push(ServerFrame::error(
                    StatusCode::BAD_REQUEST,
                    code::INVALID_BODY,
                    detail,
                ));
            }
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
                StatusCode::SERVICE_UNAVAILABLE,
                code::DEPENDENCY_UNAVAILABLE,
                "live updates are unavailable right now; your location was saved",
            ));
        }
    }

    async fn subscribe(&mut self, friend_id: i64, out: &mut Vec<ServerFrame>) {
        if self.here.is_none() {
            return out.push(ServerFrame::error(
                StatusCode::BAD_REQUEST,
                code::INIT_REQUIRED,
                "send init before subscribe",
            ));
        }
        match store::are_friends(&self.state.backends.db, self.user_id, friend_id).await {
            Ok(true) => {}
            Ok(false) => {
                return out.push(ServerFrame::error(
                    StatusCode::FORBIDDEN,
                    code::FORBIDDEN,
                    format!("user {friend_id} is not your friend"),
                ));
            }
            Err(err) => {
                tracing::warn!(error = %err, "checking a friendship failed");
                return out.push(ServerFrame::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    code::DEPENDENCY_UNAVAILABLE,
                    "the user database is unavailable",
                ));
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
                StatusCode::NOT_FOUND,
                code::NOT_FOUND,
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

    /// The connection handler on an in-memory socket: the whole exchange (init, a friend's
    /// move, a stranger who hears nothing, a refused frame, leaving) without TCP or HTTP.
    mod in_memory {
        use serde_json::Value;

        use super::local::LocalClient as Client;
        use super::*;

        /// The next JSON frame of `kind` (others, pings included, are skipped).
        async fn next(client: &mut Client, kind: &str) -> Value {
            let wait = async {
                loop {
                    match client.recv().await.expect("the connection is open") {
                        Message::Text(text) => {
                            let frame: Value = serde_json::from_str(&text).unwrap();
                            if frame["type"] == kind {
                                return frame;
                            }
                        }
                        _ => continue,
                    }
                }
            };
            tokio::time::timeout(Duration::from_secs(5), wait)
                .await
                .unwrap_or_else(|_| panic!("no {kind} frame within 5 s"))
        }

        /// Every JSON frame already written.
        fn written(client: &mut Client) -> Vec<Value> {
            let mut out = Vec::new();
            while let Some(message) = client.try_recv() {
                if let Message::Text(text) = message {
                    out.push(serde_json::from_str(&text).unwrap());
                }
            }
            out
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_connection_runs_on_any_frame_stream_and_sink() {
            let dir = tempfile::tempdir().unwrap();
            let mut common = kit::config::CommonConfig::embedded(dir.path().to_path_buf());
            common.jwt_secret = Some("in-memory".into());
            let backends = kit::Backends::connect(common).await.unwrap();
            let config = crate::FriendsConfig {
                location_min_interval_ms: 0,
                ws_write_gap_ms: 0,
                ..crate::FriendsConfig::default()
            };
            let state = FriendsState::build(backends, config).await.unwrap();
            let db = &state.backends.db;
            let ann = store::create_user(db, "ann").await.unwrap().id;
            let bob = store::create_user(db, "bob").await.unwrap().id;
            let cat = store::create_user(db, "cat").await.unwrap().id;
            store::ask_friendship(db, ann, bob).await.unwrap();
            store::ask_friendship(db, bob, ann).await.unwrap();

            let mut clients: Vec<Client> = [ann, bob, cat]
                .iter()
                .map(|&user| Client::connect(&state, user, 64).expect("a slot"))
                .collect();
            for client in &mut clients {
                assert!(client.say(
                    &serde_json::json!({"type": "init", "latitude": 60.17, "longitude": 24.94}),
                ));
                next(client, "nearby_friends").await;
            }
            clients[0].say(
                &serde_json::json!({"type": "location", "latitude": 60.171, "longitude": 24.94}),
            );
            let seen = next(&mut clients[1], "friend_location").await;
            assert_eq!(seen["user_id"], ann);
            assert_eq!(seen["latitude"], 60.171);
            // The stranger, in the same place, is told nothing; a later frame of its own
            // is answered, so anything about ann would have been written before it.
            assert!(clients[2].send(Message::Binary(vec![1, 2, 3].into())));
            let refused = next(&mut clients[2], "error").await;
            assert_eq!(refused["status"], 400);
            assert_eq!(refused["code"], "invalid-body");
            assert!(
                written(&mut clients[2])
                    .iter()
                    .all(|f| f["type"] != "friend_location"),
                "a stranger heard of ann"
            );

            // The client leaves: the handler ends and gives the user's slot back.
            let ann_client = clients.remove(0);
            tokio::time::timeout(Duration::from_secs(5), ann_client.close())
                .await
                .expect("the connection ends when the client goes")
                .unwrap();
            assert_eq!(state.open_connections(), 2);
        }
    }

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
