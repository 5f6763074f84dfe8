//! `geostack-bench`: the benchmarks, each against the anchors its issue names, in one run.
//!
//! `cargo run --release -p geostack-bench -- --help` lists them; README.md gives the figures.

use clap::Parser;

geostack::use_mimalloc!();

/// Benchmarks of the geostack services against their anchors (Redis GEOSEARCH, PostGIS,
/// pgRouting, osm2pgrouting) and targets.
#[derive(Parser, Debug)]
#[command(name = "geostack-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: geostack_bench::BenchCommand,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    geostack_bench::run(Cli::parse().command).await
}
