//! Local delivery: what travels on a channel ([`Event`]), each connection's [`Inbox`]
//! (bounded data beside never-dropped [`Control`]), and the [`Hub`] of local subscribers
//! per channel, which both transports feed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Identifies one WebSocket connection within this process.
pub type ConnId = u64;

/// What travels on a channel. `Copy` (no heap data): each subscriber gets its own copy, so
/// that fan-out does not make every connection touch one shared reference count.
///
/// Locations and strangers are data: at most once, dropped when a slow connection's inbox
/// is full. The friendship changes are control: each names its recipient (`friend_id`), is
/// handed only to that user's connections and is never dropped (see [`Control`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Event {
    /// `user_id` is at this fix (published on the user's own channel).
    Location {
        user_id: i64,
        latitude: f64,
        longitude: f64,
        timestamp: f64,
    },
    /// `user_id` and `friend_id` are no longer friends. Published on `user_id`'s location
    /// channel, which `friend_id`'s connections hold: no location published there after it
    /// can overtake it.
    Unfriended { user_id: i64, friend_id: i64 },
    /// `user_id` and `friend_id` are friends now (published on `friend_id`'s notice channel).
    Befriended { user_id: i64, friend_id: i64 },
    /// `user_id` asks to be `friend_id`'s friend (published on `friend_id`'s notice channel).
    Requested { user_id: i64, friend_id: i64 },
    /// An opted-in stranger is here (published on geohash-cell channels).
    Person {
        session: u64,
        latitude: f64,
        longitude: f64,
        timestamp: f64,
    },
}

impl Event {
    /// The user a control event is meant for; `None` for data.
    pub fn recipient(&self) -> Option<i64> {
        match *self {
            Event::Unfriended { friend_id, .. }
            | Event::Befriended { friend_id, .. }
            | Event::Requested { friend_id, .. } => Some(friend_id),
            Event::Location { .. } | Event::Person { .. } => None,
        }
    }
}

/// Control events a connection has not applied yet, beyond which it reloads its friends
/// from SQL instead: the queue stays bounded and nothing is lost.
pub(super) const CONTROL_EVENTS: usize = 64;

/// A connection's control events. Unlike data they are never dropped: a full queue turns
/// into one `resync` (reload the friend list from SQL), which covers whatever it held.
#[derive(Default)]
pub struct Control {
    pending: Mutex<Pending>,
    /// Something is pending: checked without the lock before every batch of data events.
    dirty: AtomicBool,
    notify: tokio::sync::Notify,
}

/// What a connection must apply before it forwards anything else.
#[derive(Debug, Default, PartialEq)]
pub struct Pending {
    pub events: Vec<Event>,
    /// Events may have been lost (queue overflow, a pub/sub connection that dropped): the
    /// friend list must be reloaded from SQL before any further forward.
    pub resync: bool,
}

impl Control {
    fn push(&self, event: Event) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.resync {
            // A reload is due anyway and covers this change.
        } else if pending.events.len() >= CONTROL_EVENTS {
            pending.events.clear();
            pending.resync = true;
        } else {
            pending.events.push(event);
        }
        drop(pending);
        self.signal();
    }

    /// Asks the connection to reload its friends from SQL.
    pub fn resync(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.events.clear();
        pending.resync = true;
        drop(pending);
        self.signal();
    }

    fn signal(&self) {
        self.dirty.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    /// Whether something waits to be applied.
    pub fn is_pending(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }

    /// Takes what is pending (empty when nothing is).
    pub fn take(&self) -> Pending {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        self.dirty.store(false, Ordering::Release);
        std::mem::take(&mut *pending)
    }

    /// Whether what is pending takes one of `users` away as a friend (or may: a resync).
    pub fn revokes(&self, users: &[i64]) -> bool {
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.resync
            || pending
                .events
                .iter()
                .any(|e| matches!(e, Event::Unfriended { user_id, .. } if users.contains(user_id)))
    }

    /// Completes when something is pushed (or was pushed since the last wait).
    pub async fn changed(&self) {
        self.notify.notified().await
    }
}

/// Where a connection receives its events: data in a bounded queue (a stalled client cannot
/// grow the server without limit; overflow is dropped and counted), control beside it.
#[derive(Clone)]
pub struct Inbox {
    user_id: i64,
    events: mpsc::Sender<Event>,
    control: Arc<Control>,
}

impl Inbox {
    /// The inbox of one of `user_id`'s connections, holding up to `capacity` data events.
    pub fn new(user_id: i64, capacity: usize) -> (Inbox, mpsc::Receiver<Event>) {
        let (events, rx) = mpsc::channel(capacity);
        let inbox = Inbox {
            user_id,
            events,
            control: Arc::new(Control::default()),
        };
        (inbox, rx)
    }

    pub fn control(&self) -> &Arc<Control> {
        &self.control
    }

    fn hand(&self, event: Event) -> bool {
        match event.recipient() {
            Some(user) if user == self.user_id => {
                self.control.push(event);
                true
            }
            Some(_) => false,
            None => match self.events.try_send(event) {
                Ok(()) => true,
                Err(_) => {
                    metrics::counter!("friends_events_dropped_total", "reason" => "inbox_full")
                        .increment(1);
                    false
                }
            },
        }
    }
}

/// The local subscribers of one channel.
type Subscribers = Vec<(ConnId, Inbox)>;

/// The local subscribers of every channel.
#[derive(Default)]
pub struct Hub {
    channels: RwLock<FxHashMap<Arc<str>, Subscribers>>,
}

impl Hub {
    /// Adds a subscriber; `true` when it is the channel's first in this process.
    pub(super) fn add(&self, channel: &str, conn: ConnId, inbox: &Inbox) -> bool {
        let mut channels = self.channels.write().unwrap_or_else(|e| e.into_inner());
        match channels.get_mut(channel) {
            Some(subs) => {
                if !subs.iter().any(|(c, _)| *c == conn) {
                    subs.push((conn, inbox.clone()));
                }
                false
            }
            None => {
                channels.insert(Arc::from(channel), vec![(conn, inbox.clone())]);
                true
            }
        }
    }

    /// Removes a subscriber; `true` when it was the channel's last in this process.
    pub(super) fn remove(&self, channel: &str, conn: ConnId) -> bool {
        let mut channels = self.channels.write().unwrap_or_else(|e| e.into_inner());
        let Some(subs) = channels.get_mut(channel) else {
            return false;
        };
        subs.retain(|(c, _)| *c != conn);
        if subs.is_empty() {
            channels.remove(channel);
            true
        } else {
            false
        }
    }

    pub(super) fn wanted(&self, channel: &str) -> bool {
        let channels = self.channels.read().unwrap_or_else(|e| e.into_inner());
        channels.contains_key(channel)
    }

    pub(super) fn channel_names(&self) -> Vec<Arc<str>> {
        let channels = self.channels.read().unwrap_or_else(|e| e.into_inner());
        channels.keys().cloned().collect()
    }

    /// Hands `event` to every local subscriber of `channel` (a control event only to its
    /// recipient's connections); returns how many took it.
    pub fn deliver(&self, channel: &str, event: Event) -> usize {
        let channels = self.channels.read().unwrap_or_else(|e| e.into_inner());
        let Some(subs) = channels.get(channel) else {
            return 0;
        };
        subs.iter().filter(|(_, inbox)| inbox.hand(event)).count()
    }

    /// Every local connection must reload its friends: events may have been lost (a
    /// pub/sub connection dropped, or a subscription was missing for a while).
    pub fn resync_all(&self) {
        let channels = self.channels.read().unwrap_or_else(|e| e.into_inner());
        for subs in channels.values() {
            for (_, inbox) in subs {
                inbox.control.resync();
            }
        }
    }

    pub(super) fn resync_channel(&self, channel: &str) {
        let channels = self.channels.read().unwrap_or_else(|e| e.into_inner());
        for (_, inbox) in channels.get(channel).into_iter().flatten() {
            inbox.control.resync();
        }
    }

    /// Channels with at least one local subscriber.
    pub fn channel_count(&self) -> usize {
        self.channels
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    pub(super) fn deliver_raw(&self, channel: &[u8], payload: &[u8]) {
        let Ok(channel) = std::str::from_utf8(channel) else {
            return;
        };
        match serde_json::from_slice::<Event>(payload) {
            Ok(event) => {
                self.deliver(channel, event);
            }
            Err(err) => {
                tracing::warn!(%channel, error = %err, "ignoring an undecodable pub/sub message")
            }
        }
    }
}
