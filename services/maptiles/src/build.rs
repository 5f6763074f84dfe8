//! Cuts features into tiles, zoom by zoom: per zoom, simplify to the zoom's resolution and
//! drop what is not legible yet; then per tile, clip with a buffer (so lines join across
//! tile edges), quantise to the tile grid, and encode. A tile over the size limit sheds
//! detail, then whole layers (least important first), until it fits.
//!
//! Tiles come out zoom by zoom in PMTiles (Hilbert) order, a few hundred at a time from the
//! worker threads, so memory holds one zoom's tile assignment, not the tiles.

use std::io::Write;

use prost::Message;
use rayon::prelude::*;

use crate::features::{Layer, MapFeature, Shape};
use crate::geometry::{Pt, Rect, area2, clip_line, clip_ring, dedup, quantise, simplify};
use crate::mercator::{MAX_ZOOM, TileId, World};
use crate::mvt::{self, EXTENT, GeomType, GeometryEncoder, LayerBuilder};

/// Largest tile MapLibre and the issue accept: 500 KiB, uncompressed.
pub const MAX_TILE_BYTES: usize = 500 * 1024;

/// Tile units of buffer around each tile (of 4096): 5 pixels of a 256-pixel tile.
pub(crate) const BUFFER: f64 = 80.0;

/// Smallest polygon drawn below the deepest zoom, in square pixels of a 256-pixel tile.
const MIN_AREA_PX2: f64 = 1.0;

/// Tiles encoded per parallel batch.
const BATCH: usize = 256;

#[derive(Debug, Clone, Copy)]
pub struct BuildOptions {
    pub min_zoom: u8,
    pub max_zoom: u8,
    pub max_tile_bytes: usize,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            min_zoom: 0,
            max_zoom: MAX_ZOOM,
            max_tile_bytes: MAX_TILE_BYTES,
        }
    }
}

/// What a build produced.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TileStats {
    pub tiles: u64,
    /// Stored (gzip) bytes of all tiles.
    pub bytes: u64,
    /// Uncompressed bytes of all tiles.
    pub raw_bytes: u64,
    /// The largest tile, uncompressed bytes.
    pub largest_bytes: u64,
    pub largest_tile: Option<String>,
    /// Tiles that had to shed detail or layers to fit the limit.
    pub reduced: u64,
}

/// A feature prepared for one zoom: simplified, with its bounding box in world units.
struct Prepared {
    shape: Shape,
    min: World,
    max: World,
}

/// Builds every tile of `features` over the options' zoom range, handing each tile's gzip
/// bytes to `sink` in PMTiles tile-id order.
pub fn build_tiles<E>(
    features: &[MapFeature],
    options: &BuildOptions,
    mut sink: impl FnMut(TileId, &[u8]) -> Result<(), E>,
) -> Result<TileStats, E> {
    let mut stats = TileStats::default();
    for z in options.min_zoom..=options.max_zoom.min(MAX_ZOOM) {
        let deepest = z == options.max_zoom;
        let prepared: Vec<Option<Prepared>> = features
            .par_iter()
            .map(|f| prepare(f, z, deepest))
            .collect();
        let jobs = assign(&prepared, z);
        for batch in jobs.chunks(BATCH) {
            let encoded: Vec<Option<Encoded>> = batch
                .par_iter()
                .map(|job| encode_tile(job, z, features, &prepared, options.max_tile_bytes))
                .collect();
            for tile in encoded.into_iter().flatten() {
                stats.tiles += 1;
                stats.bytes += tile.gzip.len() as u64;
                stats.raw_bytes += tile.raw_len as u64;
                stats.reduced += u64::from(tile.reduced);
                if tile.raw_len as u64 > stats.largest_bytes || stats.largest_tile.is_none() {
                    stats.largest_bytes = tile.raw_len as u64;
                    stats.largest_tile = Some(tile.id.to_string());
                }
                sink(tile.id, &tile.gzip)?;
            }
        }
    }
    Ok(stats)
}

fn prepare(feature: &MapFeature, z: u8, deepest: bool) -> Option<Prepared> {
    if feature.min_zoom > z {
        return None;
    }
    let n = f64::from(1u32 << z);
    // One tile unit at this zoom; at the deepest zoom only quantisation simplifies, since
    // clients overzoom from it.
    let tolerance = if deepest {
        0.0
    } else {
        1.0 / (f64::from(EXTENT) * n)
    };
    let pts = |points: &[World]| -> Vec<Pt> { points.iter().map(|p| (p.x, p.y)).collect() };
    let back = |points: Vec<Pt>| -> Vec<World> {
        points.into_iter().map(|(x, y)| World { x, y }).collect()
    };
    let shape = match &feature.shape {
        Shape::Point(p) => Shape::Point(*p),
        Shape::Line(line) => {
            let s = simplify(&pts(line), tolerance);
            (s.len() >= 2).then_some(())?;
            Shape::Line(back(s))
        }
        Shape::Polygon(rings) => {
            let outer = rings.first()?;
            let pixels = 256.0 * n;
            let area_px2 = area2(&pts(outer)).abs() / 2.0 * pixels * pixels;
            if !deepest && area_px2 < MIN_AREA_PX2 {
                return None;
            }
            let outer = back(simplify(&pts(outer), tolerance));
            if outer.len() < 4 {
                return None;
            }
            let holes = rings[1..]
                .iter()
                .map(|r| back(simplify(&pts(r), tolerance)))
                .filter(|r| r.len() >= 4);
            let simplified: Vec<Vec<World>> = std::iter::once(outer).chain(holes).collect();
            Shape::Polygon(simplified)
        }
    };
    let (min, max) = bbox(&shape);
    Some(Prepared { shape, min, max })
}

fn bbox(shape: &Shape) -> (World, World) {
    let points: Box<dyn Iterator<Item = &World>> = match shape {
        Shape::Point(p) => Box::new(std::iter::once(p)),
        Shape::Line(l) => Box::new(l.iter()),
        Shape::Polygon(r) => Box::new(r.iter().take(1).flatten()),
    };
    let mut min = World {
        x: f64::INFINITY,
        y: f64::INFINITY,
    };
    let mut max = World {
        x: f64::NEG_INFINITY,
        y: f64::NEG_INFINITY,
    };
    for p in points {
        min = World {
            x: min.x.min(p.x),
            y: min.y.min(p.y),
        };
        max = World {
            x: max.x.max(p.x),
            y: max.y.max(p.y),
        };
    }
    (min, max)
}

/// One tile's work: which features, and for each the unwrapped column it is drawn at
/// (differs from the tile's own column across the antimeridian).
struct Job {
    tile: TileId,
    entries: Vec<(u32, i64)>,
}

/// Which features touch which tile (with the buffer), tiles in PMTiles order.
fn assign(prepared: &[Option<Prepared>], z: u8) -> Vec<Job> {
    let n = 1i64 << z;
    let nf = n as f64;
    let buffer = BUFFER / f64::from(EXTENT);
    let mut pairs: Vec<(u64, u32, i64)> = Vec::new();
    for (i, p) in prepared.iter().enumerate() {
        let Some(p) = p else { continue };
        let x0 = ((p.min.x * nf) - buffer).floor() as i64;
        let x1 = ((p.max.x * nf) + buffer).floor() as i64;
        let y0 = (((p.min.y * nf) - buffer).floor() as i64).max(0);
        let y1 = (((p.max.y * nf) + buffer).floor() as i64).min(n - 1);
        // A feature wider than the world (only unwrapped geometry can be) is drawn once.
        let (x0, x1) = if x1 - x0 >= n { (0, n - 1) } else { (x0, x1) };
        for tx in x0..=x1 {
            for ty in y0..=y1 {
                let tile = TileId {
                    z,
                    x: tx.rem_euclid(n) as u32,
                    y: ty as u32,
                };
                pairs.push((tile_id(tile), i as u32, tx));
            }
        }
    }
    pairs.sort_unstable_by_key(|&(id, f, _)| (id, f));
    let mut jobs: Vec<Job> = Vec::new();
    for (id, f, tx) in pairs {
        match jobs.last_mut() {
            Some(job) if tile_id(job.tile) == id => job.entries.push((f, tx)),
            _ => {
                let coord = pmtiles::TileCoord::from(
                    pmtiles::TileId::new(id).expect("ids come from valid tiles"),
                );
                jobs.push(Job {
                    tile: TileId {
                        z: coord.z(),
                        x: coord.x(),
                        y: coord.y(),
                    },
                    entries: vec![(f, tx)],
                });
            }
        }
    }
    jobs
}

/// The PMTiles tile id (Hilbert order within a zoom, zooms in order).
pub fn tile_id(tile: TileId) -> u64 {
    pmtiles::TileId::from(
        pmtiles::TileCoord::new(tile.z, tile.x, tile.y).expect("a valid tile coordinate"),
    )
    .value()
}

struct Encoded {
    id: TileId,
    gzip: Vec<u8>,
    raw_len: usize,
    reduced: bool,
}

/// How hard a tile sheds weight: extra simplification, and layers left out.
#[derive(Clone, Copy)]
struct Shedding {
    tolerance: f64,
    layers: usize,
    budget: Option<usize>,
}

fn encode_tile(
    job: &Job,
    z: u8,
    features: &[MapFeature],
    prepared: &[Option<Prepared>],
    max_bytes: usize,
) -> Option<Encoded> {
    let n = f64::from(1u32 << z);
    let levels = [
        Shedding {
            tolerance: 0.0,
            layers: Layer::ALL.len(),
            budget: None,
        },
        Shedding {
            tolerance: 4.0,
            layers: Layer::ALL.len(),
            budget: None,
        },
        Shedding {
            tolerance: 16.0,
            layers: Layer::ALL.len() - 1,
            budget: None,
        },
        Shedding {
            tolerance: 16.0,
            layers: Layer::ALL.len() - 2,
            budget: None,
        },
        Shedding {
            tolerance: 16.0,
            layers: 2,
            budget: Some(max_bytes),
        },
    ];
    for (level, shedding) in levels.iter().enumerate() {
        let tile = draw(job, n, features, prepared, *shedding);
        if tile.layers.is_empty() {
            return None;
        }
        let raw = tile.encode_to_vec();
        if raw.len() <= max_bytes || level == levels.len() - 1 {
            let mut gz = flate2::write::GzEncoder::new(
                Vec::with_capacity(raw.len() / 3),
                flate2::Compression::new(6),
            );
            gz.write_all(&raw).expect("writing to memory");
            return Some(Encoded {
                id: job.tile,
                gzip: gz.finish().expect("writing to memory"),
                raw_len: raw.len(),
                reduced: level > 0,
            });
        }
    }
    None
}

fn draw(
    job: &Job,
    n: f64,
    features: &[MapFeature],
    prepared: &[Option<Prepared>],
    shedding: Shedding,
) -> mvt::Tile {
    let extent = f64::from(EXTENT);
    let rect = Rect {
        min: (-BUFFER, -BUFFER),
        max: (extent + BUFFER, extent + BUFFER),
    };
    let mut builders: Vec<LayerBuilder> = Layer::ALL
        .iter()
        .take(shedding.layers)
        .map(|l| LayerBuilder::new(l.name()))
        .collect();
    let mut spent = 0usize;
    for &(f, tx) in &job.entries {
        let feature = &features[f as usize];
        let Some(slot) = Layer::ALL
            .iter()
            .take(shedding.layers)
            .position(|l| *l == feature.layer)
        else {
            continue;
        };
        let Some(p) = &prepared[f as usize] else {
            continue;
        };
        let local = |w: &World| -> Pt {
            (
                (w.x * n - tx as f64) * extent,
                (w.y * n - f64::from(job.tile.y)) * extent,
            )
        };
        let mut encoder = GeometryEncoder::default();
        let kind = match &p.shape {
            Shape::Point(w) => {
                let q = local(w);
                if q.0 < rect.min.0 || q.0 > rect.max.0 || q.1 < rect.min.1 || q.1 > rect.max.1 {
                    continue;
                }
                encoder.points(&[quantise(q)]);
                GeomType::Point
            }
            Shape::Line(line) => {
                let points: Vec<Pt> = line.iter().map(local).collect();
                for part in clip_line(&points, rect) {
                    let part = simplify(&part, shedding.tolerance);
                    encoder.line(&dedup(part.into_iter().map(quantise)));
                }
                GeomType::Linestring
            }
            Shape::Polygon(rings) => {
                let mut drawn = 0;
                for (i, ring) in rings.iter().enumerate() {
                    let points: Vec<Pt> = ring.iter().map(local).collect();
                    let clipped = simplify(&clip_ring(&points, rect), shedding.tolerance);
                    let mut q = dedup(clipped.into_iter().map(quantise));
                    if q.len() > 1 && q.first() == q.last() {
                        q.pop();
                    }
                    let area = mvt::ring_area2(&q);
                    if q.len() < 3 || area == 0 {
                        if i == 0 {
                            break;
                        }
                        continue;
                    }
                    // Exterior rings positive, holes negative (MVT 2.1, 4.3.4.4).
                    if (i == 0) != (area > 0) {
                        q.reverse();
                    }
                    encoder.ring(&q);
                    drawn += 1;
                }
                if drawn == 0 {
                    continue;
                }
                GeomType::Polygon
            }
        };
        let geometry = encoder.finish();
        if let Some(budget) = shedding.budget {
            // Tags and geometry varints are at most 5 bytes each, plus framing.
            let cost = 16
                + 5 * (geometry.len() + feature.props.len() * 2)
                + feature
                    .props
                    .iter()
                    .map(|(k, v)| k.len() + prop_len(v))
                    .sum::<usize>();
            if spent + cost > budget {
                continue;
            }
            spent += cost;
        }
        builders[slot].push(feature.id, kind, geometry, &feature.props);
    }
    mvt::Tile {
        layers: builders
            .into_iter()
            .filter(|b| !b.is_empty())
            .map(LayerBuilder::finish)
            .collect(),
    }
}

fn prop_len(v: &mvt::PropValue) -> usize {
    match v {
        mvt::PropValue::Text(s) => s.len() + 4,
        mvt::PropValue::Int(_) => 12,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Read;

    use super::*;
    use crate::mercator::project;
    use crate::mvt::{PropValue, decode, decode_geometry, ring_area2};

    fn build(features: &[MapFeature], min_zoom: u8, max_zoom: u8) -> BTreeMap<TileId, mvt::Tile> {
        build_with(features, min_zoom, max_zoom, MAX_TILE_BYTES).0
    }

    fn build_with(
        features: &[MapFeature],
        min_zoom: u8,
        max_zoom: u8,
        max_tile_bytes: usize,
    ) -> (BTreeMap<TileId, mvt::Tile>, TileStats) {
        let mut tiles = BTreeMap::new();
        let mut last_id = None;
        let stats = build_tiles(
            features,
            &BuildOptions {
                min_zoom,
                max_zoom,
                max_tile_bytes,
            },
            |tile, gz| {
                let id = tile_id(tile);
                assert!(last_id < Some(id), "tiles come out in tile-id order");
                last_id = Some(id);
                let mut raw = Vec::new();
                flate2::read::GzDecoder::new(gz)
                    .read_to_end(&mut raw)
                    .unwrap();
                let decoded = decode(&raw).unwrap();
                for layer in &decoded.layers {
                    mvt::check_layer(layer).unwrap();
                }
                tiles.insert(tile, decoded);
                Ok::<(), ()>(())
            },
        )
        .unwrap();
        (tiles, stats)
    }

    fn road(points: &[(f64, f64)], class: &str, min_zoom: u8) -> MapFeature {
        let mut line: Vec<World> = points.iter().map(|&(lat, lon)| project(lat, lon)).collect();
        crate::mercator::unwrap_longitudes(&mut line);
        MapFeature {
            layer: Layer::Roads,
            id: Some(1),
            min_zoom,
            props: vec![("class", PropValue::Text(class.into()))],
            shape: Shape::Line(line),
        }
    }

    fn square(lat: f64, lon: f64, side_deg: f64, layer: Layer) -> MapFeature {
        let ring = [(0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0), (0.0, 0.0)]
            .map(|(a, b)| project(lat + a * side_deg, lon + b * side_deg))
            .to_vec();
        MapFeature {
            layer,
            id: None,
            min_zoom: 0,
            props: Vec::new(),
            shape: Shape::Polygon(vec![ring]),
        }
    }

    #[test]
    fn a_road_across_a_tile_edge_is_drawn_in_both_tiles_past_the_edge() {
        // West to east across the edge between two z14 columns in Helsinki.
        let west = TileId::containing(60.17, 24.94, 14);
        let (_, _, edge_lon, _) = west.bounds();
        let tiles = build(
            &[road(
                &[(60.17, edge_lon - 0.002), (60.17, edge_lon + 0.002)],
                "primary",
                7,
            )],
            14,
            14,
        );
        let east = TileId {
            x: west.x + 1,
            ..west
        };
        let reach = |tile: TileId| {
            let layer = &tiles[&tile].layers[0];
            assert_eq!(layer.name, "roads");
            let parts = decode_geometry(&layer.features[0].geometry).unwrap();
            (parts[0][0].0, parts[0].last().unwrap().0)
        };
        let (_, west_end) = reach(west);
        let (east_start, _) = reach(east);
        // Each side runs into the buffer beyond the shared edge.
        assert!(west_end > EXTENT as i32, "{west_end}");
        assert!(east_start < 0, "{east_start}");
        assert_eq!(tiles.len(), 2);
    }

    #[test]
    fn low_zooms_keep_only_what_is_legible() {
        let features = [
            road(&[(60.17, 24.93), (60.18, 24.95)], "motorway", 4),
            road(&[(60.17, 24.94), (60.171, 24.941)], "minor", 12),
        ];
        let tiles = build(&features, 0, 14);
        let count = |z: u8| {
            tiles
                .iter()
                .filter(|(t, _)| t.z == z)
                .map(|(_, tile)| tile.layers.iter().map(|l| l.features.len()).sum::<usize>())
                .max()
                .unwrap_or(0)
        };
        assert_eq!(count(3), 0);
        assert_eq!(count(4), 1);
        assert_eq!(count(11), 1);
        assert_eq!(count(14), 2);
    }

    #[test]
    fn a_road_across_the_antimeridian_is_drawn_on_both_edges_of_the_world() {
        let tiles = build(
            &[road(&[(-17.0, 179.99), (-17.0, -179.99)], "primary", 7)],
            8,
            8,
        );
        let columns: Vec<u32> = tiles.keys().map(|t| t.x).collect();
        assert_eq!(
            columns,
            vec![0, 255],
            "{:?}",
            tiles.keys().collect::<Vec<_>>()
        );
        for tile in tiles.values() {
            let parts = decode_geometry(&tile.layers[0].features[0].geometry).unwrap();
            let dx = (parts[0][1].0 - parts[0][0].0).abs();
            assert!(dx < 100, "the segment stays short: {parts:?}");
        }
    }

    #[test]
    fn places_near_the_pole_land_in_the_top_row() {
        let north = MapFeature {
            layer: Layer::Places,
            id: Some(9),
            min_zoom: 0,
            props: vec![("name", PropValue::Text("Alert".into()))],
            shape: Shape::Point(project(89.5, -62.3)),
        };
        let tiles = build(&[north], 0, 5);
        for (tile, t) in &tiles {
            assert_eq!(tile.y, 0);
            let parts = decode_geometry(&t.layers[0].features[0].geometry).unwrap();
            assert_eq!(
                parts[0][0].1, 0,
                "on the edge of the square at zoom {}",
                tile.z
            );
        }
        assert_eq!(tiles.len(), 6);
    }

    #[test]
    fn polygons_are_oriented_and_tiny_ones_wait_for_their_zoom() {
        let big = square(60.17, 24.94, 0.01, Layer::Water);
        let tiny = square(60.175, 24.945, 0.00002, Layer::Buildings);
        let tiles = build(&[big, tiny], 10, 14);
        for (tile, t) in &tiles {
            for layer in &t.layers {
                for feature in &layer.features {
                    let parts = decode_geometry(&feature.geometry).unwrap();
                    assert!(
                        ring_area2(&parts[0]) > 0,
                        "exterior ring positive in {tile}"
                    );
                }
            }
        }
        assert!(
            tiles
                .iter()
                .any(|(t, tile)| t.z == 14 && tile.layers.iter().any(|l| l.name == "buildings"))
        );
        assert!(
            !tiles
                .iter()
                .any(|(t, tile)| t.z < 14 && tile.layers.iter().any(|l| l.name == "buildings"))
        );
    }

    #[test]
    fn an_overfull_tile_sheds_until_it_fits() {
        // 40,000 buildings in one z14 tile, far past any limit.
        let base = TileId::containing(60.17, 24.94, 14).bounds();
        let mut features = Vec::new();
        for i in 0..200 {
            for j in 0..200 {
                let lat = base.1 + 0.0001 + f64::from(i) * 0.000045;
                let lon = base.0 + 0.0001 + f64::from(j) * 0.00009;
                features.push(square(lat, lon, 0.00002, Layer::Buildings));
            }
        }
        features.push(road(
            &[(base.1 + 0.001, base.0), (base.3 - 0.001, base.2)],
            "primary",
            7,
        ));
        let limit = 64 * 1024;
        let (tiles, stats) = build_with(&features, 14, 14, limit);
        assert!(stats.largest_bytes <= limit as u64, "{stats:?}");
        assert!(stats.reduced >= 1);
        // The road (the more important layer) survived the shedding.
        assert!(
            tiles
                .values()
                .any(|t| t.layers.iter().any(|l| l.name == "roads"))
        );
    }
}
