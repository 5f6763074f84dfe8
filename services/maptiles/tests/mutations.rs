//! Stored tiles are read back (for clients that do not take gzip, and to cut deeper zooms),
//! so the decoder must survive any bytes: real tiles of the sample city, mutated 20,000 times
//! with a fixed seed, go through `mvt::decode`, `check_layer` and `overzoom::cut`, which
//! must answer or refuse, never panic. (`fuzz/fuzz_targets/mvt.rs` is the open-ended run.)

use std::io::Read;
use std::path::Path;

use maptiles::{BuildOptions, TileId, build, mvt, overzoom, source};

/// xorshift64*: a fixed sequence, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn sample_tiles() -> Vec<(TileId, Vec<u8>)> {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/helsinki.osm.pbf");
    let extract = source::read_extract(&sample, &[], |_, _, _| {}).unwrap();
    let mut tiles = Vec::new();
    let options = BuildOptions {
        min_zoom: 13,
        max_zoom: 14,
        ..BuildOptions::default()
    };
    build::build_tiles(&extract.features, &options, |tile, gzip| {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(gzip)
            .read_to_end(&mut raw)
            .unwrap();
        tiles.push((tile, raw));
        Ok::<(), ()>(())
    })
    .unwrap();
    assert!(tiles.len() >= 2);
    tiles
}

#[test]
fn mutated_tiles_are_refused_or_read_never_a_panic() {
    let tiles = sample_tiles();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut decoded, mut refused) = (0, 0);
    for _ in 0..20_000 {
        let (tile, original) = &tiles[rng.below(tiles.len())];
        let mut bytes = original.clone();
        for _ in 0..1 + rng.below(4) {
            match rng.below(4) {
                0 if !bytes.is_empty() => {
                    let at = rng.below(bytes.len());
                    bytes[at] ^= 1 << rng.below(8);
                }
                1 if !bytes.is_empty() => {
                    let at = rng.below(bytes.len());
                    bytes[at] = rng.next() as u8;
                }
                2 => bytes.truncate(rng.below(bytes.len() + 1)),
                _ => {
                    let at = rng.below(bytes.len() + 1);
                    bytes.insert(at, rng.next() as u8);
                }
            }
        }
        match mvt::decode(&bytes) {
            Ok(t) => {
                decoded += 1;
                for layer in &t.layers {
                    let _ = mvt::check_layer(layer);
                }
            }
            Err(_) => refused += 1,
        }
        let child = TileId {
            z: tile.z + 2,
            x: tile.x * 4 + rng.below(4) as u32,
            y: tile.y * 4 + rng.below(4) as u32,
        };
        let _ = overzoom::cut(&bytes, *tile, child);
    }
    // Both paths were exercised.
    assert!(
        decoded > 100 && refused > 100,
        "{decoded} decoded, {refused} refused"
    );
}
