//! The fuzz corpora (`fuzz/corpus/tile`, `fuzz/corpus/hierarchy`) replayed, then mutated with
//! a fixed seed, on every test run: a smoke run of what `scripts/fuzz.sh` does for minutes
//! under libFuzzer, cheap enough for CI. A decoder may refuse any input; it must never panic
//! or abort (an allocation sized from a crafted count aborts the process), and what it
//! accepts must be safe to walk and search.

use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use routing::ch::Contracted;
use routing::tile::{HEADER_LEN, Tile, reseal, wrap_archive};

/// Mutations per target, spread over its corpus (which the fuzzer grows).
const MUTATIONS: usize = 20_000;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect()
}

/// The seeds made by `fuzz/seeds/tile_seeds.py`, as opposed to what the fuzzer added.
fn is_seed(path: &Path) -> bool {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    name.starts_with("file-") || name.starts_with("archive-")
}

/// One random edit: flipped bits, a byte set to an extreme, a run of bytes overwritten
/// (counts and lengths are little-endian words), or a cut.
fn mutate(rng: &mut StdRng, input: &[u8], keep: usize) -> Vec<u8> {
    let mut out = input.to_vec();
    if out.len() <= keep {
        return out;
    }
    for _ in 0..rng.random_range(1..=4) {
        let at = rng.random_range(keep..out.len());
        match rng.random_range(0..4) {
            0 => out[at] ^= 1 << rng.random_range(0..8),
            1 => out[at] = if rng.random() { 0xff } else { 0 },
            2 => {
                let word = [0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0];
                let end = (at + 4).min(out.len());
                out[at..end].copy_from_slice(&word[..end - at]);
            }
            _ => out.truncate(at.max(keep)),
        }
        if out.len() <= keep {
            break;
        }
    }
    out
}

/// What a router reads from a tile, bounded.
fn walk_tile(tile: &Tile) {
    for node in 0..tile.node_count().min(200) {
        let _ = (tile.node_e7(node), tile.transitions(node).count());
        for edge in tile.out_edges(node) {
            assert_eq!(tile.edge_source(edge), node);
        }
    }
    for index in 0..tile.edge_count().min(200) {
        let edge = tile.edge(index);
        assert!(edge.shape().len() >= 2, "a shape has both ends");
        let _ = (
            edge.target(),
            edge.name(),
            edge.reference(),
            edge.length_m(),
        );
        let _ = tile.forbidden(index).len();
    }
    assert_eq!(tile.edge_boxes().len(), tile.edge_count() as usize);
}

#[test]
fn mutated_tiles_are_refused_or_safe() {
    let mut rng = StdRng::seed_from_u64(17);
    let (mut accepted, mut refused) = (0, 0);
    // As the `tile` target reads its input: after an even first byte, a whole tile file;
    // after an odd one, an rkyv archive to wrap in a valid header. Inputs the fuzzer added
    // may be refused; the seeds (`file-*`, `archive-*`) decode.
    let files: Vec<_> = corpus("tile")
        .into_iter()
        .filter_map(|(path, input)| {
            let (&mode, rest) = input.split_first()?;
            let file = if mode % 2 == 0 {
                rest.to_vec()
            } else {
                match wrap_archive(rest) {
                    Some(file) => file,
                    None => {
                        assert!(!is_seed(&path), "{}: a seed must decode", path.display());
                        return None;
                    }
                }
            };
            Some((path, file))
        })
        .collect();
    let rounds = MUTATIONS / files.len().max(1) + 1;
    let mut seeds = 0;
    for (path, file) in &files {
        if let Ok(tile) = Tile::decode(file) {
            walk_tile(&tile);
            seeds += 1;
        } else {
            assert!(!is_seed(path), "{}: a seed must decode", path.display());
        }
        for _ in 0..rounds {
            // Past the header, with the CRC made to match, so that the content checks run;
            // one in four keeps a header mutation and the old CRC.
            let header_too = rng.random_range(0..4) == 0;
            let mut bytes = mutate(&mut rng, file, if header_too { 4 } else { HEADER_LEN });
            if !header_too {
                reseal(&mut bytes);
            }
            match Tile::decode(&bytes) {
                Ok(tile) => {
                    walk_tile(&tile);
                    accepted += 1;
                }
                Err(_) => refused += 1,
            }
        }
    }
    assert!(seeds > 0, "no tile in the corpus decodes");
    assert!(refused > 0, "mutations must be caught");
    println!("tiles: {accepted} mutated inputs accepted and walked, {refused} refused");
}

#[test]
fn mutated_hierarchies_are_refused_or_safe() {
    let mut rng = StdRng::seed_from_u64(17);
    let (mut accepted, mut refused) = (0, 0);
    let inputs = corpus("hierarchy");
    let rounds = MUTATIONS / inputs.len() + 1;
    let mut seeds = 0;
    for (_, input) in &inputs {
        // What the fuzzer added may be refused; the seeds decode.
        seeds += usize::from(Contracted::decode(input).is_ok());
        for _ in 0..rounds {
            let bytes = mutate(&mut rng, input, 0);
            let Ok(contracted) = Contracted::decode(&bytes) else {
                refused += 1;
                continue;
            };
            accepted += 1;
            let edges: Vec<_> = contracted.edges().take(4).collect();
            for &from in &edges {
                for &to in &edges {
                    if let Some(path) = contracted.search(&[(from, 0)], &[(to, 7)]) {
                        assert!(!path.is_empty());
                    }
                }
            }
        }
    }
    assert!(seeds > 0, "no hierarchy in the corpus decodes");
    assert!(refused > 0, "mutations must be caught");
    println!("hierarchies: {accepted} mutated inputs accepted and searched, {refused} refused");
}
