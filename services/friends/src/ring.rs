//! The consistent-hash ring that spreads pub/sub channels over Redis servers.
//!
//! Each server owns `vnodes` points on a 64-bit circle; a channel belongs to the first point
//! at or after its hash. Adding a server takes about 1/N of the channels, all from the
//! others; removing one moves only its own channels. Replacing one therefore moves its
//! channels plus about 1/N taken from the others by the newcomer, never any between
//! survivors. The hash has fixed constants, so every process (and every build) agrees on
//! the owner.

/// 64-bit FNV-1a, then a SplitMix64 finaliser so that similar names spread evenly.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Servers placed on the circle.
#[derive(Clone, Debug)]
pub struct Ring {
    servers: Vec<String>,
    /// (point, index into `servers`), sorted by point.
    points: Vec<(u64, u32)>,
}

impl Ring {
    /// A ring over `servers` (duplicates ignored), `vnodes` points each.
    pub fn new(servers: &[String], vnodes: u32) -> Ring {
        let mut unique: Vec<String> = Vec::with_capacity(servers.len());
        for server in servers {
            if !unique.contains(server) {
                unique.push(server.clone());
            }
        }
        let mut points = Vec::with_capacity(unique.len() * vnodes as usize);
        for (index, server) in unique.iter().enumerate() {
            for vnode in 0..vnodes {
                let point = stable_hash(format!("{server}#{vnode}").as_bytes());
                points.push((point, index as u32));
            }
        }
        // Ties (astronomically rare) are broken by server name, not by list order, so that
        // every process builds the same ring from the same set.
        points.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| unique[a.1 as usize].cmp(&unique[b.1 as usize]))
        });
        Ring {
            servers: unique,
            points,
        }
    }

    pub fn servers(&self) -> &[String] {
        &self.servers
    }

    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// The server owning `channel`; `None` on an empty ring.
    pub fn owner(&self, channel: &str) -> Option<&str> {
        if self.points.is_empty() {
            return None;
        }
        let h = stable_hash(channel.as_bytes());
        let at = self.points.partition_point(|&(p, _)| p < h);
        let (_, index) = self.points[at % self.points.len()];
        Some(&self.servers[index as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("redis://10.0.0.{i}:6379")).collect()
    }

    fn channels() -> Vec<String> {
        (0..20_000).map(|i| format!("geo:u:{i}")).collect()
    }

    #[test]
    fn owners_are_stable_and_balanced() {
        let ring = Ring::new(&servers(4), 160);
        let again = Ring::new(&servers(4).into_iter().rev().collect::<Vec<_>>(), 160);
        let mut counts = std::collections::HashMap::new();
        for channel in channels() {
            let owner = ring.owner(&channel).unwrap();
            assert_eq!(
                owner,
                again.owner(&channel).unwrap(),
                "order must not matter"
            );
            *counts.entry(owner.to_string()).or_insert(0usize) += 1;
        }
        assert_eq!(counts.len(), 4);
        for (server, count) in counts {
            // 5,000 expected; 160 vnodes keep each within about ±15%.
            assert!((4_000..6_000).contains(&count), "{server} has {count}");
        }
    }

    #[test]
    fn adding_a_server_moves_about_one_nth_and_only_to_it() {
        let before = Ring::new(&servers(3), 160);
        let after = Ring::new(&servers(4), 160);
        let added = &servers(4)[3];
        let mut moved = 0;
        for channel in channels() {
            let (a, b) = (
                before.owner(&channel).unwrap(),
                after.owner(&channel).unwrap(),
            );
            if a != b {
                assert_eq!(b, added, "a channel moved between old servers");
                moved += 1;
            }
        }
        let share = moved as f64 / channels().len() as f64;
        assert!((0.18..0.32).contains(&share), "moved {share}");
    }

    #[test]
    fn replacing_a_server_moves_its_channels_and_takes_only_to_the_new_one() {
        // A replacement is a removal plus an addition: the dead server's channels all move,
        // and the only others that move go to the new server (about 1/N of them).
        let old = servers(3);
        let mut new = old.clone();
        new[1] = "redis://10.0.0.99:6379".into();
        let (before, after) = (Ring::new(&old, 160), Ring::new(&new, 160));
        let mut taken = 0;
        for channel in channels() {
            let (a, b) = (
                before.owner(&channel).unwrap(),
                after.owner(&channel).unwrap(),
            );
            if a == old[1] {
                assert_ne!(b, old[1]);
            } else if a != b {
                assert_eq!(b, new[1], "{channel} moved between surviving servers");
                taken += 1;
            }
        }
        let share = taken as f64 / channels().len() as f64;
        assert!(
            share < 0.3,
            "the new server took {share} from the survivors"
        );
    }

    #[test]
    fn empty_ring_has_no_owner() {
        assert!(Ring::new(&[], 10).owner("x").is_none());
        let one = Ring::new(&servers(1), 1);
        assert_eq!(one.owner("anything"), Some(servers(1)[0].as_str()));
    }
}
