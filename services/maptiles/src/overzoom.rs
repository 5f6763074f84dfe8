//! Tiles past the deepest built zoom, cut from their ancestor at serving time: each part is
//! scaled up, clipped to the child (with the same buffer as built tiles) and re-encoded.
//! Clients overzoom on their own too; this serves clients that ask for deeper tiles (the
//! design's tile URL service at zoom 15 and up).

use prost::Message;

use crate::geometry::{Pt, Rect, clip_line, clip_ring, dedup, quantise};
use crate::mercator::TileId;
use crate::mvt::{self, EXTENT, GeomType, GeometryEncoder, Tile, decode, decode_geometry};

/// Deepest zoom served by cutting from built tiles.
pub const MAX_OVERZOOM: u8 = 20;

/// The built tile at `max_zoom` that holds `tile`, when `tile` is deeper.
pub fn ancestor(tile: TileId, max_zoom: u8) -> Option<TileId> {
    let dz = tile.z.checked_sub(max_zoom).filter(|d| *d > 0)?;
    Some(TileId {
        z: max_zoom,
        x: tile.x >> dz,
        y: tile.y >> dz,
    })
}

/// Cuts `tile` out of its ancestor's (uncompressed) bytes; errors if the bytes are not a
/// valid tile.
pub fn cut(
    ancestor_bytes: &[u8],
    ancestor: TileId,
    tile: TileId,
) -> Result<Vec<u8>, mvt::DecodeError> {
    let parent = decode(ancestor_bytes)?;
    let dz = tile.z - ancestor.z;
    let scale = f64::from(1u32 << dz);
    let extent = f64::from(EXTENT);
    let (ox, oy) = (
        f64::from(tile.x - (ancestor.x << dz)) * extent,
        f64::from(tile.y - (ancestor.y << dz)) * extent,
    );
    let buffer = 80.0;
    let rect = Rect {
        min: (-buffer, -buffer),
        max: (extent + buffer, extent + buffer),
    };
    let mut out = Tile { layers: Vec::new() };
    for layer in parent.layers {
        mvt::check_layer(&layer)?;
        let layer_extent = f64::from(layer.extent.unwrap_or(EXTENT).max(1));
        let to_child = |p: (i32, i32)| -> Pt {
            (
                f64::from(p.0) * extent / layer_extent * scale - ox,
                f64::from(p.1) * extent / layer_extent * scale - oy,
            )
        };
        let mut features = Vec::new();
        for feature in &layer.features {
            let parts = decode_geometry(&feature.geometry).expect("checked above");
            let mut encoder = GeometryEncoder::default();
            match feature.r#type.and_then(|t| GeomType::try_from(t).ok()) {
                Some(GeomType::Point) => {
                    let inside: Vec<(i32, i32)> = parts
                        .iter()
                        .flatten()
                        .map(|p| to_child(*p))
                        .filter(|q| {
                            q.0 >= rect.min.0
                                && q.0 <= rect.max.0
                                && q.1 >= rect.min.1
                                && q.1 <= rect.max.1
                        })
                        .map(quantise)
                        .collect();
                    encoder.points(&inside);
                }
                Some(GeomType::Linestring) => {
                    for part in &parts {
                        let points: Vec<Pt> = part.iter().map(|p| to_child(*p)).collect();
                        for clipped in clip_line(&points, rect) {
                            encoder.line(&dedup(clipped.into_iter().map(quantise)));
                        }
                    }
                }
                Some(GeomType::Polygon) => {
                    for part in &parts {
                        let points: Vec<Pt> = part.iter().map(|p| to_child(*p)).collect();
                        let mut ring = dedup(clip_ring(&points, rect).into_iter().map(quantise));
                        if ring.len() > 1 && ring.first() == ring.last() {
                            ring.pop();
                        }
                        // Clipping keeps orientation, so exterior rings stay exterior.
                        if mvt::ring_area2(&ring) != 0 {
                            encoder.ring(&ring);
                        }
                    }
                }
                _ => continue,
            }
            let geometry = encoder.finish();
            if !geometry.is_empty() {
                features.push(mvt::Feature {
                    geometry,
                    ..feature.clone()
                });
            }
        }
        if !features.is_empty() {
            out.layers.push(mvt::Layer {
                features,
                extent: Some(EXTENT),
                ..layer
            });
        }
    }
    Ok(out.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mvt::{LayerBuilder, PropValue};

    #[test]
    fn a_child_tile_holds_its_quarter_of_the_parent_scaled_up() {
        let mut roads = LayerBuilder::new("roads");
        let mut e = GeometryEncoder::default();
        // A diagonal across the whole parent.
        e.line(&[(0, 0), (4096, 4096)]);
        roads.push(
            Some(3),
            GeomType::Linestring,
            e.finish(),
            &[("class", PropValue::Text("primary".into()))],
        );
        let parent = Tile {
            layers: vec![roads.finish()],
        }
        .encode_to_vec();
        let at = TileId {
            z: 14,
            x: 100,
            y: 200,
        };
        // The child in the parent's south-east quarter.
        let child = TileId {
            z: 15,
            x: 201,
            y: 401,
        };
        assert_eq!(ancestor(child, 14), Some(at));
        let bytes = cut(&parent, at, child).unwrap();
        let tile = decode(&bytes).unwrap();
        let parts = decode_geometry(&tile.layers[0].features[0].geometry).unwrap();
        // From the buffer before the child's corner to the parent's corner, which is the child's too.
        assert_eq!(parts, vec![vec![(-80, -80), (4096, 4096)]]);
        assert_eq!(tile.layers[0].features[0].id, Some(3));
        // The grandchild in the north-east corner sees none of the diagonal.
        let empty = decode(
            &cut(
                &parent,
                at,
                TileId {
                    z: 16,
                    x: 403,
                    y: 800,
                },
            )
            .unwrap(),
        )
        .unwrap();
        assert!(empty.layers.is_empty());
        assert!(cut(b"\xff\xff", at, child).is_err());
    }
}
