//! Where a tile's edges lie: each edge's bounding box, and a grid of cells listing the edges
//! whose box meets each cell. Snapping and map matching look for edges near a point many
//! thousands of times a second; a local tile holds thousands of edges and a highway tile
//! tens of thousands, so scanning every box per lookup was most of a map-matching step.

/// A box: south, west, north, east, 1e-7 degrees.
pub type EdgeBox = [i32; 4];

/// Cells are about this many edges' worth of area (a lookup reads a few cells).
const EDGES_PER_CELL: usize = 4;
/// No cell is smaller than this (1e-7 degrees, about 33 m of latitude): a lookup window of
/// a few tens of metres then meets few cells.
const MIN_CELL_E7: i64 = 3_000;
/// Sides of the grid, at most (so the grid itself stays small however dense the tile).
const MAX_SIDE: i64 = 512;
/// An edge whose box would meet more cells than this (a long diagonal road) is kept in a
/// list every lookup reads instead: listing it in every cell would cost more than checking it.
const MAX_CELLS_PER_EDGE: i64 = 64;

#[derive(Debug, Default)]
pub struct EdgeIndex {
    boxes: Vec<EdgeBox>,
    /// South-west corner of the grid and the side of a cell, 1e-7 degrees.
    south: i64,
    west: i64,
    cell: i64,
    rows: i64,
    cols: i64,
    /// Per cell (row-major), where its edges start in `edges`; one more entry at the end.
    starts: Vec<u32>,
    edges: Vec<u32>,
    /// Per edge, the first row and column its box meets (for reporting it once).
    first_cell: Vec<(u16, u16)>,
    /// Edges listed in no cell, read by every lookup.
    wide: Vec<u32>,
}

impl EdgeIndex {
    pub fn build(boxes: Vec<EdgeBox>) -> EdgeIndex {
        let Some(extent) = boxes.iter().copied().reduce(|a, b| {
            [
                a[0].min(b[0]),
                a[1].min(b[1]),
                a[2].max(b[2]),
                a[3].max(b[3]),
            ]
        }) else {
            return EdgeIndex::default();
        };
        let (south, west) = (i64::from(extent[0]), i64::from(extent[1]));
        let height = i64::from(extent[2]) - south + 1;
        let width = i64::from(extent[3]) - west + 1;
        let cells_wanted = (boxes.len() / EDGES_PER_CELL).max(1) as f64;
        let side = ((height as f64 * width as f64) / cells_wanted).sqrt() as i64;
        let cell = side
            .max(MIN_CELL_E7)
            .max(ceil_div(height.max(width), MAX_SIDE));
        let rows = ceil_div(height, cell).max(1);
        let cols = ceil_div(width, cell).max(1);
        let mut index = EdgeIndex {
            boxes,
            south,
            west,
            cell,
            rows,
            cols,
            ..EdgeIndex::default()
        };
        // Counting sort into cells: count, prefix sums, fill.
        let mut counts = vec![0u32; (rows * cols) as usize + 1];
        for (e, b) in index.boxes.iter().enumerate() {
            let (r0, c0, r1, c1) = index.span(b);
            if (r1 - r0 + 1) * (c1 - c0 + 1) > MAX_CELLS_PER_EDGE {
                index.wide.push(e as u32);
                continue;
            }
            for r in r0..=r1 {
                for c in c0..=c1 {
                    counts[(r * cols + c) as usize + 1] += 1;
                }
            }
        }
        for i in 1..counts.len() {
            counts[i] += counts[i - 1];
        }
        index.first_cell = index
            .boxes
            .iter()
            .map(|b| {
                let (r0, c0, _, _) = index.span(b);
                (r0 as u16, c0 as u16)
            })
            .collect();
        let mut fill = counts.clone();
        index.edges = vec![0; *counts.last().unwrap_or(&0) as usize];
        let mut wide = index.wide.iter().peekable();
        for (e, b) in index.boxes.iter().enumerate() {
            if wide.peek() == Some(&&(e as u32)) {
                wide.next();
                continue;
            }
            let (r0, c0, r1, c1) = index.span(b);
            for r in r0..=r1 {
                for c in c0..=c1 {
                    let slot = &mut fill[(r * cols + c) as usize];
                    index.edges[*slot as usize] = e as u32;
                    *slot += 1;
                }
            }
        }
        index.starts = counts;
        index
    }

    pub fn boxes(&self) -> &[EdgeBox] {
        &self.boxes
    }

    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.boxes.len() * size_of::<EdgeBox>()
            + (self.starts.len() + self.edges.len() + self.wide.len() + self.first_cell.len()) * 4
    }

    /// Rows and columns (first and last, clamped to the grid) a box meets.
    fn span(&self, b: &EdgeBox) -> (i64, i64, i64, i64) {
        let row = |lat: i32| ((i64::from(lat) - self.south) / self.cell).clamp(0, self.rows - 1);
        let col = |lon: i32| ((i64::from(lon) - self.west) / self.cell).clamp(0, self.cols - 1);
        (row(b[0]), col(b[1]), row(b[2]), col(b[3]))
    }

    /// Calls `f` once with every edge whose box meets `window`.
    pub fn for_each_within(&self, window: &EdgeBox, mut f: impl FnMut(u32, &EdgeBox)) {
        if self.boxes.is_empty() {
            return;
        }
        let meets = |b: &EdgeBox| {
            b[0] <= window[2] && b[2] >= window[0] && b[1] <= window[3] && b[3] >= window[1]
        };
        for &e in &self.wide {
            let b = &self.boxes[e as usize];
            if meets(b) {
                f(e, b);
            }
        }
        let grid_north = self.south + self.rows * self.cell - 1;
        let grid_east = self.west + self.cols * self.cell - 1;
        if i64::from(window[0]) > grid_north
            || i64::from(window[2]) < self.south
            || i64::from(window[1]) > grid_east
            || i64::from(window[3]) < self.west
        {
            return;
        }
        let (r0, c0, r1, c1) = self.span(window);
        for r in r0..=r1 {
            for c in c0..=c1 {
                let cell = (r * self.cols + c) as usize;
                let listed =
                    &self.edges[self.starts[cell] as usize..self.starts[cell + 1] as usize];
                for &e in listed {
                    let b = &self.boxes[e as usize];
                    if !meets(b) {
                        continue;
                    }
                    // An edge is listed in every cell its box meets: report it from one
                    // only, the cell holding the south-west corner of box ∩ window.
                    let (row, col) = self.first_cell[e as usize];
                    if i64::from(row).max(r0) == r && i64::from(col).max(c0) == c {
                        f(e, b);
                    }
                }
            }
        }
    }
}

/// `a / b` rounded up, for `b > 0` (signed `div_ceil` is not stable).
fn ceil_div(a: i64, b: i64) -> i64 {
    (a + b - 1).div_euclid(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny deterministic generator, so the test needs no dependency.
    fn next(state: &mut u64) -> i32 {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (*state >> 33) as i32
    }

    #[test]
    fn lookups_find_exactly_the_boxes_a_scan_finds() {
        let mut state = 7u64;
        let mut boxes = Vec::new();
        for i in 0..5_000 {
            let (lat, lon) = (next(&mut state) % 1_000_000, next(&mut state) % 1_000_000);
            // Mostly short edges, some long ones (listed as wide), some points.
            let (dlat, dlon) = match i % 50 {
                0 => (next(&mut state) % 900_000, next(&mut state) % 900_000),
                1 => (0, 0),
                _ => (next(&mut state) % 3_000, next(&mut state) % 3_000),
            };
            boxes.push([lat, lon, lat + dlat, lon + dlon]);
        }
        let index = EdgeIndex::build(boxes.clone());
        assert!(!index.wide.is_empty());
        for _ in 0..500 {
            let (lat, lon) = (
                next(&mut state) % 1_200_000 - 100_000,
                next(&mut state) % 1_200_000 - 100_000,
            );
            let half = next(&mut state) % 20_000;
            let window = [lat - half, lon - half, lat + half, lon + half];
            let mut found = Vec::new();
            index.for_each_within(&window, |e, b| {
                assert_eq!(b, &boxes[e as usize]);
                found.push(e);
            });
            found.sort_unstable();
            let expected: Vec<u32> = boxes
                .iter()
                .enumerate()
                .filter(|(_, b)| {
                    b[0] <= window[2] && b[2] >= window[0] && b[1] <= window[3] && b[3] >= window[1]
                })
                .map(|(e, _)| e as u32)
                .collect();
            assert_eq!(found, expected, "window {window:?}");
        }
    }

    #[test]
    fn an_empty_tile_finds_nothing() {
        let index = EdgeIndex::build(Vec::new());
        let mut any = false;
        index.for_each_within(&[0, 0, 10, 10], |_, _| any = true);
        assert!(!any);
    }
}
