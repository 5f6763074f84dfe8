//! Route planning: snap every stop, search each leg (on the version's contraction hierarchy
//! when the query is plain, else with the A*: hierarchically, falling back to the exact
//! search when pruning loses the route), find alternatives by penalising the roads
//! of routes already found, and turn paths into travelled pieces for directions.

use geo_core::{LatLon, haversine_m};
use routing::astar::{Avoid, Hierarchy, SearchOptions, SnapPath, search_between};
use routing::graph::e7_to_latlon;
use routing::snap::{Snap, snap_where};
use routing::tags::flags;
use routing::{Mode, TileSource};
use rustc_hash::FxHashSet;

use crate::directions::RouteEdge;
use crate::tiles::RequestTiles;

/// Planner settings (from the service configuration).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlannerSettings {
    /// Farthest a stop may be from a road the mode can use, metres.
    pub max_snap_m: f64,
    /// Level limits for driving; `None` searches every level everywhere. Walking and
    /// cycling routes are short and use small roads throughout, so they are always exact.
    pub driving_hierarchy: Option<Hierarchy>,
    /// Most routes returned when alternatives are asked for (the best included).
    pub max_routes: usize,
    /// Most edges the A* searches of one plan may settle together (every leg, alternative
    /// and fallback): beyond it the plan fails with [`PlanError::TooCostly`]. Bounds what
    /// one request costs in CPU and memory on any map; contraction-hierarchy queries are
    /// small and not counted.
    pub max_settled: usize,
}

impl Default for PlannerSettings {
    fn default() -> Self {
        PlannerSettings {
            max_snap_m: 1_000.0,
            driving_hierarchy: Some(Hierarchy {
                local_m: 20_000.0,
                arterial_m: 100_000.0,
            }),
            max_routes: 3,
            max_settled: usize::MAX,
        }
    }
}

/// What is asked of one plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanOptions {
    pub mode: Mode,
    pub avoid: Avoid,
    pub alternatives: bool,
    /// Search every level everywhere (no hierarchy): the checking mode.
    pub exact: bool,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// Stop `index` (0 = origin) is farther than the snap limit from any usable road.
    #[error("{what} is more than {max_m} m from any road open to {mode}{avoiding}")]
    NoRoad {
        index: usize,
        what: String,
        max_m: f64,
        mode: Mode,
        avoiding: String,
    },
    /// No route connects stop `leg` to stop `leg + 1`.
    #[error("no {mode} route from {from} to {to}{avoiding}")]
    NoRoute {
        leg: usize,
        from: String,
        to: String,
        mode: Mode,
        avoiding: String,
    },
    /// Tile storage failed mid-plan.
    #[error("routing tiles are unavailable: {0}")]
    Storage(String),
    /// The searches settled `max_settled` edges without finishing: neither a route nor
    /// proof that there is none.
    #[error(
        "the route needs more search than one request may do ({max_settled} road edges); \
         ask for fewer or closer stops, or without exact, avoid or alternatives"
    )]
    TooCostly { max_settled: usize },
}

/// One leg: from one stop to the next.
#[derive(Debug, Clone)]
pub struct PlannedLeg {
    pub edges: Vec<RouteEdge>,
    /// The road edge (packed `GraphId`) each of `edges` travels.
    pub edge_ids: Vec<u64>,
    pub duration_s: f64,
    pub distance_m: f64,
    pub start: LatLon,
    pub end: LatLon,
}

#[derive(Debug, Clone)]
pub struct PlannedRoute {
    pub legs: Vec<PlannedLeg>,
    pub duration_s: f64,
}

/// Work done, for benchmarks and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PlanStats {
    /// Edges the A* searches settled, routes found or not (what the budget counts).
    pub settled: usize,
    pub searches: usize,
    /// Searches the hierarchy failed and the exact mode answered.
    pub fallbacks: usize,
    /// Searches a contraction hierarchy answered (their settled nodes are not counted).
    pub contracted: usize,
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// Best first.
    pub routes: Vec<PlannedRoute>,
    pub snaps: Vec<Snap>,
    pub stats: PlanStats,
}

fn stop_name(index: usize, stops: usize) -> String {
    match index {
        0 => "the origin".to_string(),
        i if i + 1 == stops => "the destination".to_string(),
        i => format!("waypoint {i}"),
    }
}

fn avoiding(avoid: &Avoid) -> String {
    let mut parts = Vec::new();
    if avoid.highways {
        parts.push("highways");
    }
    if avoid.tolls {
        parts.push("tolls");
    }
    if avoid.ferries {
        parts.push("ferries");
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" avoiding {}", parts.join(", "))
    }
}

fn storage_check(tiles: &RequestTiles<'_>) -> Result<(), PlanError> {
    match tiles.error() {
        Some(e) => Err(PlanError::Storage(e)),
        None => Ok(()),
    }
}

/// Plans a route through `stops` (origin, waypoints in order, destination).
pub fn plan(
    tiles: &RequestTiles<'_>,
    stops: &[LatLon],
    options: &PlanOptions,
    settings: &PlannerSettings,
) -> Result<Plan, PlanError> {
    let mode = options.mode;
    let mut snaps = Vec::with_capacity(stops.len());
    for (index, &p) in stops.iter().enumerate() {
        let found = snap_where(tiles, p, mode, settings.max_snap_m, |e| {
            options.avoid.allows(e)
        });
        storage_check(tiles)?;
        snaps.push(found.ok_or_else(|| PlanError::NoRoad {
            index,
            what: stop_name(index, stops.len()),
            max_m: settings.max_snap_m,
            mode,
            avoiding: avoiding(&options.avoid),
        })?);
    }
    let max_speed_kmh = tiles.version().max_speed_kmh(mode);
    let hierarchy = match (options.exact, mode) {
        (false, Mode::Driving) => settings.driving_hierarchy,
        _ => None,
    };
    let base = SearchOptions {
        mode,
        max_speed_kmh,
        avoid: options.avoid,
        hierarchy,
        penalized: None,
        penalty: 1.0,
        max_settled: settings.max_settled,
    };
    let mut stats = PlanStats::default();
    // Plain searches (no avoid, no penalties) are exact on the contraction hierarchy.
    let contracted = (!options.exact && options.avoid == Avoid::default())
        .then(|| tiles.contracted(mode))
        .flatten();
    let mut search = |from: &Snap, to: &Snap, opts: &SearchOptions<'_>| {
        stats.searches += 1;
        if opts.penalized.is_none()
            && let Some(ch) = &contracted
            && let Some(found) = ch.route(tiles, from, to)
        {
            stats.contracted += 1;
            return storage_check(tiles).map(|()| found);
        }
        let mut found = budgeted(tiles, from, to, opts, settings.max_settled, &mut stats)?;
        if found.is_none() && opts.hierarchy.is_some() {
            stats.fallbacks += 1;
            let exact = SearchOptions {
                hierarchy: None,
                ..opts.clone()
            };
            found = budgeted(tiles, from, to, &exact, settings.max_settled, &mut stats)?;
        }
        storage_check(tiles).map(|()| found)
    };
    let no_route = |leg: usize| PlanError::NoRoute {
        leg,
        from: stop_name(leg, stops.len()),
        to: stop_name(leg + 1, stops.len()),
        mode,
        avoiding: avoiding(&options.avoid),
    };

    let mut paths = Vec::with_capacity(snaps.len() - 1);
    for (leg, pair) in snaps.windows(2).enumerate() {
        let path = search(&pair[0], &pair[1], &base)?.ok_or_else(|| no_route(leg))?;
        paths.push(path);
    }
    let mut routes = vec![paths];
    // Alternatives for single-leg trips, as Google offers them.
    if options.alternatives && snaps.len() == 2 && settings.max_routes > 1 {
        let best = routes[0][0].clone();
        let mut penalized: FxHashSet<(i64, u32)> = chains(tiles, &best).collect();
        let mut accepted: Vec<SnapPath> = vec![best.clone()];
        for _ in 0..settings.max_routes * 2 {
            if accepted.len() >= settings.max_routes {
                break;
            }
            let opts = SearchOptions {
                penalized: Some(&penalized),
                penalty: 2.0,
                ..base.clone()
            };
            // Alternatives are extras: when the budget runs out, the routes found stand.
            let candidate = match search(&snaps[0], &snaps[1], &opts) {
                Ok(Some(candidate)) => candidate,
                Ok(None) | Err(PlanError::TooCostly { .. }) => break,
                Err(e) => return Err(e),
            };
            let new_chains: Vec<(i64, u32)> = chains(tiles, &candidate).collect();
            if new_chains.iter().all(|c| penalized.contains(c)) {
                break; // nothing new left to find
            }
            let distinct = accepted
                .iter()
                .all(|a| overlap_share(tiles, &candidate, a) <= 0.6);
            let reasonable = candidate.cost <= best.cost * 1.5 + 60.0;
            penalized.extend(new_chains);
            if distinct && reasonable {
                accepted.push(candidate);
            }
        }
        routes.extend(accepted.into_iter().skip(1).map(|p| vec![p]));
    }

    let mut planned: Vec<PlannedRoute> = routes
        .iter()
        .map(|legs| {
            let legs: Vec<PlannedLeg> = legs
                .iter()
                .enumerate()
                .map(|(i, path)| planned_leg(tiles, path, mode, &snaps[i], &snaps[i + 1]))
                .collect();
            PlannedRoute {
                duration_s: legs.iter().map(|l| l.duration_s).sum(),
                legs,
            }
        })
        .collect();
    storage_check(tiles)?;
    planned.sort_by(|a, b| a.duration_s.total_cmp(&b.duration_s));
    Ok(Plan {
        routes: planned,
        snaps,
        stats,
    })
}

/// One A* search on what is left of the plan's budget of `max_settled` edges.
fn budgeted(
    tiles: &RequestTiles<'_>,
    from: &Snap,
    to: &Snap,
    opts: &SearchOptions<'_>,
    max_settled: usize,
    stats: &mut PlanStats,
) -> Result<Option<SnapPath>, PlanError> {
    let left = SearchOptions {
        max_settled: max_settled.saturating_sub(stats.settled),
        ..opts.clone()
    };
    let done = search_between(tiles, from, to, &left);
    stats.settled += done.settled;
    if done.exhausted {
        return Err(PlanError::TooCostly { max_settled });
    }
    Ok(done.path)
}

/// The chains (way, segment) a path runs on.
fn chains<'a, T: TileSource + ?Sized>(
    tiles: &'a T,
    path: &'a SnapPath,
) -> impl Iterator<Item = (i64, u32)> + 'a {
    path.edges.iter().filter_map(|&e| {
        let edge = tiles.tile_of(e)?.edge(e.index());
        Some((edge.way_id(), edge.seg()))
    })
}

/// Share of `candidate`'s length on chains `other` also uses.
fn overlap_share<T: TileSource + ?Sized>(tiles: &T, candidate: &SnapPath, other: &SnapPath) -> f64 {
    let theirs: FxHashSet<(i64, u32)> = chains(tiles, other).collect();
    let (mut shared, mut total) = (0.0, 0.0);
    for &e in &candidate.edges {
        let Some(tile) = tiles.tile_of(e) else {
            continue;
        };
        let edge = tile.edge(e.index());
        let len = f64::from(edge.length_m());
        total += len;
        if theirs.contains(&(edge.way_id(), edge.seg())) {
            shared += len;
        }
    }
    if total > 0.0 { shared / total } else { 1.0 }
}

/// The part of a polyline between two fractions of its length.
pub fn slice_shape(shape: &[LatLon], from: f64, to: f64) -> Vec<LatLon> {
    let lengths: Vec<f64> = shape.windows(2).map(|w| haversine_m(w[0], w[1])).collect();
    let total: f64 = lengths.iter().sum();
    let at = |fraction: f64| -> (usize, LatLon) {
        let target = fraction.clamp(0.0, 1.0) * total;
        let mut walked = 0.0;
        for (i, &len) in lengths.iter().enumerate() {
            if walked + len >= target && len > 0.0 {
                let t = ((target - walked) / len).clamp(0.0, 1.0);
                let (a, b) = (shape[i], shape[i + 1]);
                return (
                    i,
                    LatLon::clamped(a.lat + t * (b.lat - a.lat), a.lon + t * (b.lon - a.lon)),
                );
            }
            walked += len;
        }
        (
            shape.len().saturating_sub(2),
            *shape.last().unwrap_or(&shape[0]),
        )
    };
    if shape.len() < 2 || (from <= 0.0 && to >= 1.0) {
        return shape.to_vec();
    }
    let (i, start) = at(from);
    let (j, end) = at(to);
    let mut out = vec![start];
    out.extend_from_slice(&shape[i + 1..=j]);
    out.push(end);
    out
}

fn planned_leg<T: TileSource + ?Sized>(
    tiles: &T,
    path: &SnapPath,
    mode: Mode,
    from: &Snap,
    to: &Snap,
) -> PlannedLeg {
    let n = path.edges.len();
    let mut edge_ids = Vec::with_capacity(path.edges.len());
    let mut edges = Vec::with_capacity(n);
    for (i, &id) in path.edges.iter().enumerate() {
        let Some(tile) = tiles.tile_of(id) else {
            continue;
        };
        let edge = tile.edge(id.index());
        let start = if i == 0 { path.start_fraction } else { 0.0 };
        let end = if i + 1 == n { path.end_fraction } else { 1.0 };
        let share = (end - start).max(0.0);
        let shape: Vec<LatLon> = edge.shape().into_iter().map(e7_to_latlon).collect();
        edge_ids.push(id.packed());
        edges.push(RouteEdge {
            shape: slice_shape(&shape, start, end),
            length_m: f64::from(edge.length_m()) * share,
            duration_s: edge.cost(mode).unwrap_or(0.0) * share,
            name: edge.name().map(str::to_string),
            reference: edge.reference().map(str::to_string),
            roundabout: edge.flags() & flags::ROUNDABOUT != 0,
        });
    }
    PlannedLeg {
        duration_s: edges.iter().map(|e| e.duration_s).sum(),
        distance_m: edges.iter().map(|e| e.length_m).sum(),
        edges,
        edge_ids,
        start: from.point,
        end: to.point,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(lat: f64, lon: f64) -> LatLon {
        LatLon::new(lat, lon).expect("a valid test coordinate")
    }

    #[test]
    fn slices_keep_the_shape_between_fractions() {
        let shape = vec![p(60.0, 24.0), p(60.001, 24.0), p(60.002, 24.0)];
        assert_eq!(slice_shape(&shape, 0.0, 1.0), shape);
        let half = slice_shape(&shape, 0.25, 0.75);
        assert_eq!(half.len(), 3);
        assert!((half[0].lat - 60.0005).abs() < 1e-9);
        assert_eq!(half[1], shape[1]);
        assert!((half[2].lat - 60.0015).abs() < 1e-9);
        let inside = slice_shape(&shape, 0.1, 0.2);
        assert_eq!(inside.len(), 2);
        assert!((inside[0].lat - 60.0002).abs() < 1e-9);
        assert!((inside[1].lat - 60.0004).abs() < 1e-9);
        let reversed_none = slice_shape(&shape, 0.5, 0.5);
        assert!((reversed_none[0].lat - reversed_none[1].lat).abs() < 1e-12);
    }
}
