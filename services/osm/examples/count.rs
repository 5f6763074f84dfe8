//! Counts the elements of OSM files and times the read:
//! `cargo run --release -p osm --example count -- FILE...`

use std::time::Instant;

fn main() -> Result<(), osm::Error> {
    for path in std::env::args().skip(1) {
        let start = Instant::now();
        let mut tags = 0usize;
        let stats = osm::read(&path, |e| tags += e.tags().len())?;
        println!(
            "{path}: {} in {:.1} ms: {} nodes, {} ways, {} relations, {tags} tags, {} bytes",
            stats.format,
            start.elapsed().as_secs_f64() * 1e3,
            stats.nodes,
            stats.ways,
            stats.relations,
            stats.bytes,
        );
    }
    Ok(())
}
