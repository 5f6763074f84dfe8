//! The synthetic city and its social graph: where users live, who is friends with whom
//! (mostly neighbours, some far away), and loading both through the friends store's bulk loads.

use super::*;

/// Metres east (`x`) and north (`y`) of [`CENTRE`].
#[derive(Clone, Copy, Debug)]
pub(super) struct Xy {
    pub(super) x: f64,
    pub(super) y: f64,
}

pub(super) fn to_latlon(p: Xy) -> LatLon {
    offset_m(CENTRE, p.y, p.x)
}

/// `n` users uniformly at random in the square of side `side_m` around the centre; the
/// client processes regenerate the same positions from the same seed.
pub(super) fn place_users(n: usize, side_m: f64, seed: u64) -> Vec<Xy> {
    let mut rng = StdRng::seed_from_u64(seed);
    let half = side_m / 2.0;
    (0..n)
        .map(|_| Xy {
            x: rng.random_range(-half..half),
            y: rng.random_range(-half..half),
        })
        .collect()
}

/// Mutual friendships, `adj[u]` = the friends of user index `u`. Users are visited in a
/// random order; each picks partners that still have fewer than `f` friends, 90 % of them
/// around a uniform point within 6 km of itself and 10 % around a uniform point of the
/// whole area (a random user of the 250 m grid cell containing the point), until it has `f`
/// or the attempts run out. Degrees are therefore at most `f` and mostly exactly `f`.
pub(super) fn build_graph(pos: &[Xy], f: usize, side_m: f64, seed: u64) -> Vec<Vec<u32>> {
    let n = pos.len();
    let f = f.min(n.saturating_sub(1));
    let half = side_m / 2.0;
    let cell = 250.0_f64.max(side_m / 400.0);
    let cols = ((side_m / cell).ceil() as usize).max(1);
    let cell_of = |p: Xy| -> Option<usize> {
        let cx = ((p.x + half) / cell).floor();
        let cy = ((p.y + half) / cell).floor();
        let max = cols as f64;
        (cx >= 0.0 && cy >= 0.0 && cx < max && cy < max).then(|| cy as usize * cols + cx as usize)
    };
    let mut grid: Vec<Vec<u32>> = vec![Vec::new(); cols * cols];
    for (i, &p) in pos.iter().enumerate() {
        if let Some(c) = cell_of(p) {
            grid[c].push(i as u32);
        }
    }
    let mut rng = StdRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut adj: Vec<Vec<u32>> = vec![Vec::with_capacity(f); n];
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    for &u in &order {
        let mut attempts = 0;
        while adj[u].len() < f && attempts < 64 * f {
            attempts += 1;
            let target = if rng.random_bool(LOCAL_SHARE) {
                let r = LOCAL_RADIUS_M * rng.random::<f64>().sqrt();
                let a = rng.random_range(0.0..std::f64::consts::TAU);
                Xy {
                    x: pos[u].x + r * a.cos(),
                    y: pos[u].y + r * a.sin(),
                }
            } else {
                Xy {
                    x: rng.random_range(-half..half),
                    y: rng.random_range(-half..half),
                }
            };
            let Some(c) = cell_of(target) else { continue };
            let members = &grid[c];
            if members.is_empty() {
                continue;
            }
            let v = members[rng.random_range(0..members.len())];
            if v as usize == u || adj[v as usize].len() >= f || adj[u].contains(&v) {
                continue;
            }
            adj[u].push(v);
            adj[v as usize].push(u as u32);
        }
    }
    adj
}

/// What the graph turned out to be.
#[derive(Debug, Clone)]
pub(super) struct GraphStats {
    pub(super) users: usize,
    pub(super) edges: usize,
    pub(super) mean_degree: f64,
    pub(super) min_degree: usize,
    pub(super) max_degree: usize,
    /// Share of friend pairs within the radius at the starting positions.
    pub(super) within_share: f64,
    /// Friends within the radius per user: the deliveries one update should cause.
    pub(super) fan_out: f64,
}

pub(super) fn graph_stats(pos: &[Xy], adj: &[Vec<u32>]) -> GraphStats {
    let mut edges = 0;
    let mut within = 0;
    for (u, friends) in adj.iter().enumerate() {
        for &v in friends {
            if (v as usize) > u {
                edges += 1;
                if haversine_m(to_latlon(pos[u]), to_latlon(pos[v as usize])) <= RADIUS_M {
                    within += 1;
                }
            }
        }
    }
    let n = adj.len().max(1);
    GraphStats {
        users: adj.len(),
        edges,
        mean_degree: 2.0 * edges as f64 / n as f64,
        min_degree: adj.iter().map(Vec::len).min().unwrap_or(0),
        max_degree: adj.iter().map(Vec::len).max().unwrap_or(0),
        within_share: if edges == 0 {
            0.0
        } else {
            within as f64 / edges as f64
        },
        fan_out: 2.0 * within as f64 / n as f64,
    }
}

/// Users (ids 1..=n, named `bench user <id>`) and both directions of every friendship,
/// through the friends store's bulk loads.
pub(super) async fn load_graph(db: &kit::db::Db, adj: &[Vec<u32>]) -> anyhow::Result<()> {
    let users: Vec<(i64, String)> = (1..=adj.len() as i64)
        .map(|id| (id, format!("bench user {id}")))
        .collect();
    friends::bulk::insert_users(db, &users)
        .await
        .context("inserting users")?;
    let pairs: Vec<(i64, i64)> = adj
        .iter()
        .enumerate()
        .flat_map(|(u, friends)| {
            friends
                .iter()
                .filter(move |&&v| v as usize > u)
                .map(move |&v| (u as i64 + 1, v as i64 + 1))
        })
        .collect();
    friends::bulk::insert_friendships(db, &pairs)
        .await
        .context("inserting friendships")
}
