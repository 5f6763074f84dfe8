//! Tiles drawn at request time from lines that change by the second (live traffic): the
//! same projection, clipping buffer and simplification as the built tiles, one layer.

use prost::Message;

use crate::build::BUFFER;
use crate::geometry::{Pt, Rect, clip_line, dedup, quantise, simplify};
use crate::mercator::{TileId, project, unwrap_longitudes};
use crate::mvt::{self, EXTENT, GeomType, GeometryEncoder, LayerBuilder, PropValue};

/// A line to draw: `(lat, lon)` points and its properties.
pub struct LiveLine<'a> {
    pub points: &'a [(f64, f64)],
    pub props: Vec<(&'a str, PropValue)>,
}

/// The encoded tile (uncompressed) holding `lines` as layer `layer`; lines outside the tile
/// and its buffer are left out, so the tile may have no feature at all.
pub fn line_tile<'a>(
    tile: TileId,
    layer: &str,
    lines: impl Iterator<Item = LiveLine<'a>>,
) -> Vec<u8> {
    let n = f64::from(tile.side());
    let extent = f64::from(EXTENT);
    let rect = Rect {
        min: (-BUFFER, -BUFFER),
        max: (extent + BUFFER, extent + BUFFER),
    };
    // Half a pixel of a 256-pixel tile: below what a screen shows.
    let tolerance = extent / 512.0;
    let mut builder = LayerBuilder::new(layer);
    for line in lines {
        let mut world: Vec<_> = line
            .points
            .iter()
            .map(|&(lat, lon)| project(lat, lon))
            .collect();
        unwrap_longitudes(&mut world);
        let local: Vec<Pt> = world
            .iter()
            .map(|w| {
                (
                    (w.x * n - f64::from(tile.x)) * extent,
                    (w.y * n - f64::from(tile.y)) * extent,
                )
            })
            .collect();
        let mut encoder = GeometryEncoder::default();
        for part in clip_line(&local, rect) {
            let part = dedup(simplify(&part, tolerance).into_iter().map(quantise));
            if part.len() >= 2 {
                encoder.line(&part);
            }
        }
        builder.push(None, GeomType::Linestring, encoder.finish(), &line.props);
    }
    let mut out = mvt::Tile::default();
    if !builder.is_empty() {
        out.layers.push(builder.finish());
    }
    out.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_clipped_to_their_tile() {
        let inside = [(60.17, 24.94), (60.18, 24.95)];
        let tile = TileId::containing(60.175, 24.945, 14);
        let lines = || {
            [LiveLine {
                points: &inside,
                props: vec![("congestion", PropValue::Int(40))],
            }]
            .into_iter()
        };
        let bytes = line_tile(tile, "traffic", lines());
        let decoded = mvt::decode(&bytes).unwrap();
        assert_eq!(decoded.layers.len(), 1);
        assert_eq!(decoded.layers[0].name, "traffic");
        mvt::check_layer(&decoded.layers[0]).unwrap();
        let far = TileId::containing(0.0, 0.0, 14);
        assert!(
            mvt::decode(&line_tile(far, "traffic", lines()))
                .unwrap()
                .layers
                .is_empty()
        );
    }
}
