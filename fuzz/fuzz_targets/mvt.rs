//! Map tiles as the server reads them back from storage: protobuf decoding, the layer checks
//! (tag indexes, geometry commands), and cutting a deeper zoom out of the tile.
#![no_main]

use libfuzzer_sys::fuzz_target;
use maptiles::{TileId, mvt, overzoom};

fuzz_target!(|data: &[u8]| {
    if let Ok(tile) = mvt::decode(data) {
        for layer in &tile.layers {
            if mvt::check_layer(layer).is_ok() {
                for feature in &layer.features {
                    let _ = mvt::properties(layer, feature);
                }
            }
        }
    }
    let parent = TileId { z: 14, x: 9327, y: 4742 };
    let _ = overzoom::cut(data, parent, TileId { z: 16, x: 37309, y: 18969 });
});
