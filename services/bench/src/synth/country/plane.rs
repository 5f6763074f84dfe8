//! Plane geometry and graphs on the country's local plane (km): distances, segment
//! intersection, grids of points and segments, proximity (Gabriel) graphs, spanning trees and
//! shortest paths, and where roads cross.

use super::*;

pub(super) fn dist(a: P, b: P) -> f64 {
    (a.0 - b.0).hypot(a.1 - b.1)
}

pub(super) fn unit(from: P, to: P) -> P {
    let l = dist(from, to).max(1e-12);
    ((to.0 - from.0) / l, (to.1 - from.1) / l)
}

/// Distance from `p` to segment `ab`, and the parameter of the nearest point (unclamped
/// projection, so callers can tell whether `p` lies beside the segment).
pub(super) fn segment_distance(p: P, a: P, b: P) -> (f64, f64) {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let l2 = dx * dx + dy * dy;
    if l2 < 1e-18 {
        return (dist(p, a), 0.0);
    }
    let t = ((p.0 - a.0) * dx + (p.1 - a.1) * dy) / l2;
    let tc = t.clamp(0.0, 1.0);
    (dist(p, (a.0 + dx * tc, a.1 + dy * tc)), t)
}

/// Where open segments `p1p2` and `q1q2` cross, as parameters along each.
pub(super) fn intersect(p1: P, p2: P, q1: P, q2: P) -> Option<(f64, f64)> {
    let r = (p2.0 - p1.0, p2.1 - p1.1);
    let s = (q2.0 - q1.0, q2.1 - q1.1);
    let denom = r.0 * s.1 - r.1 * s.0;
    if denom.abs() < 1e-15 {
        return None;
    }
    let qp = (q1.0 - p1.0, q1.1 - p1.1);
    let t = (qp.0 * s.1 - qp.1 * s.0) / denom;
    let u = (qp.0 * r.1 - qp.1 * r.0) / denom;
    const EPS: f64 = 1e-9;
    (t > EPS && t < 1.0 - EPS && u > EPS && u < 1.0 - EPS).then_some((t, u))
}

/// Points bucketed in a uniform grid.
pub(super) struct PointGrid {
    pub(super) x0: f64,
    pub(super) y0: f64,
    pub(super) cell: f64,
    pub(super) cols: usize,
    pub(super) rows: usize,
    pub(super) start: Vec<u32>,
    pub(super) items: Vec<u32>,
}

impl PointGrid {
    pub(super) fn new(points: &[P], cell: f64) -> PointGrid {
        let (mut x0, mut y0, mut x1, mut y1) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        if let Some(&first) = points.first() {
            (x0, y0, x1, y1) = (first.0, first.1, first.0, first.1);
        }
        for p in points {
            (x0, y0, x1, y1) = (x0.min(p.0), y0.min(p.1), x1.max(p.0), y1.max(p.1));
        }
        let cols = ((x1 - x0) / cell) as usize + 1;
        let rows = ((y1 - y0) / cell) as usize + 1;
        let mut grid = PointGrid {
            x0,
            y0,
            cell,
            cols,
            rows,
            start: vec![0; cols * rows + 1],
            items: vec![0; points.len()],
        };
        let cells: Vec<usize> = points.iter().map(|&p| grid.cell_index(p)).collect();
        for &c in &cells {
            grid.start[c + 1] += 1;
        }
        for c in 0..cols * rows {
            grid.start[c + 1] += grid.start[c];
        }
        let mut fill = grid.start.clone();
        for (i, &c) in cells.iter().enumerate() {
            grid.items[fill[c] as usize] = i as u32;
            fill[c] += 1;
        }
        grid
    }

    pub(super) fn cell_xy(&self, p: P) -> (isize, isize) {
        (
            ((p.0 - self.x0) / self.cell).floor() as isize,
            ((p.1 - self.y0) / self.cell).floor() as isize,
        )
    }

    pub(super) fn cell_index(&self, p: P) -> usize {
        let (x, y) = self.cell_xy(p);
        let x = x.clamp(0, self.cols as isize - 1) as usize;
        let y = y.clamp(0, self.rows as isize - 1) as usize;
        y * self.cols + x
    }

    pub(super) fn bucket(&self, x: isize, y: isize) -> &[u32] {
        if x < 0 || y < 0 || x >= self.cols as isize || y >= self.rows as isize {
            return &[];
        }
        let c = y as usize * self.cols + x as usize;
        &self.items[self.start[c] as usize..self.start[c + 1] as usize]
    }

    /// Every point within `r` of `p`.
    pub(super) fn within(&self, points: &[P], p: P, r: f64, mut visit: impl FnMut(u32)) {
        let (lx, ly) = self.cell_xy((p.0 - r, p.1 - r));
        let (hx, hy) = self.cell_xy((p.0 + r, p.1 + r));
        for y in ly.max(0)..=hy.min(self.rows as isize - 1) {
            for x in lx.max(0)..=hx.min(self.cols as isize - 1) {
                for &i in self.bucket(x, y) {
                    if dist(points[i as usize], p) <= r {
                        visit(i);
                    }
                }
            }
        }
    }

    /// The `k` nearest other points of point `i`.
    pub(super) fn nearest(&self, points: &[P], i: u32, k: usize) -> Vec<u32> {
        let p = points[i as usize];
        let (cx, cy) = self.cell_xy(p);
        let mut found: Vec<(f64, u32)> = Vec::new();
        let limit = (self.cols + self.rows) as isize;
        for d in 0..=limit {
            for y in cy - d..=cy + d {
                for x in cx - d..=cx + d {
                    if (x - cx).abs().max((y - cy).abs()) != d {
                        continue;
                    }
                    for &j in self.bucket(x, y) {
                        if j != i {
                            found.push((dist(p, points[j as usize]), j));
                        }
                    }
                }
            }
            if found.len() >= k {
                found.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                // Anything in a farther ring is at least `d` cells away.
                if found[k - 1].0 <= d as f64 * self.cell {
                    break;
                }
            }
        }
        found.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        found.into_iter().take(k).map(|(_, j)| j).collect()
    }
}

/// Union-find over `n` elements.
pub(super) struct Dsu(pub(super) Vec<u32>);

impl Dsu {
    pub(super) fn new(n: usize) -> Dsu {
        Dsu((0..n as u32).collect())
    }

    pub(super) fn find(&mut self, mut x: u32) -> u32 {
        while self.0[x as usize] != x {
            let up = self.0[self.0[x as usize] as usize];
            self.0[x as usize] = up;
            x = up;
        }
        x
    }

    pub(super) fn union(&mut self, a: u32, b: u32) -> bool {
        let (a, b) = (self.find(a), self.find(b));
        self.0[a as usize] = b;
        a != b
    }
}

/// Proximity edges over `points`: the Gabriel graph (among each point's `k` nearest) and a
/// minimum spanning tree, both as sorted `(low, high)` pairs. The tree is completed across
/// the rare gaps the nearest-neighbour candidates leave, so the union is always connected.
pub(super) fn proximity_edges(points: &[P], k: usize) -> (Vec<Pair>, Vec<Pair>) {
    let n = points.len();
    if n < 2 {
        return (Vec::new(), Vec::new());
    }
    let grid_for = |points: &[P]| {
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for p in points {
            (x0, y0, x1, y1) = (x0.min(p.0), y0.min(p.1), x1.max(p.0), y1.max(p.1));
        }
        let area = ((x1 - x0) * (y1 - y0)).max(1e-6);
        PointGrid::new(points, (area / n as f64).sqrt().max(0.05))
    };
    let grid = grid_for(points);
    let mut candidates: Vec<(u32, u32)> = Vec::new();
    for i in 0..n as u32 {
        for j in grid.nearest(points, i, k.min(n - 1)) {
            candidates.push((i.min(j), i.max(j)));
        }
    }
    candidates.sort_unstable();
    candidates.dedup();
    let length = |&(a, b): &(u32, u32)| dist(points[a as usize], points[b as usize]);
    let gabriel: Vec<(u32, u32)> = candidates
        .iter()
        .copied()
        .filter(|&(a, b)| {
            let (pa, pb) = (points[a as usize], points[b as usize]);
            let mid = ((pa.0 + pb.0) / 2.0, (pa.1 + pb.1) / 2.0);
            let r = dist(pa, pb) / 2.0;
            let mut empty = true;
            grid.within(points, mid, r * (1.0 - 1e-9), |c| {
                if c != a && c != b {
                    empty = false;
                }
            });
            empty
        })
        .collect();
    let mut by_length = candidates.clone();
    by_length.sort_by(|x, y| length(x).total_cmp(&length(y)).then(x.cmp(y)));
    let mut dsu = Dsu::new(n);
    let mut mst = Vec::new();
    for e in by_length {
        if dsu.union(e.0, e.1) {
            mst.push(e);
        }
    }
    // Join leftover components to the nearest point outside them (brute force: rare).
    loop {
        let roots: Vec<u32> = (0..n as u32).map(|i| dsu.find(i)).collect();
        let first = roots[0];
        let Some(other) = (0..n).find(|&i| roots[i] != first) else {
            break;
        };
        let component = roots[other];
        let mut best = (f64::MAX, 0u32, 0u32);
        for i in 0..n {
            if roots[i] != component {
                continue;
            }
            for j in 0..n {
                if roots[j] != component {
                    let d = dist(points[i], points[j]);
                    if d < best.0 {
                        best = (d, i as u32, j as u32);
                    }
                }
            }
        }
        dsu.union(best.1, best.2);
        mst.push((best.1.min(best.2), best.1.max(best.2)));
    }
    mst.sort_unstable();
    (gabriel, mst)
}

/// Reroutes edges whose straight line passes through a settlement through that
/// settlement's centre instead; sorted, one edge per pair (the most important class).
pub(super) fn split_through(
    points: &[P],
    radii: &[f64],
    edges: &[(u32, u32, Class)],
    margin: f64,
) -> Vec<(u32, u32, Class)> {
    let grid = PointGrid::new(points, 5.0);
    let max_radius = radii.iter().copied().fold(0.0, f64::max);
    let mut out = Vec::new();
    for &(a, b, class) in edges {
        let mut stack = vec![(a, b)];
        let mut splits = 0;
        while let Some((a, b)) = stack.pop() {
            let (pa, pb) = (points[a as usize], points[b as usize]);
            let mid = ((pa.0 + pb.0) / 2.0, (pa.1 + pb.1) / 2.0);
            let mut best: Option<(f64, u32)> = None;
            if splits < 16 {
                grid.within(points, mid, dist(pa, pb) / 2.0 + max_radius + margin, |c| {
                    if c == a || c == b {
                        return;
                    }
                    let (d, t) = segment_distance(points[c as usize], pa, pb);
                    if t > 0.0
                        && t < 1.0
                        && d < radii[c as usize] + margin
                        && best.is_none_or(|(bt, _)| t < bt)
                    {
                        best = Some((t, c));
                    }
                });
            }
            match best {
                Some((_, c)) => {
                    splits += 1;
                    stack.push((c, b));
                    stack.push((a, c));
                }
                None => out.push((a.min(b), a.max(b), class)),
            }
        }
    }
    out.sort_unstable();
    out.dedup_by_key(|e| (e.0, e.1));
    out
}

/// Segments of ways bucketed in a uniform grid (a segment goes in every cell its bounding
/// box touches).
pub(super) struct SegmentGrid {
    pub(super) x0: f64,
    pub(super) y0: f64,
    pub(super) cell: f64,
    pub(super) cols: usize,
    pub(super) rows: usize,
    pub(super) start: Vec<u32>,
    /// (way, segment)
    pub(super) items: Vec<(u32, u32)>,
}

impl SegmentGrid {
    pub(super) fn new(nodes: &[P], ways: &[&[u32]], cell: f64) -> SegmentGrid {
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for &n in ways.iter().flat_map(|w| w.iter()) {
            let p = nodes[n as usize];
            (x0, y0, x1, y1) = (x0.min(p.0), y0.min(p.1), x1.max(p.0), y1.max(p.1));
        }
        if x0 > x1 {
            (x0, y0, x1, y1) = (0.0, 0.0, 0.0, 0.0);
        }
        let cols = ((x1 - x0) / cell) as usize + 1;
        let rows = ((y1 - y0) / cell) as usize + 1;
        let mut grid = SegmentGrid {
            x0,
            y0,
            cell,
            cols,
            rows,
            start: vec![0; cols * rows + 1],
            items: Vec::new(),
        };
        for pass in 0..2 {
            let mut fill = grid.start.clone();
            for (w, refs) in ways.iter().enumerate() {
                for s in 0..refs.len().saturating_sub(1) {
                    let (a, b) = (nodes[refs[s] as usize], nodes[refs[s + 1] as usize]);
                    let (lx, ly) = grid.cell_xy((a.0.min(b.0), a.1.min(b.1)));
                    let (hx, hy) = grid.cell_xy((a.0.max(b.0), a.1.max(b.1)));
                    for y in ly..=hy {
                        for x in lx..=hx {
                            let c = y * cols + x;
                            if pass == 0 {
                                grid.start[c + 1] += 1;
                            } else {
                                grid.items[fill[c] as usize] = (w as u32, s as u32);
                                fill[c] += 1;
                            }
                        }
                    }
                }
            }
            if pass == 0 {
                for c in 0..cols * rows {
                    grid.start[c + 1] += grid.start[c];
                }
                grid.items = vec![(0, 0); grid.start[cols * rows] as usize];
            }
        }
        grid
    }

    pub(super) fn cell_xy(&self, p: P) -> (usize, usize) {
        let x = ((p.0 - self.x0) / self.cell)
            .floor()
            .clamp(0.0, (self.cols - 1) as f64);
        let y = ((p.1 - self.y0) / self.cell)
            .floor()
            .clamp(0.0, (self.rows - 1) as f64);
        (x as usize, y as usize)
    }

    pub(super) fn bucket(&self, x: usize, y: usize) -> &[(u32, u32)] {
        let c = y * self.cols + x;
        &self.items[self.start[c] as usize..self.start[c + 1] as usize]
    }

    /// Whether any segment comes within `r` of `p`.
    pub(super) fn near(&self, nodes: &[P], ways: &[&[u32]], p: P, r: f64) -> bool {
        let (lx, ly) = self.cell_xy((p.0 - r, p.1 - r));
        let (hx, hy) = self.cell_xy((p.0 + r, p.1 + r));
        (ly..=hy).any(|y| {
            (lx..=hx).any(|x| {
                self.bucket(x, y).iter().any(|&(w, s)| {
                    let refs = ways[w as usize];
                    let (a, b) = (
                        nodes[refs[s as usize] as usize],
                        nodes[refs[s as usize + 1] as usize],
                    );
                    segment_distance(p, a, b).0 < r
                })
            })
        })
    }
}

/// Two road segments crossing: (road, segment, parameter) for each, and the point.
pub(super) struct Crossing {
    pub(super) a: RoadPos,
    pub(super) b: RoadPos,
    pub(super) p: P,
}

pub(super) fn crossings(nodes: &[P], roads: &[WaySpec]) -> Vec<Crossing> {
    let ways: Vec<&[u32]> = roads.iter().map(|r| r.refs.as_slice()).collect();
    let grid = SegmentGrid::new(nodes, &ways, 1.0);
    let mut out = Vec::new();
    for cy in 0..grid.rows {
        for cx in 0..grid.cols {
            let items = grid.bucket(cx, cy);
            for (k, &(r1, s1)) in items.iter().enumerate() {
                let (a1, a2) = (
                    ways[r1 as usize][s1 as usize],
                    ways[r1 as usize][s1 as usize + 1],
                );
                for &(r2, s2) in &items[k + 1..] {
                    if r1 == r2 {
                        continue;
                    }
                    let (b1, b2) = (
                        ways[r2 as usize][s2 as usize],
                        ways[r2 as usize][s2 as usize + 1],
                    );
                    if a1 == b1 || a1 == b2 || a2 == b1 || a2 == b2 {
                        continue;
                    }
                    let (p1, p2) = (nodes[a1 as usize], nodes[a2 as usize]);
                    let Some((t, u)) = intersect(p1, p2, nodes[b1 as usize], nodes[b2 as usize])
                    else {
                        continue;
                    };
                    let p = (p1.0 + (p2.0 - p1.0) * t, p1.1 + (p2.1 - p1.1) * t);
                    // A pair shares several cells; count it in the cell of the crossing.
                    if grid.cell_xy(p) == (cx, cy) {
                        out.push(Crossing {
                            a: (r1, s1, t),
                            b: (r2, s2, u),
                            p,
                        });
                    }
                }
            }
        }
    }
    out
}

/// The point at distance `s` along a polyline: (segment, parameter, point).
pub(super) fn point_along(nodes: &[P], refs: &[u32], s: f64) -> (u32, f64, P) {
    let mut left = s;
    for k in 0..refs.len() - 1 {
        let (a, b) = (nodes[refs[k] as usize], nodes[refs[k + 1] as usize]);
        let l = dist(a, b);
        if left <= l || k == refs.len() - 2 {
            let t = if l > 0.0 {
                (left / l).clamp(0.0, 1.0)
            } else {
                0.0
            };
            return (k as u32, t, (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t));
        }
        left -= l;
    }
    unreachable!("a road has at least two nodes")
}

pub(super) fn prefix_lengths(nodes: &[P], refs: &[u32]) -> Vec<f64> {
    let mut out = vec![0.0];
    for w in refs.windows(2) {
        out.push(out[out.len() - 1] + dist(nodes[w[0] as usize], nodes[w[1] as usize]));
    }
    out
}

/// Least-cost path between `from` and `to` over an undirected weighted graph, as edge indices.
pub(super) fn shortest_path(
    adjacency: &[Vec<(u32, usize)>],
    weight: &[f64],
    from: u32,
    to: u32,
) -> Option<Vec<usize>> {
    let mut cost = vec![f64::INFINITY; adjacency.len()];
    let mut via: Vec<Option<(u32, usize)>> = vec![None; adjacency.len()];
    let mut heap = BinaryHeap::new();
    cost[from as usize] = 0.0;
    heap.push(Reverse((0u64, from)));
    while let Some(Reverse((bits, v))) = heap.pop() {
        let c = f64::from_bits(bits);
        if c > cost[v as usize] {
            continue;
        }
        if v == to {
            break;
        }
        for &(w, e) in &adjacency[v as usize] {
            let next = c + weight[e];
            if next < cost[w as usize] {
                cost[w as usize] = next;
                via[w as usize] = Some((v, e));
                heap.push(Reverse((next.to_bits(), w)));
            }
        }
    }
    if cost[to as usize].is_infinite() {
        return None;
    }
    let mut path = Vec::new();
    let mut v = to;
    while let Some((u, e)) = via[v as usize] {
        path.push(e);
        v = u;
    }
    Some(path)
}

/// Minimum spanning tree of a small complete graph (Prim), as index pairs.
pub(super) fn prim(points: &[P]) -> Vec<(u32, u32)> {
    let n = points.len();
    let mut best = vec![(f64::INFINITY, 0usize); n];
    let mut done = vec![false; n];
    let mut out = Vec::new();
    if n == 0 {
        return out;
    }
    done[0] = true;
    for j in 1..n {
        best[j] = (dist(points[0], points[j]), 0);
    }
    for _ in 1..n {
        let v = (0..n)
            .filter(|&j| !done[j])
            .min_by(|&a, &b| best[a].0.total_cmp(&best[b].0))
            .expect("a point is left");
        done[v] = true;
        out.push((best[v].1.min(v) as u32, best[v].1.max(v) as u32));
        for j in 0..n {
            if !done[j] {
                let d = dist(points[v], points[j]);
                if d < best[j].0 {
                    best[j] = (d, v);
                }
            }
        }
    }
    out
}
