//! `bench <nearby>`: benchmarks, each against its anchors in the same run.

/// Benchmarks.
#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Nearby search: quadtree and geohash paths vs Redis GEOSEARCH, PostGIS and HTTP.
    Nearby(NearbyArgs),
}

#[derive(clap::Args, Debug)]
pub struct NearbyArgs {
    /// Comma-separated dataset sizes.
    #[arg(long, default_value = "1000000", value_delimiter = ',')]
    pub sizes: Vec<usize>,
}

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Nearby(args) => anyhow::bail!("bench nearby {args:?}: being written"),
    }
}
