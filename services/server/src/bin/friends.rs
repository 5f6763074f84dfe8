//! The nearby-friends service alone (users, friendships, live locations over WebSocket),
//! with the same configuration and subcommands as the all-in-one `geostack` binary.

use clap::Parser;

geostack::use_mimalloc!();
use geostack::app::Service;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = geostack::cli::Cli::parse();
    geostack::cli::run(cli, &[Service::Friends]).await
}
