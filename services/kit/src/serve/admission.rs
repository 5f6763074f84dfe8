//! Who gets a connection: the global cap, the per-client cap, and the small overflow lane
//! beyond them, where a connection may ask a health check and everything else is refused
//! with a problem document.
//!
//! A [`Slot`] is held by the connection's IO object, so it lives as long as the socket
//! does: through keep-alive and, after an upgrade, for the whole WebSocket.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::spare::Spare;

/// Connections beyond the caps that are still read (for a health check or a refusal);
/// past this many, a connection is closed as soon as it is accepted.
pub(super) const OVERFLOW_CONNECTIONS: usize = 64;

/// Overflow connections one client may hold, so that one client cannot take the lane
/// from a health checker.
pub(super) const OVERFLOW_PER_CLIENT: u32 = 2;

/// How a connection is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lane {
    /// Within the caps: every route, keep-alive.
    Full,
    /// Beyond its client's cap: a health check, or 429.
    OverClientCap,
    /// Beyond the global cap: a health check, or 503.
    OverCap,
    /// Accepted on the spare descriptor while the process had no other: a health check,
    /// or 503.
    NoDescriptors,
}

/// The connection counts.
#[derive(Clone)]
pub(super) struct Admission {
    max_connections: usize,
    /// 0 = no per-client cap.
    max_per_client: usize,
    counts: Arc<Mutex<Counts>>,
}

#[derive(Default)]
struct Counts {
    full: usize,
    overflow: usize,
    per_client: HashMap<IpAddr, PerClient>,
}

#[derive(Default)]
struct PerClient {
    full: usize,
    overflow: u32,
}

impl Admission {
    pub(super) fn new(max_connections: usize, max_per_client: usize) -> Admission {
        Admission {
            max_connections,
            max_per_client,
            counts: Arc::new(Mutex::new(Counts::default())),
        }
    }

    /// The lane for a new connection from `ip`, or `None` when it should be closed at once
    /// (the overflow lane is full, or this client already has its share of it).
    pub(super) fn admit(&self, ip: IpAddr) -> Option<Slot> {
        let client = client_key(ip);
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let Counts {
            full,
            overflow,
            per_client,
        } = &mut *counts;
        let entry = per_client.entry(client).or_default();
        let lane = if self.max_per_client > 0 && entry.full >= self.max_per_client {
            Lane::OverClientCap
        } else if *full >= self.max_connections {
            Lane::OverCap
        } else {
            Lane::Full
        };
        if lane == Lane::Full {
            entry.full += 1;
            *full += 1;
            metrics::gauge!("http_connections_open").set(*full as f64);
        } else if *overflow < OVERFLOW_CONNECTIONS && entry.overflow < OVERFLOW_PER_CLIENT {
            entry.overflow += 1;
            *overflow += 1;
        } else {
            if entry.full == 0 && entry.overflow == 0 {
                per_client.remove(&client);
            }
            return None;
        }
        Some(Slot {
            lane,
            release: Release::Counted {
                admission: self.clone(),
                client,
            },
        })
    }

    fn release(&self, client: IpAddr, lane: Lane) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let Counts {
            full,
            overflow,
            per_client,
        } = &mut *counts;
        if lane == Lane::Full {
            *full -= 1;
            metrics::gauge!("http_connections_open").set(*full as f64);
        } else {
            *overflow -= 1;
        }
        if let Some(entry) = per_client.get_mut(&client) {
            if lane == Lane::Full {
                entry.full -= 1;
            } else {
                entry.overflow -= 1;
            }
            if entry.full == 0 && entry.overflow == 0 {
                per_client.remove(&client);
            }
        }
    }

    #[cfg(test)]
    fn open(&self) -> (usize, usize, usize) {
        let counts = self.counts.lock().unwrap();
        (counts.full, counts.overflow, counts.per_client.len())
    }
}

/// One admitted connection; dropping it frees its place.
pub(super) struct Slot {
    lane: Lane,
    release: Release,
}

enum Release {
    Counted {
        admission: Admission,
        client: IpAddr,
    },
    /// Gives the spare descriptor back (reopens it) when the connection closes.
    Spare(Arc<Spare>),
}

impl Slot {
    /// A connection accepted on the spare descriptor, outside the counts.
    pub(super) fn on_spare(spare: Arc<Spare>) -> Slot {
        Slot {
            lane: Lane::NoDescriptors,
            release: Release::Spare(spare),
        }
    }

    pub(super) fn lane(&self) -> Lane {
        self.lane
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        match &self.release {
            Release::Counted { admission, client } => admission.release(*client, self.lane),
            Release::Spare(spare) => spare.give_back(),
        }
    }
}

/// What a client is counted as: its IPv4 address, or the /64 of its IPv6 address, since
/// one IPv6 host usually holds a whole /64 and could otherwise spread over it.
pub(super) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_client_over_its_cap_overflows_and_then_is_closed() {
        let admission = Admission::new(100, 2);
        let a = ip("10.0.0.1");
        let full: Vec<Slot> = (0..2).map(|_| admission.admit(a).unwrap()).collect();
        assert!(full.iter().all(|s| s.lane() == Lane::Full));
        let over: Vec<Slot> = (0..OVERFLOW_PER_CLIENT)
            .map(|_| admission.admit(a).unwrap())
            .collect();
        assert!(over.iter().all(|s| s.lane() == Lane::OverClientCap));
        assert!(
            admission.admit(a).is_none(),
            "its share of the lane is used"
        );
        // Another client is not affected.
        assert_eq!(admission.admit(ip("10.0.0.2")).unwrap().lane(), Lane::Full);
        drop(full);
        assert_eq!(admission.admit(a).unwrap().lane(), Lane::Full);
        drop(over);
        assert_eq!(
            admission.open(),
            (0, 0, 0),
            "every count and entry is released"
        );
    }

    #[test]
    fn beyond_the_global_cap_the_lane_is_bounded() {
        let admission = Admission::new(3, 0);
        let full: Vec<Slot> = (1..=3)
            .map(|i| admission.admit(ip(&format!("10.0.1.{i}"))).unwrap())
            .collect();
        let over: Vec<Slot> = (0..OVERFLOW_CONNECTIONS)
            .map(|i| {
                let slot = admission
                    .admit(ip(&format!("10.1.{}.{}", i / 200, i % 200)))
                    .unwrap();
                assert_eq!(slot.lane(), Lane::OverCap);
                slot
            })
            .collect();
        assert!(admission.admit(ip("10.2.0.1")).is_none());
        drop(over);
        drop(full);
        assert_eq!(admission.open(), (0, 0, 0));
    }

    #[test]
    fn ipv6_clients_count_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            client_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(client_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        let admission = Admission::new(100, 1);
        let _first = admission.admit(ip("2001:db8::1")).unwrap();
        assert_eq!(
            admission.admit(ip("2001:db8::2")).unwrap().lane(),
            Lane::OverClientCap
        );
    }
}
