//! A connection's friend set: who its friends are, what it last heard from each and whether
//! the client shows them, and the one decision made from that (within the radius or not).

use geo_core::{LatLon, haversine_m};
use tokio::time::{Duration, Instant};

use super::frames::{FriendView, ServerFrame};
use crate::locations::CachedLocation;

/// What a connection knows of one friend: one map entry, so that an event costs one lookup.
#[derive(Debug, Default)]
pub(super) struct Friend {
    /// The last fix heard, until it is older than the inactivity timeout.
    pub(super) heard: Option<Heard>,
    /// The client was last told this friend is within the radius (and not told otherwise
    /// since); only ever set while `heard` is.
    pub(super) shown: bool,
}

impl Friend {
    /// Records whether the client shows this friend now (`view` within the radius, or not)
    /// and pushes what tells it: the view when it is `news` (a fresh fix) or newly in range,
    /// `friend_left` when the friend just left the range. `true` when a view was pushed.
    pub(super) fn show(
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
pub(super) struct Friends(Vec<(i64, Friend)>);

impl Friends {
    pub(super) fn new(ids: &[i64]) -> Friends {
        let mut entries: Vec<(i64, Friend)> =
            ids.iter().map(|&id| (id, Friend::default())).collect();
        entries.sort_unstable_by_key(|entry| entry.0);
        entries.dedup_by_key(|entry| entry.0);
        entries.shrink_to_fit();
        Friends(entries)
    }

    pub(super) fn find(&self, id: i64) -> Result<usize, usize> {
        self.0.binary_search_by_key(&id, |entry| entry.0)
    }

    pub(super) fn contains(&self, id: i64) -> bool {
        self.find(id).is_ok()
    }

    pub(super) fn get_mut(&mut self, id: i64) -> Option<&mut Friend> {
        let at = self.find(id).ok()?;
        Some(&mut self.0[at].1)
    }

    /// Adds `id` (nothing heard yet) unless it is there.
    pub(super) fn insert(&mut self, id: i64) {
        if let Err(at) = self.find(id) {
            self.0.insert(at, (id, Friend::default()));
        }
    }

    pub(super) fn remove(&mut self, id: i64) -> Option<Friend> {
        let at = self.find(id).ok()?;
        Some(self.0.remove(at).1)
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (i64, &mut Friend)> {
        self.0.iter_mut().map(|(id, friend)| (*id, friend))
    }

    pub(super) fn ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.0.iter().map(|(id, _)| *id)
    }

    pub(super) fn into_ids(self) -> impl Iterator<Item = i64> {
        self.0.into_iter().map(|(id, _)| id)
    }
}

/// The last fix heard from a friend.
#[derive(Debug, Clone, Copy)]
pub(super) struct Heard {
    pub(super) at: LatLon,
    pub(super) timestamp: f64,
    /// When it was written, on our clock (inactivity runs from here).
    pub(super) seen: Instant,
}

impl Heard {
    /// A cached fix as if heard when it was written; `None` once it is older than `ttl`.
    pub(super) fn from_cache(
        location: &CachedLocation,
        now_ms: i64,
        ttl: Duration,
    ) -> Option<Heard> {
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

/// `friend`'s fix as the client sees it, when within `radius_m` of `here`.
pub(super) fn near(here: LatLon, radius_m: f64, friend: i64, heard: &Heard) -> Option<FriendView> {
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
pub(super) fn round_dm(metres: f64) -> f64 {
    (metres * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
