//! `demo`: the all-in-one server plus a few simulated friends walking circles around the
//! sample city, so that a newcomer opening the web client sees live friends at once.
//!
//! The friends move through in-process connections ([`friends::ws::local::LocalClient`]):
//! the same protocol code a WebSocket runs, so what the browser sees is what a real friend's
//! phone would cause (rate limits, radius, privacy rules included).

use std::time::Duration;

use anyhow::Context;
use friends::ws::local::LocalClient;
use geo_core::{LatLon, offset_m};

use crate::app::{App, Service};
use crate::cli::ServeArgs;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// How many simulated friends walk around.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=50))]
    pub friends: u16,
    /// Seconds between two moves of a friend (at least the location rate limit).
    #[arg(long, default_value_t = 2.0)]
    pub step_s: f64,
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Where the friends walk: the published map's centre, else the sample city's.
fn centre(app: &App) -> LatLon {
    app.navigation()
        .and_then(|n| n.map().current())
        .and_then(|archive| {
            let (w, s, e, n) = archive.extent().bounds;
            LatLon::new((s + n) / 2.0, (w + e) / 2.0).ok()
        })
        .unwrap_or(LatLon::clamped(60.1699, 24.9384))
}

pub async fn run(args: DemoArgs, available: &[Service]) -> anyhow::Result<()> {
    kit::telemetry::init_tracing(args.serve.config.common.log_format);
    anyhow::ensure!(
        args.step_s.is_finite() && args.step_s > 0.0,
        "--step-s must be a positive number of seconds"
    );
    let services = args.serve.select(available)?;
    let min_step_s = args.serve.config.friends.location_min_interval_ms as f64 / 1000.0 + 0.05;
    let step = Duration::from_secs_f64(args.step_s.max(min_step_s));
    let app = App::build(args.serve.config, &services).await?;
    let state = app
        .friends()
        .context("the demo needs the friends service (SERVICES must include friends)")?
        .clone();
    let db = &app.backends().db;
    let you = friends::store::create_user(db, "you").await?;
    let mut walkers = Vec::new();
    for i in 0..args.friends {
        let friend = friends::store::create_user(db, &format!("demo friend {}", i + 1)).await?;
        friends::store::add_friendship(db, you.id, friend.id).await?;
        walkers.push(friend.id);
    }
    let token = app.backends().auth.mint(you.id, false, 7 * 86_400)?;
    let centre = centre(&app);
    println!(
        "demo: {} friends walking around {:.5},{:.5}; open http://{}/ and sign in as user {} \
         with this token:\n{token}",
        walkers.len(),
        centre.lat,
        centre.lon,
        app.local_addr(),
        you.id
    );
    for (i, id) in walkers.into_iter().enumerate() {
        let state = state.clone();
        tokio::spawn(async move { walk(&state, id, i, centre, step).await });
    }
    app.run_until_stopped().await
}

/// One friend: a circle of 150-600 m around the centre, a few degrees per step.
async fn walk(
    state: &friends::FriendsState,
    user_id: i64,
    index: usize,
    centre: LatLon,
    step: Duration,
) {
    let Some(mut client) = LocalClient::connect(state, user_id, 256) else {
        tracing::warn!(user_id, "demo friend could not connect");
        return;
    };
    let radius_m = 150.0 + 150.0 * (index % 4) as f64;
    let mut angle = index as f64 * 2.1;
    let mut kind = "init";
    loop {
        let at = offset_m(centre, radius_m * angle.cos(), radius_m * angle.sin());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let frame = serde_json::json!({
            "type": kind, "latitude": at.lat, "longitude": at.lon, "timestamp": now
        });
        if !client.say(&frame) {
            return;
        }
        kind = "location";
        // What the server says to a simulated friend is not needed: read it so it never
        // backs up.
        while client.try_recv().is_some() {}
        angle += 0.12 + 0.03 * (index % 3) as f64;
        tokio::time::sleep(step).await;
    }
}
