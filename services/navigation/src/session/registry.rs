//! The open navigation sessions of this instance, indexed by the road edges still ahead on
//! their routes, so a change of live speeds wakes exactly the sessions whose route crosses a
//! changed edge.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rustc_hash::{FxHashMap, FxHashSet};
use tokio::sync::mpsc;

/// What a session is woken with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Speeds changed on its route.
    Traffic,
}

#[derive(Default)]
struct Index {
    by_edge: FxHashMap<u64, FxHashSet<u64>>,
    edges_of: FxHashMap<u64, Vec<u64>>,
    wakers: FxHashMap<u64, mpsc::Sender<Wake>>,
}

/// Every session of this instance.
#[derive(Default)]
pub struct Sessions {
    next: AtomicU64,
    index: Mutex<Index>,
}

/// What one change of speeds touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Touched {
    /// Sessions open.
    pub open: usize,
    /// Sessions whose route crosses a changed edge (found through the index).
    pub examined: usize,
}

impl Sessions {
    /// A new session id and the receiver its task is woken on (one pending wake is enough:
    /// the session re-reads the current speeds).
    pub fn open(&self) -> (u64, mpsc::Receiver<Wake>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = mpsc::channel(1);
        self.lock().wakers.insert(id, tx);
        (id, rx)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the edges session `id` still has ahead.
    pub fn route(&self, id: u64, edges: Vec<u64>) {
        let mut index = self.lock();
        let Index {
            by_edge, edges_of, ..
        } = &mut *index;
        if let Some(old) = edges_of.remove(&id) {
            for e in old {
                if let Some(set) = by_edge.get_mut(&e) {
                    set.remove(&id);
                    if set.is_empty() {
                        by_edge.remove(&e);
                    }
                }
            }
        }
        for &e in &edges {
            by_edge.entry(e).or_default().insert(id);
        }
        edges_of.insert(id, edges);
    }

    pub fn close(&self, id: u64) {
        self.route(id, Vec::new());
        let mut index = self.lock();
        index.edges_of.remove(&id);
        index.wakers.remove(&id);
    }

    pub fn len(&self) -> usize {
        self.lock().wakers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Wakes the sessions whose routes cross any of `changed` (packed edge ids).
    pub fn speeds_changed(&self, changed: &[u64]) -> Touched {
        let index = self.lock();
        let mut hit: FxHashSet<u64> = FxHashSet::default();
        for e in changed {
            if let Some(ids) = index.by_edge.get(e) {
                hit.extend(ids);
            }
        }
        for id in &hit {
            if let Some(tx) = index.wakers.get(id) {
                // Full: a wake is already pending, which is as good.
                let _ = tx.try_send(Wake::Traffic);
            }
        }
        Touched {
            open: index.wakers.len(),
            examined: hit.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sessions_on_changed_edges_wake() {
        let sessions = Sessions::default();
        let (a, mut wake_a) = sessions.open();
        let (b, mut wake_b) = sessions.open();
        sessions.route(a, vec![1, 2, 3]);
        sessions.route(b, vec![3, 4]);
        let touched = sessions.speeds_changed(&[1, 9]);
        assert_eq!(
            touched,
            Touched {
                open: 2,
                examined: 1
            }
        );
        assert_eq!(wake_a.try_recv(), Ok(Wake::Traffic));
        assert!(wake_b.try_recv().is_err());
        // A reroute moves the session off edge 1.
        sessions.route(a, vec![5]);
        assert_eq!(sessions.speeds_changed(&[1]).examined, 0);
        assert_eq!(sessions.speeds_changed(&[3]).examined, 1);
        // Wakes do not pile up.
        sessions.speeds_changed(&[4]);
        assert_eq!(wake_b.try_recv(), Ok(Wake::Traffic));
        assert!(wake_b.try_recv().is_err());
        sessions.close(b);
        assert_eq!(
            sessions.speeds_changed(&[3, 4]),
            Touched {
                open: 1,
                examined: 0
            }
        );
        assert!(!sessions.lock().by_edge.contains_key(&3));
    }
}
