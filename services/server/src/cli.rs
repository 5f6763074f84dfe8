//! The operator CLI: `serve` (default), `import businesses|roads`, `tiles`, `token`, `bench`.
//!
//! Every setting is a flag and an environment variable (see `--help` of each command).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use kit::config::CommonConfig;

use crate::app::{App, ServerConfig, Service};

/// Geospatial backend: proximity search (and, as they land, nearby friends and navigation).
#[derive(Parser, Debug)]
#[command(
    name = "geostack",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings for `serve`, which runs when no command is given.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// The settings of `serve`: which services to mount, and the server's configuration.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Services to mount, comma-separated: `proximity`, `friends`, `navigation`. Unset or
    /// empty: every service of this binary (`geostack` has all three; the `proximity`,
    /// `friends` and `navigation` binaries one each, and refuse the others). A service left
    /// out builds no state, loads no sample data and answers none of its routes, so one
    /// binary can run any one tier of a split deployment.
    #[arg(long, env = "SERVICES", value_parser = parse_services)]
    pub services: Option<ServiceList>,
    #[command(flatten)]
    pub config: ServerConfig,
}

/// The parsed value of `SERVICES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceList(pub Vec<Service>);

fn parse_services(text: &str) -> Result<ServiceList, String> {
    use clap::ValueEnum;
    text.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            Service::from_str(name, true).map_err(|_| {
                format!("unknown service `{name}`: expected proximity, friends or navigation")
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(ServiceList)
}

fn service_name(service: Service) -> &'static str {
    match service {
        Service::Proximity => "proximity",
        Service::Friends => "friends",
        Service::Navigation => "navigation",
    }
}

impl ServeArgs {
    /// The services to mount: `SERVICES` within `available` (in `available`'s order), or
    /// all of `available` when `SERVICES` is unset. Naming a service this binary does not
    /// have is an error, not a silent no-op.
    pub fn select(&self, available: &[Service]) -> anyhow::Result<Vec<Service>> {
        let wanted = match &self.services {
            Some(list) if !list.0.is_empty() => &list.0,
            _ => return Ok(available.to_vec()),
        };
        for &service in wanted {
            anyhow::ensure!(
                available.contains(&service),
                "SERVICES names {}, which this binary does not serve (it serves: {})",
                service_name(service),
                available
                    .iter()
                    .map(|&s| service_name(s))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Ok(available
            .iter()
            .copied()
            .filter(|s| wanted.contains(s))
            .collect())
    }
}

// `Serve` carries every server setting; the value is parsed once at start-up.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Load data into the configured stores.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Print a bearer token (HS256 JWT) signed with this installation's secret.
    Token(TokenArgs),
    /// The server plus a few simulated friends walking around the sample city, and a token
    /// to sign in with in the web client: live friends at once.
    Demo(crate::demo::DemoArgs),
    /// Routing-tile versions: list, remove, prune.
    #[command(subcommand)]
    Tiles(crate::roads::TilesCommand),
    /// Benchmarks: runs the separate `geostack-bench` binary installed next to this one with
    /// the arguments given (`cargo run --release -p geostack-bench -- --help` builds and lists
    /// them).
    Bench(BenchArgs),
}

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// Businesses from an OSM file (.osm.pbf, .osm or .osm.gz): named amenity, shop, tourism,
    /// leisure and office features. Re-importing updates rows by OSM id.
    Businesses(ImportBusinessesArgs),
    /// Roads from an OSM file into a new, published version of routing tiles (and, unless
    /// `--no-map`, of the vector map tiles).
    Roads(crate::roads::ImportRoadsArgs),
    /// Vector map tiles (zoom 0-14) alone from an OSM file, as a new published version.
    Map(crate::map::ImportMapArgs),
}

#[derive(clap::Args, Debug)]
pub struct ImportBusinessesArgs {
    /// The OSM file.
    pub file: PathBuf,
    /// Store only; leave publication to the daily schedule or the admin trigger.
    #[arg(long)]
    pub no_publish: bool,
    #[command(flatten)]
    pub common: CommonConfig,
}

#[derive(clap::Args, Debug)]
pub struct TokenArgs {
    /// User id (the token's `sub`).
    #[arg(long)]
    pub sub: i64,
    /// Add `"role": "admin"`.
    #[arg(long)]
    pub admin: bool,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 86_400)]
    pub ttl: u64,
    /// Directory holding the generated secret when `JWT_SECRET` is unset.
    #[arg(long, env = "DATA_DIR", default_value = "./var")]
    pub data_dir: PathBuf,
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
}

/// Runs the parsed command; `services` are what `serve` mounts.
pub async fn run(cli: Cli, services: &[Service]) -> anyhow::Result<()> {
    match cli.command {
        None => serve(cli.serve, services).await,
        Some(Command::Serve(args)) => serve(args, services).await,
        Some(Command::Import(ImportCommand::Businesses(args))) => import_businesses(args).await,
        Some(Command::Import(ImportCommand::Roads(args))) => crate::roads::import_roads(args).await,
        Some(Command::Import(ImportCommand::Map(args))) => crate::map::import_map(args).await,
        Some(Command::Demo(args)) => crate::demo::run(args, services).await,
        Some(Command::Tiles(command)) => crate::roads::tiles(command).await,
        Some(Command::Token(args)) => {
            let auth = kit::auth::Auth::load(args.jwt_secret.as_deref(), &args.data_dir)?;
            println!("{}", auth.mint(args.sub, args.admin, args.ttl)?);
            Ok(())
        }
        Some(Command::Bench(args)) => run_bench(args),
    }
}

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The benchmark and its options, passed on unchanged (`route --pairs 100`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<std::ffi::OsString>,
}

/// The benchmarks and their load generators are not part of the product build: they live in
/// the `geostack-bench` binary, which `bench` hands over to when it sits next to this one
/// (`cargo build --release -p geostack-bench` puts it there).
fn run_bench(args: BenchArgs) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().context("locating this executable")?;
    let bench = exe.with_file_name("geostack-bench");
    if !bench.is_file() {
        anyhow::bail!(
            "the benchmarks are a separate binary, and {} does not exist; build and run them \
             with `cargo run --release -p geostack-bench -- <nearby|import|route|friends> \
             [options]`, or build it with `cargo build --release -p geostack-bench` and run \
             `bench` again",
            bench.display()
        );
    }
    let error = std::process::Command::new(&bench).args(&args.args).exec();
    Err(anyhow::Error::new(error).context(format!("running {}", bench.display())))
}

async fn serve(args: ServeArgs, available: &[Service]) -> anyhow::Result<()> {
    kit::telemetry::init_tracing(args.config.common.log_format);
    let services = args.select(available)?;
    let app = App::build(args.config, &services).await?;
    app.run_until_stopped().await
}

async fn import_businesses(args: ImportBusinessesArgs) -> anyhow::Result<()> {
    kit::telemetry::init_tracing(args.common.log_format);
    anyhow::ensure!(args.file.exists(), "{} does not exist", args.file.display());
    let started = Instant::now();
    let backends = kit::Backends::connect(args.common.clone()).await?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} reading {msg} [{bar:40}] {bytes}/{total_bytes} ({eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(args.file.display().to_string());
    let progress_bar = bar.clone();
    let report = proximity::import::import_file(&backends.db, &args.file, move |done, total| {
        progress_bar.set_length(total);
        progress_bar.set_position(done);
    })
    .await
    .with_context(|| format!("importing {}", args.file.display()))?;
    bar.finish_and_clear();
    println!(
        "read {} nodes and {} ways; found {} businesses ({} nodes, {} ways; {} ways without nodes skipped); {} rows inserted or changed",
        report.nodes_read,
        report.ways_read,
        report.businesses_found,
        report.from_nodes,
        report.from_ways,
        report.ways_without_nodes,
        report.rows_written
    );
    if args.no_publish {
        println!("not published: search sees the changes after the next publication");
    } else {
        let published = proximity::store::publish(&backends.db).await?;
        proximity::service::invalidate_published(
            &backends.cache,
            &published,
            proximity::service::SecondPass::Wait,
        )
        .await;
        println!(
            "published index version {} ({} businesses, {} changed, {} removed); running services pick it up within INDEX_POLL_INTERVAL_S",
            published.version, published.businesses, published.changed, published.removed
        );
    }
    println!("done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_args(argv: &[&str]) -> ServeArgs {
        match Cli::try_parse_from(argv).expect("parses").command {
            Some(Command::Serve(args)) => args,
            other => panic!("expected serve, got {other:?}"),
        }
    }

    #[test]
    fn services_select_within_the_binary() {
        let all = crate::app::ALL_SERVICES;
        let args = serve_args(&["geostack", "serve"]);
        assert_eq!(args.select(all).unwrap(), all.to_vec());
        let args = serve_args(&["geostack", "serve", "--services", "navigation,friends"]);
        // The binary's order, not the list's.
        assert_eq!(
            args.select(all).unwrap(),
            vec![Service::Friends, Service::Navigation]
        );
        let err = args.select(&[Service::Friends]).unwrap_err().to_string();
        assert!(err.contains("names navigation"), "{err}");
        assert!(Cli::try_parse_from(["geostack", "serve", "--services", "maps"]).is_err());
        // Empty (as `SERVICES=` gives) means unset; spaces are allowed.
        let args = serve_args(&["geostack", "serve", "--services", ""]);
        assert_eq!(args.select(all).unwrap(), all.to_vec());
        let args = serve_args(&["geostack", "serve", "--services", " friends , "]);
        assert_eq!(args.select(all).unwrap(), vec![Service::Friends]);
    }
}
