//! `geostack`: the all-in-one server (default) and the operator CLI.
//!
//! Run with `cargo run --release` (serves every service on `LISTEN_ADDR`, default
//! 127.0.0.1:8080) or `cargo run --release -- --help`.

use clap::Parser;

geostack::use_mimalloc!();

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = geostack::cli::Cli::parse();
    geostack::cli::run(cli, geostack::app::ALL_SERVICES).await
}
